// The `kernels` suite: per-kernel throughput on the current adapter. Each case allocates its inputs in
// `setup` (untimed) and records one run in `run`; the harness warms up (compiles), then times runs around
// `await rt.sync()`. To add a kernel, append a case to `kernelCases` (or a function that returns some).
import {
  Runtime, Tensor, add, matmul, matmulVariants, softmax, sum, unary, type DType, type MatmulOptions, type MatmulVariant,
} from '@dalle2/tensor';
import { nnCases } from './nnKernels.js';
import { formatTable, median, repPolicy, sample, writeResults, type BenchOptions, type BenchRow } from './harness.js';

export type Inputs = Record<string, Tensor>;

export interface KernelCase {
  /** Kernel (and variant) name, e.g. `matmul[tiled]`. */
  name: string;
  shape: string;
  dtype: DType;
  /** Floating-point operations per run (0 for pure data movement). */
  flops: number;
  /** Minimum bytes read plus written per run. */
  bytes: number;
  /** Part of `--quick` runs. */
  quick?: boolean;
  setup: (rt: Runtime) => Inputs;
  run: (inputs: Inputs) => Tensor | Tensor[];
}

const bpe = (d: DType) => (d === 'f16' ? 2 : 4);

/** Uniform [-1, 1) data from a fast LCG: large inputs upload quickly and reproducibly. */
export function rand(rt: Runtime, shape: number[], dtype: DType, seed = 1): Tensor {
  const n = shape.reduce((x, y) => x * y, 1);
  const data = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    data[i] = s / 2 ** 31 - 1;
  }
  return Tensor.from(rt, data, shape, dtype);
}

/** a [M, K] x b ([K, N], or [N, K] with transB) through `matmul` with the given options. */
export function matmulCase(M: number, K: number, N: number, dtype: DType, o: MatmulOptions & { quick?: boolean } = {}): KernelCase {
  const bShape = o.transB ? [N, K] : [K, N];
  const label = o.variant ? `matmul[${o.variant}]` : o.transB ? 'linear' : 'matmul';
  return {
    name: label,
    shape: `[${M},${K}]x[${bShape}]${o.transB ? 'ᵀ' : ''}`,
    dtype,
    flops: 2 * M * N * K,
    bytes: bpe(dtype) * (M * K + K * N + M * N),
    quick: o.quick,
    setup: (rt) => ({ a: rand(rt, [M, K], dtype, 1), b: rand(rt, bShape, dtype, 2) }),
    run: ({ a, b }) => matmul(a, b, { transB: o.transB, variant: o.variant }),
  };
}

function matmulCases(variants: readonly MatmulVariant[]): KernelCase[] {
  const cases: KernelCase[] = [];
  for (const dtype of ['f32', 'f16'] as const) {
    for (const n of [64, 128, 256, 512, 1024, 2048]) cases.push(matmulCase(n, n, n, dtype, { quick: n === 256 }));
    // Transformer layers: text tokens x MLP, batch-1 decode, UNet attention projections.
    cases.push(matmulCase(77, 768, 3072, dtype, { quick: dtype === 'f32' }));
    cases.push(matmulCase(1, 768, 768, dtype));
    cases.push(matmulCase(256, 320, 1280, dtype));
    cases.push(matmulCase(77, 768, 3072, dtype, { transB: true }));
  }
  // Kernel variants side by side (the default picks one per device and shape).
  for (const variant of variants) {
    cases.push(matmulCase(512, 512, 512, 'f32', { variant, quick: true }));
    cases.push(matmulCase(77, 768, 3072, 'f32', { variant, transB: true }));
    cases.push(matmulCase(1, 768, 3072, 'f32', { variant, transB: true }));
  }
  return cases;
}

/** y = f(x) style case: one input of `shape`, one output of the same size. */
function elementwiseCase(name: string, shape: number[], dtype: DType, flopsPerElem: number, run: (x: Tensor) => Tensor, quick = false): KernelCase {
  const n = shape.reduce((x, y) => x * y, 1);
  return {
    name, shape: `[${shape}]`, dtype, flops: flopsPerElem * n, bytes: 2 * n * bpe(dtype), quick,
    setup: (rt) => ({ x: rand(rt, shape, dtype) }),
    run: ({ x }) => run(x),
  };
}

function elementwiseCases(): KernelCase[] {
  const big = [4096, 4096]; // 16M elements
  const cases = [
    elementwiseCase('unary gelu', big, 'f32', 20, (x) => unary('gelu', x), true),
    elementwiseCase('unary exp', big, 'f32', 1, (x) => unary('exp', x)),
    elementwiseCase('unary gelu', big, 'f16', 20, (x) => unary('gelu', x)),
  ];
  const n = big[0] * big[1];
  cases.push({
    name: 'add (broadcast)', shape: '[4096,4096]+[4096]', dtype: 'f32', flops: n, bytes: 4 * (2 * n + big[1]),
    setup: (rt) => ({ a: rand(rt, big, 'f32', 1), b: rand(rt, [big[1]], 'f32', 2) }),
    run: ({ a, b }) => add(a, b),
  });
  cases.push({ ...elementwiseCase('sum (last axis)', big, 'f32', 1, (x) => sum(x, -1)), bytes: 4 * (n + big[0]) });
  cases.push(elementwiseCase('softmax (last axis)', big, 'f32', 5, (x) => softmax(x, -1)));
  return cases;
}

/** Every case of the suite, in table order. */
export async function kernelCases(rt: Runtime): Promise<KernelCase[]> {
  return [...matmulCases(matmulVariants(rt)), ...elementwiseCases(), ...nnCases(rand, rt)];
}

export async function runCase(rt: Runtime, c: KernelCase, opts: BenchOptions): Promise<BenchRow> {
  const row: BenchRow = { kernel: c.name, shape: c.shape, dtype: c.dtype, ms: NaN, gflops: NaN, gbps: NaN, peakBytes: 0, reps: 0 };
  if (c.dtype === 'f16' && !rt.hasF16) return { ...row, error: 'no shader-f16' };
  let inputs: Inputs = {};
  try {
    inputs = c.setup(rt);
    await rt.sync();
    rt.pool.resetPeak();
    const once = async () => {
      const out = c.run(inputs);
      await rt.sync();
      for (const t of [out].flat()) t.dispose();
    };
    await once(); // warm-up: pipeline compilation, first touch of the buffers
    const times = await sample(once, repPolicy(opts));
    const ms = median(times);
    return { ...row, ms, gflops: c.flops / ms / 1e6, gbps: c.bytes / ms / 1e6, peakBytes: rt.memory().peakInUse, reps: times.length };
  } catch (e) {
    return { ...row, error: (e instanceof Error ? e.message : String(e)).split('\n')[0].slice(0, 120) };
  } finally {
    for (const t of Object.values(inputs)) t.dispose();
    await rt.sync().catch(() => undefined);
    rt.pool.trim();
  }
}

/** `pnpm bench kernels`: prints the adapter and a results table, writes bench/results/kernels-<date>.json. */
export async function runKernelsSuite(opts: BenchOptions): Promise<void> {
  const rt = await Runtime.create();
  try {
    console.log(`adapter: ${rt.describe()}`);
    let cases = await kernelCases(rt);
    if (opts.quick) cases = cases.filter((c) => c.quick);
    if (opts.filter) cases = cases.filter((c) => `${c.name} ${c.shape} ${c.dtype}`.includes(opts.filter!));
    const rows: BenchRow[] = [];
    const t0 = performance.now();
    for (const c of cases) {
      rows.push(await runCase(rt, c, opts));
      if (process.stderr.isTTY) process.stderr.write(`\r${rows.length}/${cases.length} cases, ${((performance.now() - t0) / 1000).toFixed(0)} s`);
    }
    if (process.stderr.isTTY) process.stderr.write('\n');
    console.log(`${cases.length} cases in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
    console.log(formatTable(rows));
    const path = writeResults('kernels', { suite: 'kernels', date: new Date().toISOString(), adapter: rt.describe(), options: opts, rows });
    console.log(`results: ${path}`);
  } finally {
    await rt.destroy();
  }
}
