// Benchmark entry: `pnpm bench <suite> [--quick] [--filter <substr>]` (tsx, source conditions).
// Suites register below; each prints its table and writes bench/results/<suite>-<date>.json.
import { runKernelsSuite } from './kernels.js';
import { runClipSuite } from './clip.js';
import { runPriorSuite } from './prior.js';
import { runDecoderSuite } from './decoder.js';
import { runCompareSuite } from './compare.js';
import { runTuneSuite } from './tune.js';
import { parseBenchArgs, type BenchOptions } from './harness.js';

interface Suite {
  about: string;
  run: (opts: BenchOptions) => Promise<void>;
}

const SUITES: Record<string, Suite> = {
  kernels: { about: 'per-kernel ms, GFLOP/s, GB/s, peak memory (matmul, elementwise, reductions)', run: runKernelsSuite },
  clip: { about: 'CLIP text/image encode ms, peak memory (fixture CLIP, random ViT-L/14)', run: runClipSuite },
  prior: { about: 'prior ms per network step and per 64-step DDIM sample, batch 1/8 (fixture, random LAION-sized)', run: runPriorSuite },
  compare: { about: 'our kernels vs plain PyTorch ops (bench/torch_ops.py) on the same shapes: ms each, ours/torch', run: runCompareSuite },
  decoder: { about: 'decoder unet ms per forward and per DDIM step, f32/f16 (fixture, random LAION v1.0.2-shaped)', run: runDecoderSuite },
  tune: { about: "fill this adapter's tuning cache: kernel choices measured on the models' shapes (--quick: fixture models only)", run: runTuneSuite },
};

function usage(): string {
  const list = Object.entries(SUITES).map(([name, s]) => `  ${name.padEnd(10)} ${s.about}`);
  return ['usage: pnpm bench <suite> [--quick] [--filter <substr>]', 'suites:', ...list].join('\n');
}

async function main(): Promise<void> {
  const parsed = parseBenchArgs(process.argv.slice(2), Object.keys(SUITES));
  if ('error' in parsed) {
    console.error(`${parsed.error}\n${usage()}`);
    process.exitCode = 2;
    return;
  }
  await SUITES[parsed.suite].run(parsed.opts);
}

await main();
