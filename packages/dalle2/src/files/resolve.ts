// resolveFile: turns a FileSpec into a local path. URL files are cached as `<cache_dir>/<name>` with the
// checksum text beside them as `<name>.checksum` (dalle2-laion's layout, so the two can share a cache).
import { mkdir, rename, rm, stat, writeFile, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve as resolvePath } from 'node:path';
import type { FileSpec } from '../config/types.js';
import { checksumLocation, isHttpLocation, parseLfsPointer, readLocalChecksum } from './checksum.js';
import { download, partialPath } from './download.js';
import { FileFetchError, labelled } from './errors.js';
import { fetchText, withRetries, type HttpContext } from './http.js';
import { ttyProgressRenderer, type ProgressListener } from './progress.js';

export interface ResolveOptions {
  /** Progress callback; default a one-line renderer on stderr when it is a TTY; `false` for none. */
  onProgress?: ProgressListener | false;
  signal?: AbortSignal;
  /** Default the global fetch. */
  fetchImpl?: typeof fetch;
  /** Prefix for error messages; default `file.origin` (its JSON path in the config). */
  label?: string;
  /** Status lines (downloading, cache hit, re-download); default stderr. */
  log?: (message: string) => void;
  /** Fail when no bytes arrive for this long (ms); default 60 000. */
  idleTimeoutMs?: number;
  /** Retries after network errors, stalls and 5xx, each resuming the partial; default 3. */
  maxRetries?: number;
  /** First retry delay (ms), doubled each retry; default 1000. */
  retryDelayMs?: number;
  /** Hosts whose `/resolve/` URLs get a default `/raw/` checksum URL; default huggingface.co, hf.co. */
  huggingFaceHosts?: readonly string[];
}

/** Where url files without a cache_dir go. */
export function defaultCacheDir(): string {
  return join(tmpdir(), 'dalle2-ts-cache');
}

/**
 * Cache file name: filename_override, else the URL's last path segment without query (as upstream).
 * Either must be a plain file name, so `<cache_dir>/<name>` always lies inside cache_dir: a URL ending
 * in `/..` or `/.` would otherwise name cache_dir's parent or cache_dir itself.
 */
export function cacheFileName(file: FileSpec): string {
  const name = file.filename_override ?? file.path.split(/[?#]/)[0].split('/').pop() ?? '';
  if (!isPlainFileName(name)) {
    const what = file.filename_override !== undefined ? `filename_override ${JSON.stringify(name)} is not a plain file name` : `cannot derive a file name from ${file.path}`;
    throw new FileFetchError('invalid', labelled(file.origin, `${what}; set filename_override to a plain file name`), { url: file.path });
  }
  return name;
}

function isPlainFileName(name: string): boolean {
  return name !== '' && name !== '.' && name !== '..' && !/[/\\\0]/.test(name) && basename(name) === name;
}

/** Local path of the file: checked to exist (local) or downloaded/cached and verified (url). */
export async function resolveFile(file: FileSpec, opts: ResolveOptions = {}): Promise<string> {
  const label = opts.label ?? file.origin;
  if (file.load_type === 'local') return resolveLocal(file.path, label);
  return resolveUrl(file, contextFor(opts, label), progressFor(opts), opts.huggingFaceHosts);
}

function contextFor(opts: ResolveOptions, label: string | undefined): HttpContext {
  return {
    fetchImpl: opts.fetchImpl ?? globalThis.fetch,
    signal: opts.signal,
    idleTimeoutMs: opts.idleTimeoutMs ?? 60_000,
    maxRetries: opts.maxRetries ?? 3,
    retryDelayMs: opts.retryDelayMs ?? 1000,
    label,
    log: opts.log ?? ((m) => process.stderr.write(`${m}\n`)),
  };
}

function progressFor(opts: ResolveOptions): ProgressListener | undefined {
  if (opts.onProgress === false) return undefined;
  return opts.onProgress ?? ttyProgressRenderer();
}

async function resolveLocal(path: string, label: string | undefined): Promise<string> {
  const full = resolvePath(path);
  const info = await stat(full).catch(() => undefined);
  if (!info) throw new FileFetchError('not_found', labelled(label, `local file not found: ${full}`));
  if (!info.isFile()) throw new FileFetchError('invalid', labelled(label, `not a regular file: ${full}`));
  return full;
}

const fileSize = (path: string) => stat(path).then((s) => s.size, () => undefined);
const readIfExists = (path: string) => readFile(path, 'utf8').catch(() => undefined);

async function resolveUrl(
  file: FileSpec,
  ctx: HttpContext,
  onProgress: ProgressListener | undefined,
  hfHosts: readonly string[] | undefined,
): Promise<string> {
  const dir = resolvePath(file.cache_dir ?? defaultCacheDir());
  await mkdir(dir, { recursive: true });
  const target = join(dir, cacheFileName(file));
  if (dirname(target) !== dir) {
    throw new FileFetchError('invalid', labelled(ctx.label, `cache file ${target} would lie outside cache_dir ${dir}`), { url: file.path });
  }
  const checksumAt = checksumLocation(file, hfHosts);
  const cachedSize = await fileSize(target);
  if (cachedSize !== undefined) {
    const fresh = await cachedCopyIsCurrent(file, target, cachedSize, checksumAt, ctx);
    if (fresh.current) return target;
    return fetchInto(file, target, fresh.remote, ctx, onProgress);
  }
  const remote = checksumAt === undefined ? null : await readChecksum(checksumAt, ctx);
  return fetchInto(file, target, remote, ctx, onProgress);
}

/**
 * Upstream's rules, plus: `check_updates: false` skips the remote request, an LFS pointer's size must
 * match the cached file (a cheap guard against a truncated copy), and an unreachable checksum server
 * falls back to the cached copy rather than failing offline use.
 */
async function cachedCopyIsCurrent(
  file: FileSpec,
  target: string,
  cachedSize: number,
  checksumAt: string | undefined,
  ctx: HttpContext,
): Promise<{ current: true } | { current: false; remote: string | null }> {
  if (checksumAt === undefined) {
    ctx.log(`${target} is cached and has no checksum to compare; delete it to download it again`);
    return { current: true };
  }
  const stored = await readIfExists(`${target}.checksum`);
  const sizeOk = (text: string | undefined) => text === undefined || (parseLfsPointer(text)?.size ?? cachedSize) === cachedSize;
  if (file.check_updates === false && sizeOk(stored)) return { current: true };
  let remote: string;
  try {
    remote = await readChecksum(checksumAt, ctx);
  } catch (err) {
    if (!(err instanceof FileFetchError) || !err.retryable || !sizeOk(stored)) throw err;
    ctx.log(`${err.message}; using the cached ${target} without checking for updates`);
    return { current: true };
  }
  if (stored === remote && sizeOk(stored)) return { current: true };
  const why = stored === undefined ? 'no stored checksum' : stored === remote ? 'cached size is wrong' : 'checksum changed';
  ctx.log(`${target}: ${why}; downloading it again`);
  return { current: false, remote };
}

async function readChecksum(location: string, ctx: HttpContext): Promise<string> {
  if (!isHttpLocation(location)) {
    return readLocalChecksum(location).catch((err: Error) => {
      throw new FileFetchError('not_found', labelled(ctx.label, `cannot read checksum file ${location}: ${err.message}`));
    });
  }
  return withRetries(`checksum ${location}`, ctx, () => fetchText(location, ctx));
}

/** Downloads into `<target>.partial`, verifies, renames into place, then stores the checksum text. */
async function fetchInto(
  file: FileSpec,
  target: string,
  checksumText: string | null,
  ctx: HttpContext,
  onProgress: ProgressListener | undefined,
): Promise<string> {
  ctx.log(`Downloading ${file.path} to ${target}`);
  const expected = checksumText === null ? undefined : parseLfsPointer(checksumText);
  const job = { url: file.path, target, checksumText, expected, onProgress };
  await download(job, ctx);
  // File first, checksum second: a crash in between leaves a file with no checksum, which upstream's
  // rules re-download, rather than a new checksum vouching for an old file.
  await rename(partialPath(target), target);
  await rm(`${target}.partial.json`, { force: true });
  if (checksumText === null) await rm(`${target}.checksum`, { force: true });
  else await writeFile(`${target}.checksum`, checksumText);
  return target;
}
