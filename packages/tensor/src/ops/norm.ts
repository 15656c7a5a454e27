// Normalisation ops, math in f32 for f32 and f16 tensors:
// - groupNorm: torch.nn.GroupNorm (+ optional fused SiLU). Two dispatches: chunked Welford statistics per
//   (n, group) slice (kernels/group_norm_stats.wgsl), then merge + normalise (kernels/group_norm.wgsl), so
//   the big UNet groups (C/G x H x W = 40960+ elements) spread over many workgroups.
// - layerNorm: torch.nn.LayerNorm over the last dim, or DALLE2-pytorch's stable LayerNorm (one workgroup per row).
// - chanLayerNorm: DALLE2-pytorch's ChanLayerNorm over dim 1 of NCHW (gamma only).
// Both reductions shift values by the slice's first element, so inputs with a large mean (100 +- 0.01)
// normalise to f32 precision instead of losing digits to E[x^2] - E[x]^2 style cancellation.
import { Tensor } from '../tensor.js';
import type { DType } from '../dtype.js';
import { numel, shapeStr, sameShape } from '../shape.js';
import { Uniforms, grid1d, expectDtype, sameRuntime } from './util.js';

export interface GroupNormOptions {
  /** Added to the variance inside the square root (torch default 1e-5). */
  eps?: number;
  /** Activation fused after the affine: 'silu' gives GroupNorm -> SiLU as in the UNet's ResnetBlock. */
  act?: 'none' | 'silu';
}

export interface LayerNormOptions {
  /** Added to the (biased) variance inside the square root; default 1e-5. */
  eps?: number;
  /** DALLE2-pytorch's `stable=True`: divide each slice by its max (amax, not abs max) before normalising. */
  stable?: boolean;
}

/** Elements per GroupNorm chunk: at least 8 per thread of a 256-thread workgroup; at most 256 chunks per slice (one partial per thread when merging). */
const GN_MIN_CHUNK = 2048;
const GN_MAX_CHUNKS = 256;
const GN_WG = 256;

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
  const blocks = Math.ceil(spatial / 32); // kernels/layer_norm_chan.wgsl: 32 pixels x 8 channel lanes
  const totalWg = n * blocks;
  rt.run({
    kernel: 'layer_norm_chan',
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
