// One error type for everything resolveFile can fail on; `kind` lets callers (and the retry loop) tell
// a missing file from a flaky network without parsing messages.

export type FileFetchErrorKind =
  | 'not_found' // local file missing
  | 'http' // server answered with an error status
  | 'network' // connection failed or closed early
  | 'timeout' // no bytes for idleTimeoutMs
  | 'integrity' // size or sha256 differs from the LFS pointer
  | 'aborted' // caller's AbortSignal fired
  | 'invalid'; // spec cannot be used (e.g. no file name in the URL)

export class FileFetchError extends Error {
  readonly kind: FileFetchErrorKind;
  readonly url: string | undefined;
  readonly status: number | undefined;

  constructor(kind: FileFetchErrorKind, message: string, info: { url?: string; status?: number; cause?: unknown } = {}) {
    super(message, info.cause === undefined ? undefined : { cause: info.cause });
    this.name = 'FileFetchError';
    this.kind = kind;
    this.url = info.url;
    this.status = info.status;
  }

  /** Worth another try: the network, a stall, or a server-side (5xx / 429) failure. */
  get retryable(): boolean {
    if (this.kind === 'network' || this.kind === 'timeout') return true;
    return this.kind === 'http' && this.status !== undefined && (this.status >= 500 || this.status === 429);
  }
}

/** Prefixes a message with the JSON path the file spec came from, when known. */
export function labelled(label: string | undefined, message: string): string {
  return label ? `${label}: ${message}` : message;
}

/** Readable cause of a fetch failure: undici wraps the socket error in `cause`. */
export function describeCause(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = err.cause instanceof Error ? ` (${err.cause.message})` : '';
  return `${err.message}${cause}`;
}
