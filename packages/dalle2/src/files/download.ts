// Streams a URL into `<name>.partial`, hashing as it goes. A `.partial.json` sidecar records which URL
// and checksum text the partial bytes belong to, so a resume never splices bytes of two versions; the
// server decides with 206 (append) or 200 (start over). The caller renames the partial once verified.
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { FileFetchError, labelled } from './errors.js';
import { IdleTimer, classifyError, httpError, withRetries, type HttpContext } from './http.js';
import type { LfsPointer } from './checksum.js';
import { ProgressMeter, type ProgressListener } from './progress.js';

export interface DownloadJob {
  url: string;
  /** Final path (named in progress); bytes go to `${target}.partial`. */
  target: string;
  /** Checksum text the bytes must belong to (null: none). */
  checksumText: string | null;
  /** Expected sha256/size when the checksum text is an LFS pointer. */
  expected: LfsPointer | undefined;
  onProgress: ProgressListener | undefined;
}

export interface DownloadResult {
  partialPath: string;
  size: number;
  sha256: string;
}

interface PartialMeta {
  url: string;
  checksum: string | null;
  etag?: string;
  lastModified?: string;
}

export const partialPath = (target: string) => `${target}.partial`;
const metaPath = (target: string) => `${target}.partial.json`;

export async function discardPartial(target: string): Promise<void> {
  await rm(partialPath(target), { force: true });
  await rm(metaPath(target), { force: true });
}

/** Downloads with retries (resuming after each failure) and verifies against `expected`. */
export async function download(job: DownloadJob, ctx: HttpContext): Promise<DownloadResult> {
  let fresh = false;
  for (;;) {
    const result = await withRetries(`download of ${job.url}`, ctx, () => attempt(job, ctx, fresh));
    const problem = job.expected && mismatch(result, job.expected);
    if (!problem) return result;
    await discardPartial(job.target);
    // A stale or corrupt resumed prefix could be the cause: one clean retry before giving up.
    if (result.resumedFrom > 0 && !fresh) {
      ctx.log(`${problem}; discarding resumed bytes and downloading ${job.url} again from the start`);
      fresh = true;
      continue;
    }
    throw new FileFetchError('integrity', labelled(ctx.label, `${problem} for ${job.url}; the bad download was deleted`), {
      url: job.url,
    });
  }
}

function mismatch(result: DownloadResult, expected: LfsPointer): string | undefined {
  if (result.size !== expected.size) return `size mismatch: expected ${expected.size} bytes, got ${result.size}`;
  if (result.sha256 !== expected.sha256) return `sha256 mismatch: expected ${expected.sha256}, got ${result.sha256}`;
  return undefined;
}

/** Bytes of an existing partial that may be resumed (0 after discarding an unusable one). */
async function resumableBytes(job: DownloadJob): Promise<{ size: number; meta?: PartialMeta }> {
  const size = await stat(partialPath(job.target)).then((s) => s.size, () => -1);
  if (size < 0) return { size: 0 };
  const meta = await readFile(metaPath(job.target), 'utf8').then((t) => JSON.parse(t) as PartialMeta, () => undefined);
  const tooBig = job.expected !== undefined && size > job.expected.size;
  if (!meta || meta.url !== job.url || meta.checksum !== job.checksumText || tooBig || size === 0) {
    await discardPartial(job.target);
    return { size: 0 };
  }
  return { size, meta };
}

async function hashFile(path: string, hash: Hash): Promise<void> {
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
}

function requestHeaders(offset: number, meta: PartialMeta | undefined): Record<string, string> {
  // identity: Content-Length and byte ranges must refer to the stored bytes, not a gzip stream.
  const headers: Record<string, string> = { 'accept-encoding': 'identity' };
  if (offset === 0) return headers;
  headers.range = `bytes=${offset}-`;
  // If-Range makes the server send the whole (new) file with 200 when it changed since we started.
  const validator = meta?.etag && !meta.etag.startsWith('W/') ? meta.etag : meta?.lastModified;
  if (validator) headers['if-range'] = validator;
  return headers;
}

/** Start offset of a 206 answer (`Content-Range: bytes <start>-<end>/<total>`), and the total. */
function contentRange(res: Response): { start: number; total: number | undefined } | undefined {
  const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(res.headers.get('content-range') ?? '');
  if (!m) return undefined;
  return { start: Number(m[1]), total: m[3] === '*' ? undefined : Number(m[3]) };
}

function fullLength(res: Response): number | undefined {
  const encoding = res.headers.get('content-encoding');
  const length = res.headers.get('content-length');
  if (length === null || (encoding && encoding !== 'identity')) return undefined;
  return Number(length);
}

interface AttemptResult extends DownloadResult {
  resumedFrom: number;
}

/** One HTTP request: resume or restart, stream to disk, return size and sha256 of the whole partial. */
async function attempt(job: DownloadJob, ctx: HttpContext, forceFresh: boolean): Promise<AttemptResult> {
  if (forceFresh) await discardPartial(job.target);
  const existing = await resumableBytes(job);
  const hash = createHash('sha256');
  // Hash the kept prefix before the request, so a slow disk cannot trip the stall timer.
  if (existing.size > 0) await hashFile(partialPath(job.target), hash);
  const idle = new IdleTimer(ctx.idleTimeoutMs);
  try {
    const res = await ctx.fetchImpl(job.url, {
      headers: requestHeaders(existing.size, existing.meta),
      signal: idle.signal(ctx.signal),
    });
    const plan = await planWrite(res, existing.size, job, ctx);
    if (plan === 'restart') {
      // Our partial does not fit what the server has (416, or a 206 at another offset): start from zero.
      if (forceFresh) throw new FileFetchError('http', labelled(ctx.label, `unexpected ${res.status} for ${job.url}`), { url: job.url });
      idle.clear();
      return await attempt(job, ctx, true);
    }
    const resumedFrom = plan.append ? existing.size : 0;
    const digest = plan.append ? hash : createHash('sha256');
    if (!plan.append) await writeMeta(job, res);
    const size = await streamBody(res, job, plan, resumedFrom, digest, idle);
    if (plan.total !== undefined && size !== plan.total) {
      throw new FileFetchError('network', labelled(ctx.label, `connection closed after ${size} of ${plan.total} bytes from ${job.url}`), {
        url: job.url,
      });
    }
    return { partialPath: partialPath(job.target), size, sha256: digest.digest('hex'), resumedFrom };
  } catch (err) {
    throw classifyError(err, job.url, idle, ctx);
  } finally {
    idle.clear();
  }
}

interface WritePlan {
  append: boolean;
  total: number | undefined;
}

/** Decides from the status whether to append (206 at our offset), start over (200), restart without Range, or fail. */
async function planWrite(res: Response, offset: number, job: DownloadJob, ctx: HttpContext): Promise<WritePlan | 'restart'> {
  const range = res.status === 206 ? contentRange(res) : undefined;
  let plan: WritePlan;
  if (res.status === 206 && offset > 0 && range?.start === offset) plan = { append: true, total: range.total };
  else if (res.status === 200) plan = { append: false, total: fullLength(res) };
  else {
    await res.body?.cancel();
    if (res.status === 416 || res.status === 206) return 'restart';
    throw httpError(res, job.url, ctx);
  }
  if (job.expected && plan.total !== undefined && plan.total !== job.expected.size) {
    await res.body?.cancel();
    await discardPartial(job.target);
    const text = `size mismatch: the LFS pointer says ${job.expected.size} bytes but ${job.url} has ${plan.total}`;
    throw new FileFetchError('integrity', labelled(ctx.label, text), { url: job.url });
  }
  return plan;
}

async function writeMeta(job: DownloadJob, res: Response): Promise<void> {
  const meta: PartialMeta = { url: job.url, checksum: job.checksumText };
  const etag = res.headers.get('etag');
  const lastModified = res.headers.get('last-modified');
  if (etag) meta.etag = etag;
  if (lastModified) meta.lastModified = lastModified;
  await writeFile(metaPath(job.target), JSON.stringify(meta));
}

/** Appends/writes the body to the partial, feeding the hash and the progress meter. */
async function streamBody(
  res: Response,
  job: DownloadJob,
  plan: WritePlan,
  offset: number,
  hash: Hash,
  idle: IdleTimer,
): Promise<number> {
  const file = await open(partialPath(job.target), plan.append ? 'a' : 'w');
  const meter = job.onProgress ? new ProgressMeter(job.onProgress, job.url, job.target, plan.total) : undefined;
  let size = offset;
  try {
    if (!res.body) return size;
    for await (const chunk of res.body) {
      idle.reset();
      hash.update(chunk);
      await file.write(chunk);
      size += chunk.byteLength;
      meter?.update(size);
    }
    meter?.finish();
    return size;
  } finally {
    await file.close();
  }
}
