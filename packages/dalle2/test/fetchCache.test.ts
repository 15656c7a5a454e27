// resolveFile caching against a real HTTP server: cache hits, checksum updates, LFS verification and
// the Hugging Face resolve -> raw checksum mapping.
import { existsSync } from 'node:fs';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileFetchError, huggingFaceRawUrl, parseLfsPointer, resolveFile, type ResolveOptions } from '../src/files/index.js';
import { TestServer, lfsPointer, serveBytes, serveText, sha256, testBytes } from './helpers/httpServer.js';
import { removeTempDirs, tempDir } from './helpers/tmp.js';

let server: TestServer;
let cache: string;
let logs: string[];
const v1 = testBytes(100_000, 1);
const v2 = testBytes(120_000, 2);

beforeEach(async () => {
  server = await TestServer.start();
  cache = await tempDir();
  logs = [];
});
afterEach(async () => server.close());
afterAll(removeTempDirs);

const opts = (extra: ResolveOptions = {}): ResolveOptions => ({
  log: (m) => logs.push(m),
  onProgress: false,
  retryDelayMs: 10,
  idleTimeoutMs: 2000,
  ...extra,
});

/** Model at /m/model.bin with its checksum text at /m/model.sum; both switchable. */
function serveModel(state: { data: Buffer; checksum: string }) {
  server.route('/m/model.bin', serveBytes(() => state.data));
  server.route('/m/model.sum', (req, res) => serveText(state.checksum)(req, res));
}

const spec = (extra: object = {}) => ({
  load_type: 'url' as const,
  path: server.url('/m/model.bin'),
  checksum_file_path: server.url('/m/model.sum'),
  cache_dir: cache,
  ...extra,
});

describe('cache', () => {
  it('stores the checksum next to the file; a cache hit does not download again', async () => {
    serveModel({ data: v1, checksum: lfsPointer(v1) });
    const path = await resolveFile(spec(), opts());
    expect(await readFile(`${path}.checksum`, 'utf8')).toBe(lfsPointer(v1));
    expect((await resolveFile(spec(), opts())) === path).toBe(true);
    expect(server.requestsFor('/m/model.bin')).toHaveLength(1);
    expect(server.requestsFor('/m/model.sum')).toHaveLength(2);
    expect((await readdir(cache)).sort()).toEqual(['model.bin', 'model.bin.checksum']);
  });

  it('check_updates: false makes no request at all for a cached file', async () => {
    serveModel({ data: v1, checksum: lfsPointer(v1) });
    await resolveFile(spec(), opts());
    const before = server.requests.length;
    await resolveFile(spec({ check_updates: false }), opts());
    expect(server.requests.length).toBe(before);
  });

  it('without a checksum source, a cached file is used as is', async () => {
    server.route('/m/plain.bin', serveBytes(() => v1));
    const plain = { load_type: 'url' as const, path: server.url('/m/plain.bin'), cache_dir: cache };
    await resolveFile(plain, opts());
    await resolveFile(plain, opts());
    expect(server.requests).toHaveLength(1);
    expect(logs.some((l) => l.includes('has no checksum to compare'))).toBe(true);
  });

  it('re-downloads when the remote checksum changed', async () => {
    const state = { data: v1, checksum: lfsPointer(v1) };
    serveModel(state);
    const path = await resolveFile(spec(), opts());
    Object.assign(state, { data: v2, checksum: lfsPointer(v2) });
    // Updates disabled: the old copy stays.
    await resolveFile(spec({ check_updates: false }), opts());
    expect((await readFile(path)).equals(v1)).toBe(true);
    await resolveFile(spec(), opts());
    expect((await readFile(path)).equals(v2)).toBe(true);
    expect(await readFile(`${path}.checksum`, 'utf8')).toBe(lfsPointer(v2));
    expect(server.requestsFor('/m/model.bin')).toHaveLength(2);
    expect(logs.some((l) => l.includes('checksum changed'))).toBe(true);
  });

  it('re-downloads when the checksum is a plain (non-LFS) text that changed', async () => {
    const state = { data: v1, checksum: 'etag-1\n' };
    serveModel(state);
    const path = await resolveFile(spec(), opts());
    Object.assign(state, { data: v2, checksum: 'etag-2\n' });
    await resolveFile(spec(), opts());
    expect((await readFile(path)).equals(v2)).toBe(true);
  });

  it('re-downloads a cached file whose size disagrees with the LFS pointer', async () => {
    serveModel({ data: v1, checksum: lfsPointer(v1) });
    const path = await resolveFile(spec(), opts());
    await writeFile(path, v1.subarray(0, 500));
    await resolveFile(spec(), opts());
    expect((await readFile(path)).equals(v1)).toBe(true);
    expect(server.requestsFor('/m/model.bin')).toHaveLength(2);
  });

  it('falls back to the cached copy when the checksum server is unreachable', async () => {
    serveModel({ data: v1, checksum: lfsPointer(v1) });
    const first = spec();
    const path = await resolveFile(first, opts());
    await server.close();
    expect(await resolveFile(first, opts({ maxRetries: 0 }))).toBe(path);
    expect(logs.some((l) => l.includes('without checking for updates'))).toBe(true);
    server = await TestServer.start();
  });
});

describe('LFS verification', () => {
  it('wrong bytes (same size) -> sha256 error, nothing left behind', async () => {
    const wrong = Buffer.from(v1);
    wrong[1234] ^= 0xff;
    serveModel({ data: wrong, checksum: lfsPointer(v1) });
    const err = await resolveFile(spec(), opts({ label: 'prior.load_model_from' })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FileFetchError);
    const e = err as FileFetchError;
    expect(e.kind).toBe('integrity');
    expect(e.message).toBe(
      `prior.load_model_from: sha256 mismatch: expected ${sha256(v1)}, got ${sha256(wrong)} for ${server.url('/m/model.bin')}; the bad download was deleted`,
    );
    expect(await readdir(cache)).toEqual([]);
  });

  it('wrong size -> size error before the body is read, nothing left behind', async () => {
    serveModel({ data: v2, checksum: lfsPointer(v1) });
    const err = (await resolveFile(spec(), opts()).catch((e: unknown) => e)) as FileFetchError;
    expect(err.kind).toBe('integrity');
    expect(err.message).toBe(`size mismatch: the LFS pointer says ${v1.length} bytes but ${server.url('/m/model.bin')} has ${v2.length}`);
    expect(await readdir(cache)).toEqual([]);
  });

  it('a corrupt resumed prefix is caught and fixed by one clean download', async () => {
    serveModel({ data: v1, checksum: lfsPointer(v1) });
    const bad = Buffer.from(v1.subarray(0, 40_000));
    bad[10] ^= 0xff;
    await writeFile(join(cache, 'model.bin.partial'), bad);
    const meta = { url: server.url('/m/model.bin'), checksum: lfsPointer(v1) };
    await writeFile(join(cache, 'model.bin.partial.json'), JSON.stringify(meta));
    const path = await resolveFile(spec(), opts());
    expect((await readFile(path)).equals(v1)).toBe(true);
    const reqs = server.requestsFor('/m/model.bin');
    expect(reqs.map((r) => r.range)).toEqual(['bytes=40000-', undefined]);
  });

  it('parses LFS pointers and rejects other texts', () => {
    expect(parseLfsPointer(lfsPointer(v1))).toEqual({ sha256: sha256(v1), size: v1.length });
    expect(parseLfsPointer('{"dim": 16}')).toBeUndefined();
  });
});

describe('Hugging Face resolve -> raw', () => {
  it('maps resolve/<rev>/ to raw/<rev>/ on the Hub only', () => {
    const hub = 'https://huggingface.co/laion/DALLE2-PyTorch/resolve/main/prior/latest.pth';
    expect(huggingFaceRawUrl(hub)).toBe('https://huggingface.co/laion/DALLE2-PyTorch/raw/main/prior/latest.pth');
    expect(huggingFaceRawUrl('https://huggingface.co/org/repo/resolve/v1.0/w.bin?download=true')).toBe(
      'https://huggingface.co/org/repo/raw/v1.0/w.bin?download=true',
    );
    expect(huggingFaceRawUrl('https://example.com/org/repo/resolve/main/w.bin')).toBeUndefined();
    expect(huggingFaceRawUrl('https://huggingface.co/org/repo/raw/main/config.json')).toBeUndefined();
  });

  it('fetches the raw pointer as checksum and verifies the resolve download', async () => {
    server.route('/org/repo/resolve/main/decoder/latest.pth', serveBytes(() => v1));
    server.route('/org/repo/raw/main/decoder/latest.pth', serveText(lfsPointer(v1)));
    const hf = { load_type: 'url' as const, path: server.url('/org/repo/resolve/main/decoder/latest.pth'), cache_dir: cache };
    const path = await resolveFile(hf, opts({ huggingFaceHosts: [server.host] }));
    expect(path).toBe(join(cache, 'latest.pth'));
    expect(await readFile(`${path}.checksum`, 'utf8')).toBe(lfsPointer(v1));
    expect(server.requestsFor('/org/repo/raw/main/decoder/latest.pth')).toHaveLength(1);
    await resolveFile(hf, opts({ huggingFaceHosts: [server.host] }));
    expect(server.requestsFor('/org/repo/resolve/main/decoder/latest.pth')).toHaveLength(1);
    expect(existsSync(`${path}.partial`)).toBe(false);
  });
});
