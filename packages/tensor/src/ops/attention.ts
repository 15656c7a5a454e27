// Fused multi-head attention: softmax(q k^T * scale + bias, masked) v with an online softmax over key
// groups, so memory never scales with Lq * Lk. Two kernels share kernels/lib_attention.wgsl: 'online'
// (kernels/attention.wgsl: every invocation reads the same K/V element, the GPU default) and 'subgroup'
// (kernels/attention_sg.wgsl: lanes load different keys and share them by subgroupShuffle, the default on
// CPU drivers such as lavapipe, where each lane's load is a separate scalar load). Semantics follow DALLE2-pytorch's
// Attention: multi-query K/V (one head shared by all query heads), additive bias before masking, masked
// logits filled with -FLT_MAX (a fully masked row averages all values uniformly, as torch does). f16
// tensors are computed in f32, so their fill is -FLT_MAX too where torch's f16 `sim` would use -65504:
// results differ only if real logits fall below -65504.
import { Tensor } from '../tensor.js';
import type { Runtime } from '../runtime.js';
import { shapeStr, broadcastShapes, broadcastStrides, sameShape } from '../shape.js';
import { Uniforms, grid1d, expectDtype, expectRank, expectSameDtype, fixedSubgroupSize, sameRuntime } from './util.js';

export interface AttentionOptions {
  /** Multiplies q k^T; default 1 / sqrt(D). */
  scale?: number;
  /** Row i sees keys j <= i + (Lk - Lq) (torch `ones(Lq, Lk).triu_(Lk - Lq + 1)` masks the rest). */
  causal?: boolean;
  /** i32 [B, Lk]; nonzero = attend (True = keep, as DALLE2-pytorch's `mask`). */
  keyPaddingMask?: Tensor;
  /** Additive f32/f16 bias broadcastable to [B, H, Lq, Lk], e.g. [H, Lq, Lk] or [B, 1, Lq, Lk]. */
  bias?: Tensor;
  /** Forces a kernel tiling (tests, benchmarks); default: chosen per adapter by `attentionTiling`. */
  tiling?: AttentionTiling;
  /** Forces a kernel (tests, benchmarks); default: 'subgroup' on CPU drivers with a fixed subgroup size. */
  variant?: AttentionVariant;
}

export type AttentionVariant = 'online' | 'subgroup';

/** Kernels usable on this runtime ('subgroup' needs a fixed subgroup size). */
export function attentionVariants(rt: Runtime): AttentionVariant[] {
  return fixedSubgroupSize(rt) ? ['online', 'subgroup'] : ['online'];
}

/** Rows per lane of the 'subgroup' kernel: 2 keeps q and the accumulators of D = 64 near the registers. */
const SG_ROWS = 2;

/**
 * Kernel shape: each invocation owns `rows` query rows, a workgroup has `invocations` of them, and
 * `unroll` runs the head-dim loops to the padded capacity (registers on GPUs; slow LLVM compiles on CPUs).
 */
export interface AttentionTiling {
  rows: 1 | 2 | 4;
  invocations: 16 | 32 | 64;
  unroll: boolean;
}

/** Largest head dim (D and Dv) the kernel keeps in registers. */
export const ATTENTION_MAX_HEAD_DIM = 128;

/**
 * Default tiling. On CPU adapters (lavapipe, SwiftShader: invocations are SIMD lanes) four rows per
 * invocation cut the per-FLOP load overhead by ~2x (B=1, H=8, L=1024, D=64: 1.0 s -> 0.53 s of CPU);
 * GPUs keep one row per invocation for parallelism (one K/V broadcast per warp instruction either way)
 * and unrolled head-dim loops so q and the accumulators can live in registers (not measured on a GPU yet).
 */
export function attentionTiling(rt: Runtime): AttentionTiling {
  return rt.info.isSoftware ? { rows: 4, invocations: 16, unroll: false } : { rows: 1, invocations: 64, unroll: true };
}

/** Private-array capacity (elements) for a head dim: powers of two bound the number of pipelines. */
function headCap(d: number): number {
  let cap = 8;
  while (cap < d) cap *= 2;
  return cap;
}

/** Whether tensors with rows of `d` elements can be bound as vec4 arrays (whole vec4s, aligned binding). */
function vec4Ok(d: number, ...ts: Tensor[]): boolean {
  const align = 4 * (ts[0].dtype === 'f16' ? 2 : 4);
  return d % 4 === 0 && ts.every((t) => t.binding().offset % align === 0);
}

interface AttnDims {
  B: number;
  H: number;
  Hk: number;
  Lq: number;
  Lk: number;
  D: number;
  Dv: number;
}

/** Checks q/k/v shapes and returns the problem dims; errors name the op and both shapes. */
function checkQkv(q: Tensor, k: Tensor, v: Tensor): AttnDims {
  expectDtype('attention', q, ['f32', 'f16'], 'q');
  expectSameDtype('attention', q, k);
  expectSameDtype('attention', q, v);
  expectRank('attention', q, 4, 'q [B, H, Lq, D]');
  expectRank('attention', k, 4, 'k [B, Hk, Lk, D]');
  expectRank('attention', v, 4, 'v [B, Hk, Lk, Dv]');
  const [B, H, Lq, D] = q.shape;
  const [Bk, Hk, Lk, Dk] = k.shape;
  const [Bv, Hv, Lv, Dv] = v.shape;
  const qk = `attention: q ${shapeStr(q.shape)} and k ${shapeStr(k.shape)}`;
  if (Bk !== B) throw new Error(`${qk}: batch ${B} != ${Bk}`);
  if (Dk !== D) throw new Error(`${qk}: head dims ${D} != ${Dk}`);
  if (Hk === 0 || H % Hk !== 0) throw new Error(`${qk}: key heads ${Hk} must divide query heads ${H}`);
  if (Bv !== Bk || Hv !== Hk || Lv !== Lk) {
    throw new Error(`attention: k ${shapeStr(k.shape)} and v ${shapeStr(v.shape)}: batch, heads and length must match`);
  }
  if (Lk === 0) throw new Error(`attention: k ${shapeStr(k.shape)} has no keys`);
  for (const [name, d] of [['D', D], ['Dv', Dv]] as const) {
    if (d < 1 || d > ATTENTION_MAX_HEAD_DIM) {
      throw new Error(`attention: head dim ${name} = ${d} (q ${shapeStr(q.shape)}, v ${shapeStr(v.shape)}) must be in 1..${ATTENTION_MAX_HEAD_DIM}`);
    }
  }
  return { B, H, Hk, Lq, Lk, D, Dv };
}

function checkMask(mask: Tensor, n: AttnDims): void {
  expectDtype('attention', mask, ['i32'], 'keyPaddingMask');
  if (!sameShape(mask.shape, [n.B, n.Lk])) {
    throw new Error(`attention: keyPaddingMask ${shapeStr(mask.shape)} must be [B, Lk] = ${shapeStr([n.B, n.Lk])}`);
  }
}

/** Bias strides over [B, H, Lq, Lk]; the bias may broadcast up to, never beyond, the logits' shape. */
function biasStrides(bias: Tensor, n: AttnDims): number[] {
  expectDtype('attention', bias, ['f32', 'f16'], 'bias');
  const target = [n.B, n.H, n.Lq, n.Lk];
  const what = `attention: bias ${shapeStr(bias.shape)} must broadcast to [B, H, Lq, Lk] = ${shapeStr(target)}`;
  if (bias.rank > 4) throw new Error(what);
  let ok = true;
  try {
    ok = sameShape(broadcastShapes(bias.shape, target, 'attention'), target);
  } catch {
    ok = false;
  }
  if (!ok) throw new Error(what);
  return broadcastStrides(bias.shape, target);
}

/** softmax(q k^T * scale + bias, masked) v: q [B, H, Lq, D], k [B, Hk, Lk, D], v [B, Hk, Lk, Dv] -> [B, H, Lq, Dv]. */
export function attention(q: Tensor, k: Tensor, v: Tensor, opts: AttentionOptions = {}): Tensor {
  const { keyPaddingMask: mask, bias } = opts;
  const rt = sameRuntime('attention', q, k, v, ...(mask ? [mask] : []), ...(bias ? [bias] : []));
  const n = checkQkv(q, k, v);
  if (mask) checkMask(mask, n);
  const [sb, sh, si, sj] = bias ? biasStrides(bias, n) : [0, 0, 0, 0];
  const scale = opts.scale ?? 1 / Math.sqrt(n.D);
  if (!Number.isFinite(scale)) throw new Error(`attention: scale ${scale} must be finite`);

  const out = Tensor.empty(rt, [n.B, n.H, n.Lq, n.Dv], q.dtype);
  const variant = opts.variant ?? (opts.tiling || !(rt.info.isSoftware && fixedSubgroupSize(rt)) ? 'online' : 'subgroup');
  if (variant !== 'online' && variant !== 'subgroup') throw new Error(`attention: unknown variant '${String(variant)}' (expected online | subgroup)`);
  const tiling = opts.tiling ?? attentionTiling(rt);
  const sg = variant === 'subgroup' ? fixedSubgroupSize(rt) : undefined;
  if (variant === 'subgroup' && !sg) throw new Error(`attention: variant 'subgroup' needs the subgroups feature with a fixed subgroup size (${rt.describe()})`);
  const rowsPerWorkgroup = sg ? sg * SG_ROWS : tiling.rows * tiling.invocations;
  const qBlocks = Math.ceil(n.Lq / rowsPerWorkgroup);
  const total = n.B * n.H * qBlocks;
  if (total === 0) return out;
  const vqk = vec4Ok(n.D, q, k);
  const vv = vec4Ok(n.Dv, v);
  const uniforms = new Uniforms()
    .u32(n.H, n.Hk, n.Lq, n.Lk, n.D, n.Dv, n.H / n.Hk, qBlocks, total)
    .i32(n.Lk - n.Lq)
    .f32(scale)
    .u32(0, sb, sh, si, sj)
    .build();
  const common = {
    T: q.dtype,
    QKT: vqk ? `vec4<${q.dtype}>` : q.dtype,
    VT: vv ? `vec4<${q.dtype}>` : q.dtype,
    BT: bias?.dtype ?? 'f32',
    VQK: vqk,
    VV: vv,
    CAUSAL: opts.causal === true,
    HAS_MASK: mask !== undefined,
    HAS_BIAS: bias !== undefined,
  };
  // The subgroup kernel's head-dim loops always run to their capacity: the exact chunk count, not a
  // power of two, wastes nothing (one pipeline per head dim in use).
  const defines = sg
    ? { ...common, SG: sg, R: SG_ROWS, DK4: Math.ceil(n.D / 4), DV4: Math.ceil(n.Dv / 4) }
    : { ...common, BQ: tiling.invocations, R: tiling.rows, UNROLL: tiling.unroll, DK4: headCap(n.D) / 4, DV4: headCap(n.Dv) / 4 };
  rt.run({
    kernel: sg ? 'attention_sg' : 'attention',
    defines,
    // Absent mask/bias bind q as a never-read placeholder (the layout always has five inputs).
    inputs: [q, k, v, mask ?? q, bias ?? q],
    outputs: [out],
    uniforms,
    workgroups: grid1d(rt, total, 1),
  });
  return out;
}
