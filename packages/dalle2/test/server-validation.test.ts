// Bad input never reaches the GPU or the filesystem: every class of bad request gets a clear 4xx
// (bad JSON, wrong types, out-of-range numbers, too many / too long prompts, non-image and SVG
// uploads, oversized files and decompression-bomb headers, all-keep masks), request paths cannot leave
// the output dir, and the server keeps serving afterwards.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testRuntime } from '@dalle2/tensor/testing';
import { DEFAULT_MODEL_CONFIG } from '../src/generate.js';
import { encodePng, type RgbImage } from '../src/image/index.js';
import { DalleModelManager } from '../src/manager/index.js';
import { startServer, type RunningServer } from '../src/server/index.js';
import { api, dataUrl, pngHeaderOnly, rawGet } from './helpers/api.js';
import { removeTempDirs, tempDir } from './helpers/tmp.js';

let manager: DalleModelManager;
let server: RunningServer;
let base: string;
let small: string;

beforeAll(async () => {
  manager = await DalleModelManager.load(DEFAULT_MODEL_CONFIG, { rt: await testRuntime() });
  server = await startServer({ manager, modelConfig: DEFAULT_MODEL_CONFIG, outputDir: await tempDir('dalle2-web-'), port: 0 });
  base = server.url;
  const img: RgbImage = { width: 8, height: 8, data: new Uint8Array(8 * 8 * 3).fill(200) };
  small = dataUrl(await encodePng(img));
});
afterAll(async () => {
  await server?.close();
  await manager?.dispose();
  await removeTempDirs();
});

async function refused(body: unknown, status: number, message: RegExp, raw?: string): Promise<void> {
  const r = await api<{ error: string }>(base, '/api/jobs', raw === undefined ? { body } : { raw });
  expect({ status: r.status, error: r.body.error }).toMatchObject({ status, error: expect.stringMatching(message) });
}

const dream = (extra: Record<string, unknown>) => ({ kind: 'dream', prompts: ['a red circle'], ...extra });

describe('request validation', () => {
  it('refuses malformed bodies and wrong types', async () => {
    await refused(undefined, 400, /JSON/i, '{"kind": "dream", ');
    await refused(undefined, 400, /./, '[]');
    await refused({ kind: 'paint' }, 400, /^kind: /);
    await refused(dream({ prompts: 'a red circle' }), 400, /^prompts: .*array/i);
    await refused(dream({ samples: '2' }), 400, /^samples: .*number/i);
    await refused(dream({ seed: 1.5 }), 400, /^seed: .*int/i);
    await refused(dream({ colour: 'red' }), 400, /colour/);
    await refused(dream({ steps: { prior: 2, decoder: 2 } }), 400, /^steps\.decoder: .*array/i);
  });

  it('refuses out-of-range numbers, too many or too long prompts', async () => {
    await refused(dream({ samples: 5 }), 400, /^samples: .*4/);
    await refused({ kind: 'variation', image: small, samples: 7 }, 400, /^samples: .*6/);
    await refused(dream({ samples: 0 }), 400, /^samples: /);
    await refused(dream({ seed: -1 }), 400, /^seed: /);
    await refused(dream({ seed: 2 ** 32 }), 400, /^seed: /);
    await refused(dream({ condScale: { prior: 0.4 } }), 400, /^condScale\.prior: .*0\.5/);
    await refused(dream({ condScale: { decoder: [1, 5.5] } }), 400, /^condScale\.decoder\.1: .*5/);
    await refused(dream({ condScale: { decoder: [1, 1, 1] } }), 400, /^condScale\.decoder: 3 values for a decoder with 2 unets/);
    await refused(dream({ steps: { decoder: [1001] } }), 400, /^steps\.decoder: 1001 is more than the decoder's 1000 training timesteps/);
    await refused(dream({ steps: { prior: 0 } }), 400, /^steps\.prior: /);
    await refused(dream({ prompts: Array(9).fill('x') }), 400, /^prompts: .*8/);
    await refused(dream({ prompts: [] }), 400, /^prompts: /);
    await refused(dream({ prompts: ['ok', '  '] }), 400, /^prompts: prompt 2 is empty/);
    await refused(dream({ prompts: ['x'.repeat(1001)] }), 400, /^prompts\.0: .*1000/);
    await refused(dream({ prompts: ['a,'.repeat(300)] }), 400, /^prompts: prompt 1 is \d+ tokens long; the model reads at most 256/);
    await refused({ kind: 'inpaint', image: small, mask: small }, 400, /^prompt: /);
  });

  it('checks uploads from their header: type, file size, dimensions; masks that change nothing', async () => {
    const svg = dataUrl(Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>'), 'image/svg+xml');
    await refused({ kind: 'variation', image: svg }, 415, /^image: svg images are not accepted \(PNG, JPEG or WebP only\)/);
    await refused({ kind: 'variation', image: dataUrl(Buffer.from('hello, not an image')) }, 415, /^image: not an image/);
    await refused({ kind: 'variation', image: 'not base64!' }, 400, /^image: expected base64/);
    await refused({ kind: 'variation', image: dataUrl(pngHeaderOnly(20000, 20000)) }, 413, /^image: 20000x20000 is too large \(at most 4096x4096\)/);
    await refused({ kind: 'variation', image: dataUrl(Buffer.alloc(9 * 1024 * 1024, 1)) }, 413, /^image: 9437184 bytes; at most 8388608 allowed/);
    const red: RgbImage = { width: 8, height: 8, data: new Uint8Array(8 * 8 * 3) };
    for (let p = 0; p < 64; p++) red.data[p * 3] = 255;
    await refused({ kind: 'inpaint', image: small, mask: dataUrl(await encodePng(red)), prompt: 'x' }, 400, /mask keeps every pixel/);
    const big: RgbImage = { width: 16, height: 16, data: new Uint8Array(16 * 16 * 3) };
    await refused({ kind: 'inpaint', image: small, mask: dataUrl(await encodePng(big)), prompt: 'x' }, 400, /mask: 16x16 after cropping, but the image is 8x8/);
    const tooBig = await api<{ error: string }>(base, '/api/jobs', { raw: JSON.stringify({ kind: 'inpaint', image: 'A'.repeat(23_000_000), mask: small, prompt: 'x' }) });
    expect(tooBig.status).toBe(413);
    expect(tooBig.body.error).toMatch(/request body too large/);
  });

  it('never reads outside the output dir, and answers unknown ids clearly', async () => {
    const id = '00000000-0000-4000-8000-000000000000';
    for (const path of [
      '/files/../../../../etc/passwd',
      '/files/..%2F..%2F..%2Fetc%2Fpasswd',
      `/files/${id}/..%2F..%2F..%2Fetc%2Fpasswd`,
      `/files/${id}/%2e%2e/job.json`,
      `/files/${id}/job.json`,
      `/files/..%2f${id}/0.png`,
      '/../package.json',
      '/%2e%2e/%2e%2e/package.json',
      '/app.js/../../package.json',
    ]) {
      const r = await rawGet(base, path);
      expect([400, 404], `${path} -> ${r.status}`).toContain(r.status);
      expect(r.body).not.toMatch(/root:|"name"|"dependencies"/);
    }
    expect((await api<{ error: string }>(base, '/api/jobs/..%2F..%2Fetc%2Fpasswd')).body.error).toMatch(/is not a job id/);
    expect((await api(base, `/api/jobs/${id}`)).status).toBe(404);
    expect((await api(base, `/api/jobs/${id}/events`)).status).toBe(404);
  });

  it('keeps serving after all of that', async () => {
    const r = await api<{ decoder: unknown }>(base, '/api/model');
    expect(r.status).toBe(200);
    const page = await fetch(`${base}/`);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await page.text()).toContain('<form id="dream-form"');
  });
});
