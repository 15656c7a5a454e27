// Benchmark entry: `pnpm bench <suite> [--quick] [--filter <substr>]` (tsx, source conditions).
// Suites register below; each prints its table and writes bench/results/<suite>-<date>.json.
import { runKernelsSuite } from './kernels.js';
import { parseBenchArgs, type BenchOptions } from './harness.js';

interface Suite {
  about: string;
  run: (opts: BenchOptions) => Promise<void>;
}

const SUITES: Record<string, Suite> = {
  kernels: { about: 'per-kernel ms, GFLOP/s, GB/s, peak memory (matmul, elementwise, reductions)', run: runKernelsSuite },
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
