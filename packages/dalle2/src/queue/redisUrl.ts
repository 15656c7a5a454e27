// `redis://[user:password@]host:port[/db]` (or rediss:// for TLS) -> connection options for BullMQ,
// and a form safe to print (the password never reaches a log line).
export interface RedisConnection {
  host: string;
  port: number;
  db: number;
  username?: string;
  password?: string;
  tls?: Record<string, never>;
  /** BullMQ workers need blocking commands to wait forever. */
  maxRetriesPerRequest: null;
}

export class RedisUrlError extends Error {
  override name = 'RedisUrlError';
}

/** Parses a Redis URL; errors quote the URL with its password hidden. */
export function parseRedisUrl(text: string): { connection: RedisConnection; display: string } {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new RedisUrlError(`--queue: "${redactRedisUrl(text)}" is not a URL (expected redis://host:port[/db])`);
  }
  const display = redactRedisUrl(text);
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') throw new RedisUrlError(`--queue: ${display}: expected a redis:// or rediss:// URL`);
  if (!url.hostname) throw new RedisUrlError(`--queue: ${display}: no host`);
  const port = url.port === '' ? 6379 : Number(url.port);
  const dbText = url.pathname.replace(/^\//, '');
  const db = dbText === '' ? 0 : Number(dbText);
  if (!Number.isInteger(db) || db < 0 || db > 1_000_000) throw new RedisUrlError(`--queue: ${display}: database "${dbText}" is not a number`);
  const connection: RedisConnection = { host: url.hostname.replace(/^\[|\]$/g, ''), port, db, maxRetriesPerRequest: null };
  if (url.username) connection.username = decodeURIComponent(url.username);
  if (url.password) connection.password = decodeURIComponent(url.password);
  if (url.protocol === 'rediss:') connection.tls = {};
  return { connection, display };
}

/** The URL with any password replaced by `***`. */
export function redactRedisUrl(text: string): string {
  return text.replace(/^([a-z]+:\/\/)([^@/]*)@/i, (_m, scheme: string, auth: string) => {
    const user = auth.includes(':') ? auth.slice(0, auth.indexOf(':')) : '';
    return `${scheme}${user}:***@`;
  });
}
