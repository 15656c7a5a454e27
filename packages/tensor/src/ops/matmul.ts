// Batched matmul with fused alpha / bias / activation: c = act(alpha * op(a) @ op(b) + bias).
// Four kernels share kernels/lib_matmul.wgsl: 'tiled' (workgroup-memory tiles, the GPU default),
// 'subgroup' (register tiles fed by subgroup shuffles, no workgroup memory: the CPU-driver default, e.g.
// lavapipe, where every memory load is per lane and barriers are costly), 'gemv' (split-K reduction
// over 4-row tiles, the GPU default for M <= 4 with B stored [N, K], i.e. batch-1 Linear layers) and
// 'gemv_sg' (the same shapes on one subgroup per workgroup, split K reduced by subgroupAdd: the
// CPU-driver default there).
import type { Runtime } from '../runtime.js';
import { Tensor } from '../tensor.js';
import { shapeStr, stridesOf } from '../shape.js';
import type { DType } from '../dtype.js';
import { Uniforms, expectDtype, expectSameDtype, fixedSubgroupSize, foldedGrid, sameRuntime } from './util.js';
import { registerTunable } from '../tuning.js';
import { fill } from './fill.js';

export type MatmulActivation = 'none' | 'relu' | 'gelu' | 'gelu_tanh' | 'quick_gelu' | 'silu';
export type MatmulVariant = 'tiled' | 'subgroup' | 'gemv' | 'gemv_sg';

export interface MatmulOptions {
  /** a is stored [..., K, M]. */
  transA?: boolean;
  /** b is stored [..., N, K] (PyTorch Linear weight layout [out, in]). */
  transB?: boolean;
  /** [N], added after scaling, before the activation. */
  bias?: Tensor;
  activation?: MatmulActivation;
  /** Scales the product (before bias). Default 1. */
  alpha?: number;
  /** Force a kernel (tests, benchmarks); default picks by device and shape. */
  variant?: MatmulVariant;
}

const ACTIVATIONS: readonly MatmulActivation[] = ['none', 'relu', 'gelu', 'gelu_tanh', 'quick_gelu', 'silu'];
const VARIANTS: readonly MatmulVariant[] = ['tiled', 'subgroup', 'gemv', 'gemv_sg'];
/** Batch dims the uniforms carry (rank <= 8 overall). */
const MAX_BATCH_RANK = 8;

/** Shapes after validation: one batched M x K by K x N product with per-dim batch strides. */
interface MatmulPlan {
  M: number;
  N: number;
  K: number;
  outShape: number[];
  batchShape: number[];
  aStrides: number[];
  bStrides: number[];
}

/** Matrix product of the last two dims with broadcast batch dims, fused alpha/bias/activation. */
export function matmul(a: Tensor, b: Tensor, opts: MatmulOptions = {}): Tensor {
  const rt = sameRuntime('matmul', a, b, ...(opts.bias ? [opts.bias] : []));
  expectDtype('matmul', a, ['f32', 'f16'], 'a');
  expectSameDtype('matmul', a, b);
  const activation = opts.activation ?? 'none';
  if (!ACTIVATIONS.includes(activation)) throw new Error(`matmul: unknown activation '${activation}'`);
  if (opts.variant !== undefined && !VARIANTS.includes(opts.variant)) {
    throw new Error(`matmul: unknown variant '${String(opts.variant)}' (expected ${VARIANTS.join(' | ')})`);
  }
  const plan = planMatmul(a.shape, b.shape, opts);
  if (opts.bias) checkBias(opts.bias, a, plan.N);
  const batch = plan.batchShape.reduce((x, y) => x * y, 1);
  if (plan.M === 0 || plan.N === 0 || batch === 0) return Tensor.empty(rt, plan.outShape, a.dtype);
  const variant = opts.variant ?? tunedVariant(rt, a, b, opts, plan) ?? defaultVariant(rt, plan.M, opts.transB === true);
  const kernel = kernelFor(rt, variant, plan, opts, a.dtype);
  const c = Tensor.empty(rt, plan.outShape, a.dtype);
  const tilesM = Math.ceil(plan.M / kernel.tileM);
  const u = new Uniforms()
    .u32(plan.M, plan.N, plan.K, tilesM, batch, plan.batchShape.length)
    .f32(opts.alpha ?? 1)
    .u32(0)
    .u32Array(plan.batchShape, MAX_BATCH_RANK)
    .u32Array(plan.aStrides, MAX_BATCH_RANK)
    .u32Array(plan.bStrides, MAX_BATCH_RANK);
  // vec4 stores where rows stay 16-byte aligned (never for gemv, whose threads store single columns).
  const cVec = !kernel.name.startsWith('matmul_gemv') && plan.N % 4 === 0;
  rt.run({
    kernel: kernel.name,
    defines: {
      ...kernel.defines, T: a.dtype, HAS_BIAS: opts.bias !== undefined, ACT: activation,
      CT: cVec ? `vec4<${a.dtype}>` : a.dtype, C_VEC: cVec, C_PICK: cVec ? '' : '.x',
    },
    inputs: [a, b, opts.bias ?? b],
    outputs: [c],
    uniforms: u.build(),
    workgroups: foldedGrid(rt, 'matmul', Math.ceil(plan.N / kernel.tileN), tilesM * batch),
  });
  return c;
}

/** PyTorch `F.linear`: x [..., in] times weight [out, in] transposed, plus bias [out]. */
export function linear(x: Tensor, weight: Tensor, bias?: Tensor, activation: MatmulActivation = 'none'): Tensor {
  return matmul(x, weight, { transB: true, bias, activation });
}

/** Kernels usable on this runtime ('subgroup' and 'gemv_sg' need a fixed subgroup size of at most 32). */
export function matmulVariants(rt: Runtime): MatmulVariant[] {
  return fixedSubgroupSize(rt) ? ['tiled', 'subgroup', 'gemv', 'gemv_sg'] : ['tiled', 'gemv'];
}

function planMatmul(aShape: readonly number[], bShape: readonly number[], opts: MatmulOptions): MatmulPlan {
  const desc = () => `a ${shapeStr(aShape)}${opts.transA ? ' (transA)' : ''} and b ${shapeStr(bShape)}${opts.transB ? ' (transB)' : ''}`;
  if (aShape.length < 2 || bShape.length < 2) throw new Error(`matmul: ${desc()}: both operands need rank >= 2`);
  const [ar, ac] = aShape.slice(-2);
  const [br, bc] = bShape.slice(-2);
  const [M, Ka] = opts.transA ? [ac, ar] : [ar, ac];
  const [Kb, N] = opts.transB ? [bc, br] : [br, bc];
  if (Ka !== Kb) throw new Error(`matmul: ${desc()}: inner dims ${Ka} != ${Kb}`);
  const aBatch = aShape.slice(0, -2);
  const bBatch = bShape.slice(0, -2);
  const rank = Math.max(aBatch.length, bBatch.length);
  if (rank > MAX_BATCH_RANK) throw new Error(`matmul: ${desc()}: more than ${MAX_BATCH_RANK} batch dims`);
  const pad = (s: number[]) => [...new Array<number>(rank - s.length).fill(1), ...s];
  const [ap, bp] = [pad(aBatch), pad(bBatch)];
  const batch = ap.map((d, i) => {
    const e = bp[i];
    if (d !== e && d !== 1 && e !== 1) {
      throw new Error(`matmul: ${desc()}: batch dims ${shapeStr(aBatch)} and ${shapeStr(bBatch)} are not broadcastable`);
    }
    return d === 1 ? e : d;
  });
  const outShape = [...batch, M, N];
  const as = stridesOf(ap).map((s, i) => (ap[i] === 1 ? 0 : s * M * Ka));
  const bs = stridesOf(bp).map((s, i) => (bp[i] === 1 ? 0 : s * Ka * N));
  const plan = collapseBatch({ M, N, K: Ka, outShape, batchShape: batch, aStrides: as, bStrides: bs });
  return opts.transA ? plan : foldBatchIntoRows(plan);
}

/** Drops size-1 batch dims and merges adjacent dims both operands traverse contiguously. */
function collapseBatch(plan: MatmulPlan): MatmulPlan {
  const dims: { n: number; a: number; b: number }[] = [];
  plan.batchShape.forEach((n, i) => {
    if (n === 1) return;
    const d = { n, a: plan.aStrides[i], b: plan.bStrides[i] };
    const last = dims[dims.length - 1];
    if (last && last.a === d.a * d.n && last.b === d.b * d.n) {
      last.n *= d.n;
      last.a = d.a;
      last.b = d.b;
    } else dims.push(d);
  });
  return { ...plan, batchShape: dims.map((d) => d.n), aStrides: dims.map((d) => d.a), bStrides: dims.map((d) => d.b) };
}

/** a [B, M, K] @ b [K, N] is one [B*M, K] @ [K, N] product: taller tiles, fewer partial ones. */
function foldBatchIntoRows(plan: MatmulPlan): MatmulPlan {
  const r = plan.batchShape.length;
  if (r !== 1 || plan.bStrides[0] !== 0 || plan.aStrides[0] !== plan.M * plan.K) return plan;
  return { ...plan, M: plan.M * plan.batchShape[0], batchShape: [], aStrides: [], bStrides: [] };
}

function checkBias(bias: Tensor, a: Tensor, N: number): void {
  if (bias.rank !== 1 || bias.shape[0] !== N) {
    throw new Error(`matmul: bias ${shapeStr(bias.shape)} must have shape [N] = [${N}]`);
  }
  if (bias.dtype !== a.dtype) throw new Error(`matmul: bias dtype ${bias.dtype} != operand dtype ${a.dtype}`);
}

interface KernelChoice {
  name: string;
  defines: Record<string, string | number | boolean>;
  tileM: number;
  tileN: number;
}

function kernelFor(rt: Runtime, variant: MatmulVariant, plan: MatmulPlan, opts: MatmulOptions, dtype: DType): KernelChoice {
  if (variant === 'tiled') return tiledKernel(rt, plan, opts, dtype);
  const { M, N, K } = plan;
  const k4 = K > 0 && K % 4 === 0;
  const view = (vec: boolean) => (vec ? `vec4<${dtype}>` : dtype);
  // Loads along k are 4-deep only where B's loader yields 4 k values or A's vec4 pairs with a vector B
  // loader; scalar loaders stay 1-deep (on CPU drivers each per-lane load is a lot of code).
  const bk4 = opts.transB === true && k4;
  if (variant === 'gemv' || variant === 'gemv_sg') {
    const loadB = opts.transB ? (k4 ? 'load_bc_k4' : 'load_bc_t') : 'load_bc_rm';
    const aVec = !opts.transA && bk4;
    const loadA = opts.transA ? 'load_a_t' : aVec ? 'load_a_k4' : 'load_a_rm';
    const common = {
      KS: bk4 ? 4 : 1, LOAD_A: loadA, LOAD_B: loadB, AT: view(aVec), BT: view(bk4), TRANS_A: opts.transA === true, TRANS_B: opts.transB === true,
    };
    if (variant === 'gemv_sg') {
      const sg = needSubgroups(rt, variant);
      // Rows per tile: all of a batch-1..4 product (no wasted loads). 4 columns per workgroup measured best on
      // lavapipe (3.7 GB/s at [1,768]x[3072,768]^T vs 3.0 for 8, 2.4 for 16 and 3.5 for 2).
      const mr = Math.min(4, M);
      return { name: 'matmul_gemv_sg', defines: { ...common, SG: sg, MR: mr, NC: 4 }, tileM: mr, tileN: 4 };
    }
    // A multiple of the 16 outputs per workgroup (the reduction's chunking needs it).
    const wg = Math.max(16, Math.min(128, rt.limits.maxComputeInvocationsPerWorkgroup, rt.limits.maxComputeWorkgroupSizeX) & ~15);
    return { name: 'matmul_gemv', defines: { ...common, WG: wg, NC: 4 }, tileM: 4, tileN: 4 };
  }
  const sg = needSubgroups(rt, variant);
  // About 32 vec4 accumulators per lane: enough rows to amortise the B loads, few enough to stay cheap.
  const ra = M <= sg || sg > 8 ? 1 : 2;
  const g = Math.max(1, Math.min(4, Math.floor(32 / (ra * sg))));
  const loadB = opts.transB ? (k4 ? 'load_b_k4' : 'load_b_t') : N % 4 === 0 ? 'load_b_n4' : 'load_b_rm';
  const bVec = loadB === 'load_b_k4' || loadB === 'load_b_n4';
  const aVec = !opts.transA && k4 && bVec;
  const loadA = opts.transA ? 'load_a_t' : aVec ? 'load_a_k4' : 'load_a_rm';
  const ks = aVec || bk4 ? 4 : 1;
  const defines = { SG: sg, RA: ra, G: g, KS: ks, LOAD_A: loadA, LOAD_B: loadB, AT: view(aVec), BT: view(bVec) };
  return { name: 'matmul_sg', defines, tileM: ra * sg, tileN: g * sg * 4 };
}

/** Largest tile config that fits the device limits and still gives the device enough workgroups. */
function tiledKernel(rt: Runtime, plan: MatmulPlan, opts: MatmulOptions, dtype: DType): KernelChoice {
  const { M, N, K } = plan;
  const lim = rt.limits;
  const configs = [
    { bm: 128, bn: 128, bk: 16, tm: 8, tn: 8 },
    { bm: 64, bn: 64, bk: 16, tm: 4, tn: 4 },
    { bm: 32, bn: 32, bk: 16, tm: 4, tn: 4 },
  ];
  const fits = configs.filter((t) => {
    const threads = (t.bm / t.tm) * (t.bn / t.tn);
    return (
      threads <= lim.maxComputeInvocationsPerWorkgroup &&
      t.bn / t.tn <= lim.maxComputeWorkgroupSizeX &&
      t.bm / t.tm <= lim.maxComputeWorkgroupSizeY &&
      (t.bm + t.bn) * t.bk * 4 <= lim.maxComputeWorkgroupStorageSize
    );
  });
  if (!fits.length) throw new Error(`matmul: no tile config fits the device limits (${rt.describe()})`);
  // Big tiles only when they still make a few dozen workgroups.
  const t = fits.find((c) => Math.ceil(M / c.bm) * Math.ceil(N / c.bn) >= 64) ?? fits[fits.length - 1];
  const k4 = K > 0 && K % 4 === 0;
  const fillA = opts.transA ? (M % 4 === 0 ? 'fill_a_t4' : 'fill_a_t') : k4 ? 'fill_a_k4' : 'fill_a_rm';
  const fillB = opts.transB ? (k4 ? 'fill_b_k4' : 'fill_b_t') : N % 4 === 0 ? 'fill_b_n4' : 'fill_b_rm';
  const view = (vec: boolean) => (vec ? `vec4<${dtype}>` : dtype);
  const defines = {
    BM: t.bm, BN: t.bn, BK: t.bk, TM: t.tm, TN: t.tn, FILL_A: fillA, FILL_B: fillB,
    AT: view(fillA.endsWith('4')), BT: view(fillB.endsWith('4')),
  };
  return { name: 'matmul', defines, tileM: t.bm, tileN: t.bn };
}

function needSubgroups(rt: Runtime, variant: MatmulVariant): number {
  const sg = fixedSubgroupSize(rt);
  if (!sg) throw new Error(`matmul: variant '${variant}' needs the subgroups feature with a fixed subgroup size <= 32 (${rt.describe()})`);
  return sg;
}

function defaultVariant(rt: Runtime, M: number, transB: boolean): MatmulVariant {
  if (rt.info.isSoftware && fixedSubgroupSize(rt)) return M <= 4 && transB ? 'gemv_sg' : 'subgroup';
  // gemv's threads split K, so its B reads coalesce only when B is stored [N, K].
  return M <= 4 && transB ? 'gemv' : 'tiled';
}


// ---------------------------------------------------------------- tuning

/** What tuning needs to rebuild a product's operands (JSON-safe). */
interface TuneSpec {
  dtype: DType;
  a: readonly number[];
  b: readonly number[];
  transA: boolean;
  transB: boolean;
  bias: boolean;
}

function tunedVariant(rt: Runtime, a: Tensor, b: Tensor, opts: MatmulOptions, plan: MatmulPlan): MatmulVariant | undefined {
  const spec: TuneSpec = { dtype: a.dtype, a: a.shape, b: b.shape, transA: opts.transA === true, transB: opts.transB === true, bias: opts.bias !== undefined };
  // The key is the planned product (batch dims folded as the kernels see them), not the raw shapes.
  const key = `${a.dtype} ${plan.M}x${plan.K}x${plan.N} batch[${plan.batchShape}] a[${plan.aStrides}] b[${plan.bStrides}]${spec.transA ? ' tA' : ''}${spec.transB ? ' tB' : ''}${spec.bias ? ' bias' : ''}`;
  return rt.tuning.lookup<MatmulVariant>('matmul', key, spec);
}

registerTunable('matmul', {
  candidates(rt, spec) {
    const s = spec as TuneSpec;
    const M = s.transA ? s.a[s.a.length - 1] : s.a[s.a.length - 2];
    const first = defaultVariant(rt, M, s.transB);
    // The skinny kernels only make sense (and finish quickly) for a few rows.
    return [first, ...matmulVariants(rt).filter((v) => v !== first && !(v.startsWith('gemv') && M > 16))];
  },
  prepare(rt, spec) {
    const s = spec as TuneSpec;
    const a = fill(rt, s.a, 0.5, s.dtype);
    const b = fill(rt, s.b, 0.5, s.dtype);
    const N = s.transB ? s.b[s.b.length - 2] : s.b[s.b.length - 1];
    const bias = s.bias ? fill(rt, [N], 0.5, s.dtype) : undefined;
    return {
      run: (choice) => matmul(a, b, { transA: s.transA, transB: s.transB, bias, variant: choice as MatmulVariant }).dispose(),
      dispose: () => {
        for (const t of [a, b, bias]) t?.dispose();
      },
    };
  },
  valid: (choice) => VARIANTS.includes(choice as MatmulVariant),
});
