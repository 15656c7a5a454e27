// resolveFile against a real HTTP server on 127.0.0.1: downloads, resume, faults and errors.
import { existsSync } from 'node:fs';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseModelLoadConfig } from '../src/config/index.js';
import { FileFetchError, formatProgress, resolveFile, type DownloadProgress, type ResolveOptions } from '../src/files/index.js';
import { ProgressMeter, ttyProgressRenderer } from '../src/files/progress.js';
import { TestServer, lfsPointer, serveBytes, serveText, testBytes } from './helpers/httpServer.js';
import { removeTempDirs, tempDir } from './helpers/tmp.js';

let server: TestServer;
let cache: string;
let logs: string[];
const data = testBytes(200_000);

beforeEach(async () => {
  server = await TestServer.start();
  cache = await tempDir();
  logs = [];
});
afterEach(async () => server.close());
afterAll(removeTempDirs);

/** Quiet, fast options for tests. */
const opts = (extra: ResolveOptions = {}): ResolveOptions => ({
  log: (m) => logs.push(m),
  onProgress: false,
  retryDelayMs: 10,
  idleTimeoutMs: 2000,
  ...extra,
});

const urlSpec = (path: string, extra: object = {}) => ({ load_type: 'url' as const, path: server.url(path), cache_dir: cache, ...extra });

async function expectFetchError(p: Promise<unknown>): Promise<FileFetchError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(FileFetchError);
  return err as FileFetchError;
}

describe('downloads', () => {
  it('downloads into cache_dir and reports progress', async () => {
    server.route('/m/model.bin', serveBytes(() => data));
    const events: DownloadProgress[] = [];
    const path = await resolveFile(urlSpec('/m/model.bin'), opts({ onProgress: (p) => events.push(p) }));
    expect(path).toBe(join(cache, 'model.bin'));
    expect((await readFile(path)).equals(data)).toBe(true);
    expect(await readdir(cache)).toEqual(['model.bin']);
    const last = events[events.length - 1];
    expect(last).toMatchObject({ done: true, received: data.length, total: data.length });
    expect(formatProgress(last)).toMatch(/^model\.bin {2}195\.3 KiB \/ 195\.3 KiB \(100%\) .*done$/);
  });

  it('strips the query from the URL for the file name', async () => {
    server.route('/m/w.bin', serveBytes(() => data));
    const path = await resolveFile(urlSpec('/m/w.bin?download=true'), opts());
    expect(path).toBe(join(cache, 'w.bin'));
  });

  it('uses filename_override', async () => {
    server.route('/m/latest.pth', serveBytes(() => data));
    const path = await resolveFile(urlSpec('/m/latest.pth', { filename_override: 'prior.pth' }), opts());
    expect(path).toBe(join(cache, 'prior.pth'));
    expect(existsSync(join(cache, 'latest.pth'))).toBe(false);
  });

  it('creates a missing cache_dir (nested)', async () => {
    server.route('/m/model.bin', serveBytes(() => data));
    const nested = join(cache, 'a', 'b', 'models');
    const path = await resolveFile(urlSpec('/m/model.bin', { cache_dir: nested }), opts());
    expect(path).toBe(join(nested, 'model.bin'));
  });

  it('uses os.tmpdir()/dalle2-ts-cache without cache_dir', async () => {
    server.route('/m/model.bin', serveBytes(() => data));
    const name = `test-${process.pid}-${Date.now()}.bin`;
    const spec = { load_type: 'url' as const, path: server.url('/m/model.bin'), filename_override: name };
    const path = await resolveFile(spec, opts());
    expect(path).toMatch(new RegExp(`dalle2-ts-cache[/\\\\]${name}$`));
    await import('node:fs/promises').then((fs) => fs.rm(path));
  });
});

describe('resume', () => {
  it('resumes an interrupted transfer with Range (automatic retry)', async () => {
    server.route('/m/model.bin', serveBytes(() => data, { faults: [{ cutAfter: 70_000 }] }));
    const path = await resolveFile(urlSpec('/m/model.bin'), opts());
    expect((await readFile(path)).equals(data)).toBe(true);
    const reqs = server.requestsFor('/m/model.bin');
    expect(reqs).toHaveLength(2);
    expect(reqs[0].range).toBeUndefined();
    expect(reqs[1].range).toMatch(/^bytes=\d+-$/);
    expect(Number(/\d+/.exec(reqs[1].range ?? '')?.[0])).toBeGreaterThan(0);
    expect(reqs[1].status).toBe(206);
    expect(logs.some((l) => l.includes('retrying'))).toBe(true);
  });

  it('keeps the partial after a failed call and resumes it on the next call', async () => {
    server.route('/m/model.bin', serveBytes(() => data, { faults: [{ cutAfter: 50_000 }], etag: '"v1"' }));
    const err = await expectFetchError(resolveFile(urlSpec('/m/model.bin'), opts({ maxRetries: 0 })));
    expect(err.kind).toBe('network');
    expect(err.message).toContain(server.url('/m/model.bin'));
    expect(existsSync(join(cache, 'model.bin'))).toBe(false);
    expect(existsSync(join(cache, 'model.bin.partial'))).toBe(true);
    const path = await resolveFile(urlSpec('/m/model.bin'), opts());
    expect((await readFile(path)).equals(data)).toBe(true);
    const second = server.requestsFor('/m/model.bin')[1];
    expect(second).toMatchObject({ range: expect.stringMatching(/^bytes=\d+-$/), ifRange: '"v1"', status: 206 });
    expect(await readdir(cache)).toEqual(['model.bin']);
  });

  it('restarts cleanly when the server ignores Range (200)', async () => {
    server.route('/m/model.bin', serveBytes(() => data, { ranges: false, faults: [{ cutAfter: 60_000 }] }));
    const path = await resolveFile(urlSpec('/m/model.bin'), opts());
    expect((await readFile(path)).equals(data)).toBe(true);
    const reqs = server.requestsFor('/m/model.bin');
    expect(reqs[1].range).toBeDefined();
    expect(reqs[1].status).toBe(200);
  });

  it('discards a partial that belongs to another checksum', async () => {
    server.route('/m/model.bin', serveBytes(() => data));
    server.route('/m/model.sum', serveText(lfsPointer(data)));
    await writeFile(join(cache, 'model.bin.partial'), Buffer.from('stale bytes'));
    const meta = { url: server.url('/m/model.bin'), checksum: 'old checksum' };
    await writeFile(join(cache, 'model.bin.partial.json'), JSON.stringify(meta));
    const path = await resolveFile(urlSpec('/m/model.bin', { checksum_file_path: server.url('/m/model.sum') }), opts());
    expect((await readFile(path)).equals(data)).toBe(true);
    expect(server.requestsFor('/m/model.bin')[0].range).toBeUndefined();
  });
});

describe('errors', () => {
  it('404 names the URL and status, without retries', async () => {
    const err = await expectFetchError(resolveFile(urlSpec('/nope/model.bin'), opts({ label: 'prior.load_model_from' })));
    expect(err.kind).toBe('http');
    expect(err.status).toBe(404);
    expect(err.message).toBe(`prior.load_model_from: HTTP 404 Not Found for ${server.url('/nope/model.bin')}`);
    expect(server.requests).toHaveLength(1);
    expect(await readdir(cache)).toEqual([]);
  });

  it('retries a 500 and then succeeds', async () => {
    let calls = 0;
    const ok = serveBytes(() => data);
    server.route('/m/model.bin', (req, res) => (calls++ === 0 ? res.writeHead(500).end() : ok(req, res)));
    const path = await resolveFile(urlSpec('/m/model.bin'), opts());
    expect((await readFile(path)).equals(data)).toBe(true);
    expect(calls).toBe(2);
  });

  it('times out on a server that stalls mid-body', async () => {
    server.route('/m/model.bin', serveBytes(() => data, { faults: [{ stallAfter: 1000 }] }));
    const started = Date.now();
    const err = await expectFetchError(resolveFile(urlSpec('/m/model.bin'), opts({ idleTimeoutMs: 300, maxRetries: 0 })));
    expect(err.kind).toBe('timeout');
    expect(err.message).toBe(`timed out: no data from ${server.url('/m/model.bin')} for 0.3 s (server stalled)`);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(existsSync(join(cache, 'model.bin'))).toBe(false);
  });

  it('times out on a server that never answers', async () => {
    server.route('/m/model.bin', serveBytes(() => data, { faults: [{ stallHeaders: true }, { stallHeaders: true }] }));
    const err = await expectFetchError(resolveFile(urlSpec('/m/model.bin'), opts({ idleTimeoutMs: 200, maxRetries: 1 })));
    expect(err.kind).toBe('timeout');
    expect(server.requestsFor('/m/model.bin')).toHaveLength(2);
  });

  it('reports a refused connection as a network error', async () => {
    const url = server.url('/m/model.bin');
    await server.close();
    const spec = { load_type: 'url' as const, path: url, cache_dir: cache };
    const err = await expectFetchError(resolveFile(spec, opts({ maxRetries: 1 })));
    expect(err.kind).toBe('network');
    expect(err.message).toMatch(new RegExp(`^network error fetching ${url}: fetch failed`));
    server = await TestServer.start();
  });

  it('stops on abort', async () => {
    server.route('/m/model.bin', serveBytes(() => data, { faults: [{ stallAfter: 10 }] }));
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    const err = await expectFetchError(resolveFile(urlSpec('/m/model.bin'), opts({ signal: controller.signal })));
    expect(err.kind).toBe('aborted');
  });

  it.each(['/m/..', '/m/.', '/m/', '/m/..?download=1', '/m/.#x'])('url %s never names a file outside (or equal to) cache_dir', async (path) => {
    server.route('/m', serveBytes(() => data));
    const checksum = join(cache, 'sum.txt');
    await writeFile(checksum, lfsPointer(data));
    const e = await expectFetchError(resolveFile({ ...urlSpec(path, { checksum_file_path: checksum }), origin: 'prior.load_model_from' }, opts()));
    expect(e.kind).toBe('invalid');
    expect(e.message).toMatch(/^prior\.load_model_from: cannot derive a file name from .*; set filename_override to a plain file name/);
    expect(await readdir(cache)).toEqual(['sum.txt']);
    for (const p of [`${cache}.partial`, `${dirname(cache)}.partial`]) expect(existsSync(p)).toBe(false);
  });

  it('a filename_override that is not a plain name is refused even without the schema', async () => {
    for (const name of ['..', '.', 'a/b', '..\\x']) {
      const e = await expectFetchError(resolveFile(urlSpec('/m/model.bin', { filename_override: name }), opts()));
      expect(e.message).toMatch(/filename_override .* is not a plain file name/);
    }
    expect(await readdir(cache)).toEqual([]);
  });

  it('local files: resolved path, or an error naming the JSON path', async () => {
    await writeFile(join(cache, 'prior.pth'), 'x');
    const config = parseModelLoadConfig(
      {
        prior: { load_model_from: { load_type: 'local', path: 'prior.pth' } },
        decoder: { unet_sources: [{ unet_numbers: [1], load_model_from: { load_type: 'local', path: 'missing.pth' } }] },
      },
      join(cache, 'model_config.json'),
    );
    expect(await resolveFile(config.prior!.load_model_from)).toBe(join(cache, 'prior.pth'));
    const err = await expectFetchError(resolveFile(config.decoder!.unet_sources[0].load_model_from));
    expect(err.kind).toBe('not_found');
    expect(err.message).toBe(`decoder.unet_sources[0].load_model_from: local file not found: ${join(cache, 'missing.pth')}`);
  });
});

describe('progress', () => {
  it('meter computes rate and ETA from elapsed time', () => {
    let now = 0;
    const events: DownloadProgress[] = [];
    const meter = new ProgressMeter((p) => events.push(p), 'u', '/c/model.bin', 10 * 1024 * 1024, () => now);
    meter.update(0);
    now = 2000;
    meter.update(4 * 1024 * 1024);
    meter.finish();
    expect(events[1]).toMatchObject({ received: 4 * 1024 * 1024, bytesPerSecond: 2 * 1024 * 1024, etaSeconds: 3, done: false });
    expect(formatProgress(events[1])).toBe('model.bin  4.0 MiB / 10.0 MiB (40%)  2.0 MiB/s  ETA 0:03');
    expect(events[2].done).toBe(true);
  });

  it('renders one line in place on a TTY and nothing elsewhere', () => {
    const written: string[] = [];
    const fake = (isTTY: boolean) => ({ isTTY, columns: 80, write: (s: string) => written.push(s) }) as unknown as NodeJS.WriteStream;
    expect(ttyProgressRenderer(fake(false))).toBeUndefined();
    const render = ttyProgressRenderer(fake(true))!;
    const p: DownloadProgress = { url: 'u', file: 'm.bin', received: 10, total: 20, bytesPerSecond: 5, etaSeconds: 2, done: false };
    render(p);
    render({ ...p, received: 20, done: true });
    expect(written[0]).toMatch(/^\rm\.bin {2}10 B \/ 20 B \(50%\) {2}5 B\/s {2}ETA 0:02 *$/);
    expect(written[0]).toHaveLength(80);
    expect(written[1].endsWith('\n')).toBe(true);
  });
});
