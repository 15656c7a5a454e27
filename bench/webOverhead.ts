// Measures what the web UI adds to a generation on the bundled model (2 prompts x 2 samples, default
// steps): decoder previews (every N steps: GPU readback, RGB conversion) and the job machinery (HTTP,
// queue, events, PNG and job.json writes) against generate() alone. Configurations are interleaved
// run by run, so load from other processes spreads over all of them.
// Usage: pnpm tsx --conditions=source bench/webOverhead.ts [runs]
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_MODEL_CONFIG, DalleModelManager, encodePng, generate, previewImages } from '@dalle2/dalle2';
import * as server from '@dalle2/dalle2/server';
import { Tensor } from '@dalle2/tensor';

const RUNS = Number(process.argv[2] ?? 5);
const manager = await DalleModelManager.load(DEFAULT_MODEL_CONFIG);
const prompts = ['a red circle on a white background', 'a blue square'];
const opts = { manager, seed: 1, samples: 2 };
const previews: Record<number, number> = { 1: 0, 4: 0 };
const dir = await mkdtemp(join(tmpdir(), 'dalle2-web-bench-'));
const s = await server.startServer({ manager, modelConfig: DEFAULT_MODEL_CONFIG, outputDir: dir, port: 0, previewEvery: 0 });

async function viaApi(): Promise<void> {
  const body = JSON.stringify({ kind: 'dream', prompts, samples: 2, seed: 1 });
  const job = (await (await fetch(`${s.url}/api/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body })).json()) as { id: string };
  for (;;) {
    const j = (await (await fetch(`${s.url}/api/jobs/${job.id}`)).json()) as { state: string };
    if (j.state !== 'queued' && j.state !== 'running') return;
    await new Promise((r) => setTimeout(r, 10));
  }
}

const configs: [string, () => Promise<unknown>][] = [
  ['generate(), no previews', () => generate(prompts, opts)],
  ['generate(), preview every 4 steps', () => generate(prompts, { ...opts, preview: { every: 4, onPreview: () => void previews[4]++ } })],
  ['generate(), preview every step', () => generate(prompts, { ...opts, preview: { every: 1, onPreview: () => void previews[1]++ } })],
  ['POST /api/jobs, poll until done', viaApi],
];
await generate(prompts, opts); // warm-up: kernel compilation
const times = configs.map((): number[] => []);
for (let r = 0; r < RUNS; r++) {
  for (const [i, [, run]] of configs.entries()) {
    const t0 = performance.now();
    await run();
    times[i].push(performance.now() - t0);
  }
}
const median = (ms: number[]) => [...ms].sort((a, b) => a - b)[Math.floor(ms.length / 2)];
const base = median(times[0]);
for (const [i, [label]] of configs.entries()) {
  const m = median(times[i]);
  const n = i === 1 ? previews[4] / RUNS : i === 2 ? previews[1] / RUNS : 0;
  const per = n > 0 ? `, ${n} previews/run, ${((m - base) / n).toFixed(0)} ms each` : '';
  console.log(`${label.padEnd(34)} median ${m.toFixed(0)} ms (${times[i].map((t) => t.toFixed(0)).join(', ')}); ${i === 0 ? 'baseline' : `${m - base >= 0 ? '+' : ''}${(((m - base) / base) * 100).toFixed(1)}%`}${per}`);
}
// one preview's own cost, apart from the step pipeline: readback of x_t and the unet output
// ([4, 3, 32, 32] each), predicted x_0 as RGB, PNG data URLs
const x = Tensor.from(manager.rt, new Float32Array(4 * 3 * 32 * 32).map(() => Math.random() * 2 - 1), [4, 3, 32, 32]).keep();
const keys = [0, 1, 2, 3].map((input) => ({ input, sample: 0 }));
const decoder = (await manager.decoder()).decoder;
const t0 = performance.now();
for (let i = 0; i < 50; i++) {
  for (const r of await previewImages(decoder, 1, { x, modelOutput: x, next: x, time: 10 }, keys)) `data:image/png;base64,${(await encodePng(r.image)).toString('base64')}`;
}
console.log(`one preview of 4 32x32 images (readbacks, x_0, RGB, PNG, base64): ${((performance.now() - t0) / 50).toFixed(1)} ms`);
x.dispose();
await s.close();
await rm(dir, { recursive: true, force: true });
await manager.dispose();
