// The `tune` suite: fills this adapter's tuning cache (packages/tensor/src/tuning.ts). It runs one forward
// of each model at the batch sizes sampling uses, so the kernels meet the shapes a generation meets, then
// measures every candidate kernel/tiling for each shape and stores the winners keyed by adapter + driver.
// Later runs (tests, benches, generations) on the same adapter pick the stored choices.
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  DiffusionPriorNetwork, parsePriorNetConfig, parsePriorNetSection,
} from '@dalle2/models';
import type { BenchOptions } from './harness.js';
import { writeResults } from './harness.js';
import { disposeInputs, fixtureModels, inputs, laionModel } from './decoder.js';
import { PRIOR_FIXTURE_DIR, RANDOM_PRIORS } from './prior.js';
import { Runtime, Tensor, tune } from '@dalle2/tensor';
import { ModelBench, priorNetSpec, randomData, randomWeights, textEncodings } from './randomWeights.js';

/** Runs `forward` once per batch size and waits; only the shapes it meets matter. */
async function meetShapes(rt: Runtime, batches: readonly number[], forward: (batch: number) => Tensor): Promise<void> {
  for (const b of batches) {
    forward(b).dispose();
    await rt.sync();
  }
}

async function unetShapes(bench: ModelBench): Promise<void> {
  const models = [...fixtureModels(bench), ...(bench.opts.quick ? [] : [laionModel(bench)])];
  for (const m of models) {
    if (bench.opts.filter && !m.name.includes(bench.opts.filter)) continue;
    console.log(`collecting shapes: ${m.name}`);
    const loaded = await m.load('f32');
    try {
      // Guided sampling runs batch 2 (cond + null rows); plain forwards batch 1.
      await meetShapes(bench.rt, [1, 2], (b) => {
        const args = inputs(bench.rt, m, b, 500);
        try {
          return loaded.unet.forward(args);
        } finally {
          disposeInputs(args);
        }
      });
    } finally {
      loaded.dispose();
    }
  }
}

async function priorShapes(bench: ModelBench): Promise<void> {
  const rt = bench.rt;
  const nets: { name: string; load: () => Promise<{ net: DiffusionPriorNetwork; dispose: () => void }> }[] = [];
  const weightsPath = fileURLToPath(new URL('weights.safetensors', PRIOR_FIXTURE_DIR));
  const configPath = fileURLToPath(new URL('config.json', PRIOR_FIXTURE_DIR));
  if (existsSync(weightsPath) && existsSync(configPath)) {
    const config = parsePriorNetConfig(readFileSync(configPath, 'utf8'), configPath);
    nets.push({ name: 'prior-fixture', load: async () => {
      const net = await DiffusionPriorNetwork.fromSafetensors(rt, weightsPath, config);
      return { net, dispose: () => net.dispose() };
    } });
  }
  for (const r of RANDOM_PRIORS.filter((p) => !bench.opts.quick && p.quick)) {
    nets.push({ name: r.name, load: async () => {
      const config = parsePriorNetSection(r.prior.net, 'prior.net', r.name);
      const weights = randomWeights(rt, priorNetSpec(rt, config), r.name);
      return { net: new DiffusionPriorNetwork(weights, config), dispose: () => weights.dispose() };
    } });
  }
  for (const n of nets) {
    if (bench.opts.filter && !n.name.includes(bench.opts.filter)) continue;
    console.log(`collecting shapes: ${n.name}`);
    const { net, dispose } = await n.load();
    try {
      const { dim, maxTextLen } = net.config;
      await meetShapes(rt, [1, 8], (b) => {
        const textEmbed = Tensor.from(rt, randomData(b * dim, 11, 0.1), [b, dim]);
        const enc = textEncodings(rt, b, maxTextLen, dim, 12, 12);
        const x = Tensor.from(rt, randomData(b * dim, 13), [b, dim]);
        try {
          return net.forward({ textEmbed, textEncodings: enc, imageEmbed: x, timesteps: new Array<number>(b).fill(500) });
        } finally {
          for (const t of [textEmbed, enc, x]) t.dispose();
        }
      });
    } finally {
      dispose();
    }
  }
}

/** `pnpm bench tune [--quick] [--filter model]`: measure kernel choices for the models' shapes, save them. */
export async function runTuneSuite(opts: BenchOptions): Promise<void> {
  const rt = await Runtime.create();
  try {
    console.log(`adapter: ${rt.describe()}`);
    console.log(`tuning file: ${rt.tuning.file ?? '(in memory: DALLE2_TUNING=0)'} (${rt.tuning.size} stored shapes)`);
    const bench = new ModelBench(rt, opts, { caseMs: Infinity, suiteMs: Infinity });
    await unetShapes(bench);
    await priorShapes(bench);
    const misses = rt.tuning.misses();
    console.log(`${misses.length} new shapes to measure`);
    const t0 = performance.now();
    let done = 0;
    const results = await tune(rt, misses, {
      log: (line) => console.log(`[${++done}/${misses.length}] ${line}`),
    });
    const changed = results.filter((r) => JSON.stringify(r.choice) !== JSON.stringify(r.candidates[0]));
    const saved = results.reduce((s, r) => s + r.ms[0] - Math.min(...r.ms), 0);
    console.log(
      `tuned ${results.length} shapes in ${((performance.now() - t0) / 1000).toFixed(0)} s: ${changed.length} differ from the built-in choice ` +
        `(${saved.toFixed(1)} ms saved over one pass of each shape); ${rt.tuning.size} stored in ${rt.tuning.file ?? 'memory'}`,
    );
    const path = writeResults('tune', { suite: 'tune', date: new Date().toISOString(), adapter: rt.describe(), options: opts, results });
    console.log(`results: ${path}`);
  } finally {
    await rt.destroy();
  }
}
