// Normalisation ops, math in f32 for f32 and f16 tensors:
// - groupNorm: torch.nn.GroupNorm (+ optional fused SiLU). Two dispatches: chunked Welford statistics per
//   (n, group) slice (kernels/group_norm_stats.wgsl), then merge + normalise (kernels/group_norm.wgsl), so
//   the big UNet groups (C/G x H x W = 40960+ elements) spread over many workgroups.
// - layerNorm: torch.nn.LayerNorm over the last dim, or DALLE2-pytorch's stable LayerNorm (one workgroup per row).
// - chanLayerNorm: DALLE2-pytorch's ChanLayerNorm over dim 1 of NCHW (gamma only).
// On CPU drivers with a fixed subgroup size (lavapipe) groupNorm and layerNorm use subgroup variants
// (kernels/*_sg.wgsl): one subgroup per workgroup, 4-vector loads, subgroupAdd instead of workgroup
// barriers (a coroutine switch there), when the layout allows vectors (spatial % 4 == 0, d % 4 == 0).
// Both reductions shift values by the slice's first element, so inputs with a large mean (100 +- 0.01)
// normalise to f32 precision instead of losing digits to E[x^2] - E[x]^2 style cancellation.
import { Tensor } from '../tensor.js';
import type { DType } from '../dtype.js';
import { numel, shapeStr, sameShape } from '../shape.js';
import type { Runtime } from '../runtime.js';
import { Uniforms, grid1d, expectDtype, sameRuntime, fixedSubgroupSize } from './util.js';
import { vec4Binding } from './vec.js';

/** 'portable': workgroup-memory reductions (any adapter); 'subgroup': the *_sg kernels (fixed subgroup size). */
export type NormVariant = 'portable' | 'subgroup';

export interface GroupNormOptions {
  /** Added to the variance inside the square root (torch default 1e-5). */
  eps?: number;
  /** Activation fused after the affine: 'silu' gives GroupNorm -> SiLU as in the UNet's ResnetBlock. */
  act?: 'none' | 'silu';
  /** Kernel variant (tests); default: 'subgroup' on CPU drivers with a fixed subgroup size when the layout allows it. */
  variant?: NormVariant;
}

export interface LayerNormOptions {
  /** Added to the (biased) variance inside the square root; default 1e-5. */
  eps?: number;
  /** DALLE2-pytorch's `stable=True`: divide each slice by its max (amax, not abs max) before normalising. */
  stable?: boolean;
  /** layerNorm kernel variant (tests); default as GroupNormOptions.variant. chanLayerNorm ignores it. */
  variant?: NormVariant;
}

/** Elements per GroupNorm chunk: at least 8 per thread of a 256-thread workgroup; at most 256 chunks per slice (one partial per thread when merging). */
const GN_MIN_CHUNK = 2048;
const GN_MAX_CHUNKS = 256;
const GN_WG = 256;
/** Subgroup variant: 4-vectors per chunk (32 KB of f32 per workgroup). */
const GN_SG_CHUNK4 = 2048;
/** Subgroup layerNorm: rows per workgroup so that each gets about this many elements. */
const LN_SG_ELEMS = 4096;
/** Subgroup layerNorm: most vectors per lane held in registers (layer_norm_sg_reg.wgsl); longer rows stream. */
const LN_SG_REG_VECS = 12;

/**
 * The subgroup size when the subgroup variant is to run: forced by `variant`, or by default on CPU
 * drivers with a fixed subgroup size when `fits` (vector layout, bindable as vectors); else undefined.
 */
function sgSize(op: string, rt: Runtime, variant: NormVariant | undefined, fits: boolean): number | undefined {
  if (variant === 'portable') return undefined;
  const sg = fixedSubgroupSize(rt);
  if (variant === 'subgroup') {
    if (!sg) throw new Error(`${op}: the subgroup variant needs a fixed subgroup size (this adapter has none)`);
    if (!fits) throw new Error(`${op}: the subgroup variant needs 4-vector rows (spatial % 4 == 0 / d % 4 == 0)`);
    return sg;
  }
  return rt.info.isSoftware && fits ? sg : undefined;
}

type Affine = Tensor | null | undefined;

/**
 * Checks optional affine tensors against their expected shape; returns the dtype the kernel declares for
 * them (their own, or x's when both are absent and the bindings are dummies).
 */
function affineDtype(op: string, x: Tensor, expected: string, fits: (s: readonly number[]) => boolean, params: [string, Affine][]): DType {
  let dtype: DType | undefined;
  for (const [name, t] of params) {
    if (!t) continue;
    sameRuntime(op, x, t);
    expectDtype(op, t, ['f32', 'f16'], name);
    if (!fits(t.shape)) throw new Error(`${op}: ${name} ${shapeStr(t.shape)} must be ${expected} for input ${shapeStr(x.shape)}`);
    if (dtype && dtype !== t.dtype) throw new Error(`${op}: weight and bias dtypes differ (${dtype} vs ${t.dtype})`);
    dtype = t.dtype;
  }
  return dtype ?? x.dtype;
}

/** torch.nn.GroupNorm over x [N, C, ...spatial]: biased variance per group of C/numGroups channels, then w[c], b[c]. */
export function groupNorm(x: Tensor, numGroups: number, weight?: Affine, bias?: Affine, opts: GroupNormOptions = {}): Tensor {
  const op = 'groupNorm';
  expectDtype(op, x, ['f32', 'f16']);
  if (x.rank < 2) throw new Error(`${op}: input ${shapeStr(x.shape)} must be [N, C, ...spatial]`);
  const [n, c] = x.shape;
  if (!Number.isInteger(numGroups) || numGroups < 1 || c % numGroups !== 0) {
    throw new Error(`${op}: input ${shapeStr(x.shape)}: C = ${c} channels not divisible by ${numGroups} groups`);
  }
  const tw = affineDtype(op, x, `[C] = [${c}]`, (s) => sameShape(s, [c]), [['weight', weight], ['bias', bias]]);
  const rt = x.rt;
  const y = Tensor.empty(rt, x.shape, x.dtype);
  if (y.size === 0) return y;
  const spatial = numel(x.shape.slice(2));
  const len = (c / numGroups) * spatial;
  const xv = spatial % 4 === 0 ? vec4Binding(x) : undefined;
  const yv = spatial % 4 === 0 ? vec4Binding(y) : undefined;
  const sg = sgSize(op, rt, opts.variant, !!(xv && yv));
  if (sg) {
    const len4 = len / 4;
    const chunks = Math.ceil(len4 / GN_SG_CHUNK4);
    const chunk4 = Math.ceil(len4 / chunks);
    const totalWg = n * numGroups * chunks;
    const workgroups = grid1d(rt, totalWg, 1);
    const partial = Tensor.empty(rt, [totalWg, 4], 'f32');
    rt.run({
      kernel: 'group_norm_stats_sg',
      defines: { T: x.dtype, SG: sg },
      inputs: [xv!],
      outputs: [partial],
      uniforms: new Uniforms().u32(len4, chunk4, chunks, totalWg).build(),
      workgroups,
    });
    rt.run({
      kernel: 'group_norm_sg',
      defines: { T: x.dtype, TW: tw, SG: sg, HAS_W: !!weight, HAS_B: !!bias, ACT: opts.act === 'silu' ? 'act_silu' : 'act_none' },
      inputs: [xv!, partial, weight ?? x, bias ?? x],
      outputs: [yv!],
      uniforms: new Uniforms()
        .u32(len4, chunk4, chunks, totalWg, spatial / 4, numGroups, c / numGroups)
        .f32(opts.eps ?? 1e-5)
        .build(),
      workgroups,
    });
    partial.dispose();
    return y;
  }
  const chunkLen = Math.max(GN_MIN_CHUNK, Math.ceil(len / GN_MAX_CHUNKS / GN_WG) * GN_WG);
  const chunks = Math.ceil(len / chunkLen);
  const totalWg = n * numGroups * chunks;
  const workgroups = grid1d(rt, totalWg * GN_WG, GN_WG);
  const partial = Tensor.empty(rt, [totalWg, 4], 'f32');
  rt.run({
    kernel: 'group_norm_stats',
    defines: { T: x.dtype },
    inputs: [x],
    outputs: [partial],
    uniforms: new Uniforms().u32(len, chunkLen, chunks, totalWg).build(),
    workgroups,
  });
  rt.run({
    kernel: 'group_norm',
    defines: { T: x.dtype, TW: tw, HAS_W: !!weight, HAS_B: !!bias, ACT: opts.act === 'silu' ? 'act_silu' : 'act_none' },
    inputs: [x, partial, weight ?? x, bias ?? x],
    outputs: [y],
    uniforms: new Uniforms()
      .u32(len, chunkLen, chunks, totalWg, spatial, numGroups, c / numGroups)
      .f32(opts.eps ?? 1e-5)
      .build(),
    workgroups,
  });
  partial.dispose(); // safe now: a later dispatch that reuses the buffer runs after these two
  return y;
}

/** torch.nn.LayerNorm over the last dim (weight and bias [D] optional), or DALLE2's stable LayerNorm. */
export function layerNorm(x: Tensor, weight?: Affine, bias?: Affine, opts: LayerNormOptions = {}): Tensor {
  const op = 'layerNorm';
  expectDtype(op, x, ['f32', 'f16']);
  if (x.rank < 1) throw new Error(`${op}: input ${shapeStr(x.shape)} needs at least one dim`);
  const d = x.shape[x.rank - 1];
  const tw = affineDtype(op, x, `[D] = [${d}]`, (s) => sameShape(s, [d]), [['weight', weight], ['bias', bias]]);
  const rt = x.rt;
  const y = Tensor.empty(rt, x.shape, x.dtype);
  if (y.size === 0) return y;
  const rows = x.size / d;
  const xv = d % 4 === 0 ? vec4Binding(x) : undefined;
  const yv = d % 4 === 0 ? vec4Binding(y) : undefined;
  const wv = weight ? vec4Binding(weight) : xv;
  const bv = bias ? vec4Binding(bias) : xv;
  const sg = sgSize(op, rt, opts.variant, !!(xv && yv && wv && bv));
  if (sg) {
    const rowsPerWg = Math.min(64, Math.max(1, Math.ceil(LN_SG_ELEMS / d)));
    // Rows of up to LN_SG_REG_VECS vectors per lane stay in registers (x read once, affine once per workgroup).
    const k = Math.ceil(d / 4 / sg);
    const reg = k <= LN_SG_REG_VECS;
    rt.run({
      kernel: reg ? 'layer_norm_sg_reg' : 'layer_norm_sg',
      defines: { T: x.dtype, TW: tw, SG: sg, HAS_W: !!weight, HAS_B: !!bias, STABLE: !!opts.stable, ...(reg ? { K: k } : {}) },
      inputs: [xv!, wv!, bv!],
      outputs: [yv!],
      uniforms: new Uniforms().u32(rows, d / 4, rowsPerWg).f32(opts.eps ?? 1e-5).build(),
      workgroups: grid1d(rt, Math.ceil(rows / rowsPerWg), 1),
    });
    return y;
  }
  // Short rows would leave most of a 256-thread workgroup idle.
  const wg = d <= 64 ? 64 : d <= 128 ? 128 : 256;
  rt.run({
    kernel: 'layer_norm',
    defines: { T: x.dtype, TW: tw, WG: wg, HAS_W: !!weight, HAS_B: !!bias, STABLE: !!opts.stable },
    inputs: [x, weight ?? x, bias ?? x],
    outputs: [y],
    uniforms: new Uniforms().u32(rows, d).f32(opts.eps ?? 1e-5).u32(0).build(),
    workgroups: grid1d(rt, rows, 1),
  });
  return y;
}

/** DALLE2's ChanLayerNorm: layer norm over dim 1 of x [N, C, ...spatial]; weight (gamma) [C] or [1, C, 1, ...]. */
export function chanLayerNorm(x: Tensor, weight?: Affine, opts: LayerNormOptions = {}): Tensor {
  const op = 'chanLayerNorm';
  expectDtype(op, x, ['f32', 'f16']);
  if (x.rank < 2) throw new Error(`${op}: input ${shapeStr(x.shape)} must be [N, C, ...spatial]`);
  const [n, c] = x.shape;
  const chanShape = x.shape.map((v, i) => (i === 1 ? v : 1));
  const fits = (s: readonly number[]) => sameShape(s, [c]) || sameShape(s, chanShape);
  const tw = affineDtype(op, x, `[${c}] or ${shapeStr(chanShape)}`, fits, [['weight', weight]]);
  const rt = x.rt;
  const y = Tensor.empty(rt, x.shape, x.dtype);
  if (y.size === 0) return y;
  const spatial = numel(x.shape.slice(2));
  const blocks = Math.ceil(spatial / 32); // kernels/chan_layer_norm.wgsl: 32 pixels x 8 channel lanes
  const totalWg = n * blocks;
  rt.run({
    kernel: 'chan_layer_norm',
    defines: { T: x.dtype, TW: tw, HAS_W: !!weight, STABLE: !!opts.stable },
    inputs: [x, weight ?? x],
    outputs: [y],
    uniforms: new Uniforms()
      .u32(c, spatial, blocks, totalWg)
      .f32(opts.eps ?? 1e-5)
      .u32(0, 0, 0)
      .build(),
    workgroups: grid1d(rt, totalWg, 1),
  });
  return y;
}
