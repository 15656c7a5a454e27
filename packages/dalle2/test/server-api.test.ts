// The web API against a real server on 127.0.0.1 (random port) on the bundled model with 2-step
// stages: each job kind end to end with its event stream, queue positions, 429 on a full queue,
// cancel (queued and running), several clients at once (results equal a sequential run with the same
// seeds), and history after a restart.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Runtime } from '@dalle2/tensor';
import { testRuntime } from '@dalle2/tensor/testing';
import { DEFAULT_MODEL_CONFIG, generate } from '../src/generate.js';
import { decodeImage, encodePng, type RgbImage } from '../src/image/index.js';
import { DalleModelManager } from '../src/manager/index.js';
import { readParameters } from '../src/parameters.js';
import { startServer, type JobEvent, type JobSnapshot, type ModelInfo, type RunningServer } from '../src/server/index.js';
import { api, dataUrl, readEvents, submit, waitFinal } from './helpers/api.js';
import { removeTempDirs, tempDir } from './helpers/tmp.js';

const FAST = { prior: 2, decoder: [2, 2] };
const SLOW_JOB = { prior: 32, decoder: [32, 16] };

let rt: Runtime;
let manager: DalleModelManager;
let server: RunningServer;
let base: string;
let outputDir: string;

async function open(maxQueued = 2): Promise<void> {
  server = await startServer({ manager, modelConfig: DEFAULT_MODEL_CONFIG, outputDir, port: 0, maxQueued });
  base = server.url;
}

beforeAll(async () => {
  rt = await testRuntime();
  manager = await DalleModelManager.load(DEFAULT_MODEL_CONFIG, { rt });
  outputDir = await tempDir('dalle2-web-');
  await open();
});
afterAll(async () => {
  await server?.close();
  await manager?.dispose();
  await removeTempDirs();
});

async function png(url: string): Promise<Buffer> {
  const r = await fetch(base + url);
  expect(r.status).toBe(200);
  expect(r.headers.get('content-type')).toBe('image/png');
  return Buffer.from(await r.arrayBuffer());
}

describe('web API', () => {
  it('describes the loaded model', async () => {
    const { status, body } = await api<ModelInfo>(base, '/api/model');
    expect(status).toBe(200);
    expect(body.decoder.unets.map((u) => [u.number, u.imageSize, u.defaultSteps, u.defaultCondScale])).toEqual([[1, 16, 32, 2], [2, 32, 16, 1]]);
    expect(body.prior).toMatchObject({ defaultSteps: 32, defaultCondScale: 1 });
    expect(body.kinds).toEqual(['dream', 'variation', 'inpaint']);
    expect(body.limits).toMatchObject({ maxPrompts: 8, samples: { dream: 4, variation: 6, inpaint: 6 }, condScale: { min: 0.5, max: 5, step: 0.05 } });
  });

  it('dream: queued -> running -> done, with progress, previews and images in the stream', async () => {
    const job = await submit(base, { kind: 'dream', prompts: ['a red circle on a white background', 'a blue square'], samples: 2, seed: 7, steps: { prior: 2, decoder: [4, 2] } });
    expect(job.total).toBe(4);
    const events = await readEvents(base, job.id);
    const types = new Set(events.map((e) => e.type));
    expect([...types].sort()).toEqual(['image', 'preview', 'progress', 'state']);
    const progress = events.flatMap((e) => (e.type === 'progress' ? [e.progress] : []));
    expect(progress.at(-1)).toMatchObject({ stage: 'decoder', unet: 2, unets: 2, step: 2, steps: 2, fraction: 1 });
    const preview = events.find((e): e is Extract<JobEvent, { type: 'preview' }> => e.type === 'preview')!.preview;
    expect(preview.images.length).toBe(4);
    expect(preview.images[0].url).toMatch(/^data:image\/png;base64,/);
    const done = await waitFinal(base, job.id);
    expect(done.state).toBe('done');
    expect(done.images.map((i) => [i.index, i.seed])).toEqual([[0, 7], [1, 8], [2, 7], [3, 8]]);
    const file = await png(done.images[3].url);
    expect(readParameters(file)).toMatchObject({ kind: 'dream', prompt: 'a blue square', seed: 8, runSeed: 7, sample: 1, plan: { priorSteps: 2, decoderSteps: [4, 2] } });
    const dl = await fetch(`${base}${done.images[0].url}?download=1`);
    expect(dl.headers.get('content-disposition')).toMatch(/^attachment; filename="dalle2-[0-9a-f]{8}-0\.png"$/);
  });

  it('variation and inpaint run end to end on uploads', async () => {
    const source = await decodeImage(await png((await waitFinal(base, (await submit(base, { kind: 'dream', prompts: ['a green triangle'], seed: 1, steps: FAST })).id)).images[0].url));
    // a 40x32 upload: the server center-crops it
    const wide: RgbImage = { width: 40, height: 32, data: new Uint8Array(40 * 32 * 3).fill(90) };
    const v = await submit(base, { kind: 'variation', image: dataUrl(await encodePng(wide)), samples: 2, seed: 3, steps: { decoder: [2] }, condScale: { decoder: [1.5, 1] } });
    const vDone = await waitFinal(base, v.id);
    expect(vDone.state).toBe('done');
    expect(vDone.images.map((i) => i.parameters.kind)).toEqual(['variation', 'variation']);
    expect(vDone.notes).toEqual(['note: upload is 40x32: center-cropped to 32x32']);
    expect(vDone.images[0].parameters.plan).toMatchObject({ decoderSteps: [2, 2], decoderCondScale: [1.5, 1] });
    expect(vDone.images[0].parameters.plan.priorSteps).toBeUndefined();
    const mask: RgbImage = { width: 32, height: 32, data: new Uint8Array(32 * 32 * 3) };
    for (let p = 0; p < 32 * 32; p++) if (p % 32 < 16) mask.data[p * 3] = 255; // keep the left half
    const i = await submit(base, { kind: 'inpaint', image: dataUrl(await encodePng(source)), mask: dataUrl(await encodePng(mask)), prompt: 'a yellow circle', seed: 2, steps: FAST });
    const iDone = await waitFinal(base, i.id);
    expect(iDone.state).toBe('done');
    const out = await decodeImage(await png(iDone.images[0].url));
    let worst = 0;
    for (let p = 0; p < 32 * 32; p++) if (p % 32 < 16) for (let c = 0; c < 3; c++) worst = Math.max(worst, Math.abs(out.data[p * 3 + c] - source.data[p * 3 + c]));
    expect(worst).toBeLessThanOrEqual(1);
  });

  it('queue positions, 429 on a full queue, cancel of a queued and of a running job', async () => {
    const running = await submit(base, { kind: 'dream', prompts: ['a red circle'], steps: SLOW_JOB, seed: 0 });
    const second = await submit(base, { kind: 'dream', prompts: ['a blue square'], steps: FAST, seed: 0 });
    const third = await submit(base, { kind: 'dream', prompts: ['a green triangle'], steps: FAST, seed: 0 });
    expect([second.position, third.position]).toEqual([1, 2]);
    const full = await api<{ error: string }>(base, '/api/jobs', { body: { kind: 'dream', prompts: ['x'], steps: FAST } });
    expect(full.status).toBe(429);
    expect(full.body.error).toMatch(/queue is full \(2 jobs waiting, at most 2\)/);
    expect(full.headers.get('retry-after')).toBe('30');
    const cancelled = await api<JobSnapshot>(base, `/api/jobs/${second.id}`, { method: 'DELETE' });
    expect(cancelled.body.state).toBe('cancelled');
    expect((await api<JobSnapshot>(base, `/api/jobs/${third.id}`)).body.position).toBe(1);
    // cancel the running job once it is sampling: it stops at the next step and the next job runs
    const t0 = Date.now();
    await readUntil(running.id, (e) => e.type === 'progress');
    const asked = await api<JobSnapshot>(base, `/api/jobs/${running.id}`, { method: 'DELETE' });
    expect(asked.body.cancelRequested).toBe(true);
    const stopped = await waitFinal(base, running.id);
    expect(stopped.state).toBe('cancelled');
    expect(stopped.error).toBeUndefined();
    expect(Date.now() - t0).toBeLessThan(15_000);
    expect((await waitFinal(base, third.id)).state).toBe('done');
    expect((await api(base, '/api/jobs/00000000-0000-4000-8000-000000000000', { method: 'DELETE' })).status).toBe(404);
  });

  it('several clients at once: every job finishes, results equal a sequential run with the same seeds', async () => {
    const asks = [
      { kind: 'dream', prompts: ['a red circle on a white background'], samples: 2, seed: 11, steps: FAST },
      { kind: 'dream', prompts: ['a blue square'], seed: 5, steps: FAST },
      { kind: 'dream', prompts: ['a red circle on a white background'], seed: 12, steps: FAST },
    ];
    const jobs = await Promise.all(asks.map((a) => submit(base, a)));
    const done = await Promise.all(jobs.map((j) => readEvents(base, j.id).then(() => waitFinal(base, j.id))));
    expect(done.map((d) => d.state)).toEqual(['done', 'done', 'done']);
    // the second image of seed 11 is the first of seed 12 (seed + k), whichever job made it
    expect(await png(done[0].images[1].url).then(decodeImage)).toEqual(await png(done[2].images[0].url).then(decodeImage));
    const sequential = await generate('a blue square', { manager, seed: 5, steps: FAST });
    expect((await png(done[1].images[0].url).then(decodeImage)).data).toEqual(sequential[0].rgb);
  });

  it('keeps history across a restart; a job running at shutdown is reported cancelled', async () => {
    const before = (await api<{ jobs: JobSnapshot[] }>(base, '/api/jobs')).body.jobs;
    const finished = before.find((j) => j.state === 'done')!;
    const running = await submit(base, { kind: 'dream', prompts: ['a red circle'], steps: SLOW_JOB });
    await readUntil(running.id, (e) => e.type === 'progress');
    await server.close();
    await open();
    const after = (await api<{ jobs: JobSnapshot[] }>(base, '/api/jobs')).body.jobs;
    expect(after.length).toBe(before.length + 1);
    const old = after.find((j) => j.id === finished.id)!;
    expect(old.images.map((i) => i.url)).toEqual(finished.images.map((i) => i.url));
    expect(readParameters(await png(old.images[0].url))?.seed).toBe(finished.images[0].seed);
    expect(after.find((j) => j.id === running.id)).toMatchObject({ state: 'cancelled', error: 'the server shut down' });
    expect(after[0].createdAt >= after[after.length - 1].createdAt).toBe(true);
  });
});

/** Follows a job's events until `stop` matches one (then leaves the stream). */
async function readUntil(id: string, stop: (e: JobEvent) => boolean): Promise<void> {
  const r = await fetch(`${base}/api/jobs/${id}/events`);
  const reader = r.body!.getReader();
  const decoder = new TextDecoder();
  let text = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) throw new Error('the stream ended before the event came');
    text += decoder.decode(value, { stream: true });
    const events = text.split('\n\n').flatMap((b) => b.split('\n').filter((l) => l.startsWith('data: ')).map((l) => JSON.parse(l.slice(6)) as JobEvent));
    if (events.some(stop)) return reader.cancel();
  }
}
