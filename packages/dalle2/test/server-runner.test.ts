// The in-process JobRunner with a stand-in executor (no GPU): a failing job reports its error and the
// next job runs; queue order and positions; cancel before and while running; events in order; saves
// of a job land in order; close() drops the queue and stops the running job.
import { afterAll, describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InProcessRunner, JobStore, type ExecutorHooks, type JobEvent, type JobSpec } from '../src/server/index.js';
import type { GenerationParameters } from '../src/parameters.js';
import { removeTempDirs, tempDir } from './helpers/tmp.js';

afterAll(removeTempDirs);

const spec = (prompt: string): JobSpec => ({ kind: 'dream', prompts: [prompt], samples: 1, seed: 0, steps: {}, condScale: {} });
const params = { kind: 'dream', seed: 0, runSeed: 0, sample: 0, plan: { decoderSteps: [1], decoderCondScale: [1] }, model: { digest: 'x' }, software: 't' } as GenerationParameters;

/** Runs "steps" 10 ms apart; prompt "boom" fails, "slow" takes 100 steps. */
async function fakeExecutor(s: JobSpec, h: ExecutorHooks): Promise<void> {
  const prompt = s.kind === 'dream' ? s.prompts[0] : '';
  const steps = prompt === 'slow' ? 100 : 3;
  h.onStart(steps);
  for (let i = 0; i < steps; i++) {
    h.signal.throwIfAborted();
    if (prompt === 'boom' && i === 1) throw new Error('the decoder ran out of memory');
    h.onProgress({ stage: 'decoder', batch: 0, batches: 1, unet: 1, unets: 1, step: i, steps });
    await new Promise((r) => setTimeout(r, 10));
  }
  await h.onImage({ index: 0, png: Buffer.from('png'), seed: 0, parameters: params });
}

async function until(runner: InProcessRunner, id: string, states: string[]): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (states.includes((await runner.get(id))!.state)) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`job ${id} never reached ${states.join('/')}`);
}

describe('InProcessRunner', () => {
  it('reports a failed job and runs the next; positions move; cancel works queued and running', async () => {
    const dir = await tempDir('dalle2-runner-');
    const runner = await InProcessRunner.open(new JobStore(dir), fakeExecutor, { maxQueued: 3, imageUrl: (id, n) => `/files/${id}/${n}.png` });
    const events: JobEvent[] = [];
    const a = await runner.submit(spec('boom'));
    runner.subscribe(a.id, (e) => events.push(e));
    expect(a.state).toBe('running'); // the GPU was free: it started at once
    const b = await runner.submit(spec('fine'));
    const c = await runner.submit(spec('slow'));
    const d = await runner.submit(spec('dropped'));
    expect([a.state, b.position, c.position, d.position]).toEqual(['running', 1, 2, 3]);
    await expect(runner.submit(spec('one too many'))).rejects.toThrow(/queue is full/);
    expect((await runner.cancel(d.id))!.state).toBe('cancelled');
    await until(runner, a.id, ['failed']);
    expect((await runner.get(a.id))!.error).toBe('the decoder ran out of memory');
    expect(events.map((e) => (e.type === 'state' ? e.job.state : e.type))).toEqual(['progress', 'failed']);
    await until(runner, b.id, ['done']);
    expect((await runner.get(b.id))!.images).toEqual([{ index: 0, url: `/files/${b.id}/0.png`, seed: 0, parameters: params }]);
    await until(runner, c.id, ['running']);
    await new Promise((r) => setTimeout(r, 50));
    expect((await runner.cancel(c.id))!.cancelRequested).toBe(true);
    await until(runner, c.id, ['cancelled']);
    const saved = JSON.parse(await readFile(join(dir, c.id, 'job.json'), 'utf8')) as { state: string };
    expect(saved.state).toBe('cancelled');
    expect((await runner.list(10)).map((j) => j.id)).toEqual([d.id, c.id, b.id, a.id]);
    await runner.close();
  });

  it('close() cancels the queue and the running job; submit is refused afterwards', async () => {
    const runner = await InProcessRunner.open(new JobStore(await tempDir('dalle2-runner-')), fakeExecutor, { maxQueued: 3, imageUrl: () => '' });
    const running = await runner.submit(spec('slow'));
    const queued = await runner.submit(spec('slow'));
    await new Promise((r) => setTimeout(r, 30));
    await runner.close();
    expect((await runner.get(running.id))).toMatchObject({ state: 'cancelled', error: 'the server shut down' });
    expect((await runner.get(queued.id))).toMatchObject({ state: 'cancelled', error: 'the server shut down' });
    await expect(runner.submit(spec('late'))).rejects.toThrow(/shutting down/);
  });
});
