// fetch plumbing shared by checksum and file downloads: a stall timer (a server that stops sending must
// not hang model loading forever), error classification, and retries with backoff.
import { FileFetchError, describeCause, labelled } from './errors.js';

export interface HttpContext {
  fetchImpl: typeof fetch;
  signal: AbortSignal | undefined;
  /** Abort when no response/bytes arrive for this long. */
  idleTimeoutMs: number;
  maxRetries: number;
  retryDelayMs: number;
  label: string | undefined;
  log: (message: string) => void;
}

/** Aborts its signal when `reset()` is not called within `ms`. */
export class IdleTimer {
  private readonly controller = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  fired = false;

  constructor(private readonly ms: number) {
    this.reset();
  }

  reset(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.fired = true;
      this.controller.abort(new Error(`no data for ${this.ms} ms`));
    }, this.ms);
  }

  clear(): void {
    clearTimeout(this.timer);
  }

  /** The stall signal combined with the caller's. */
  signal(user: AbortSignal | undefined): AbortSignal {
    return user ? AbortSignal.any([this.controller.signal, user]) : this.controller.signal;
  }
}

/** Maps whatever fetch or the body stream threw to a FileFetchError. */
export function classifyError(err: unknown, url: string, idle: IdleTimer, ctx: HttpContext): FileFetchError {
  if (err instanceof FileFetchError) return err;
  if (idle.fired) {
    const secs = ctx.idleTimeoutMs / 1000;
    return new FileFetchError('timeout', labelled(ctx.label, `timed out: no data from ${url} for ${secs} s (server stalled)`), {
      url,
      cause: err,
    });
  }
  if (ctx.signal?.aborted) {
    return new FileFetchError('aborted', labelled(ctx.label, `fetching ${url} was aborted`), { url, cause: err });
  }
  return new FileFetchError('network', labelled(ctx.label, `network error fetching ${url}: ${describeCause(err)}`), {
    url,
    cause: err,
  });
}

export function httpError(res: Response, url: string, ctx: HttpContext): FileFetchError {
  const text = `HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''} for ${url}`;
  return new FileFetchError('http', labelled(ctx.label, text), { url, status: res.status });
}

/** GETs a small text (a checksum file), with the stall timeout. */
export async function fetchText(url: string, ctx: HttpContext): Promise<string> {
  const idle = new IdleTimer(ctx.idleTimeoutMs);
  try {
    const res = await ctx.fetchImpl(url, { signal: idle.signal(ctx.signal) });
    if (!res.ok) {
      await res.body?.cancel();
      throw httpError(res, url, ctx);
    }
    return await res.text();
  } catch (err) {
    throw classifyError(err, url, idle, ctx);
  } finally {
    idle.clear();
  }
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(done, ms);
    function done() {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }
    function onAbort() {
      clearTimeout(timer);
      reject(signal?.reason);
    }
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Runs `fn` again after retryable failures (network, stall, 5xx), with exponential backoff. */
export async function withRetries<T>(what: string, ctx: HttpContext, fn: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (!(err instanceof FileFetchError) || !err.retryable || attempt >= ctx.maxRetries) throw err;
      const wait = ctx.retryDelayMs * 2 ** attempt;
      ctx.log(`${err.message}; retrying ${what} in ${wait / 1000} s (${attempt + 1}/${ctx.maxRetries})`);
      await sleep(wait, ctx.signal).catch((reason: unknown) => {
        throw new FileFetchError('aborted', labelled(ctx.label, `${what} was aborted`), { cause: reason });
      });
    }
  }
}
