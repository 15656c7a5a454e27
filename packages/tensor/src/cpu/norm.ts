// Plain TypeScript references for the normalisation ops (float64 two-pass math, float32 in/out).
import { numel, shapeStr } from '../shape.js';

export interface NormRefOptions {
  eps?: number;
  /** Divide each normalised slice by its max (amax, not abs max) first: DALLE2-pytorch's `stable` LayerNorm. */
  stable?: boolean;
  /** Activation applied after the affine (groupNorm only). */
  act?: 'none' | 'silu';
}

/**
 * Normalises `outer` x `inner` slices of length `len` read at stride `inner`: element k of slice (o, s)
 * sits at o * len * inner + k * inner + s. `chan(o, k, s)` gives the affine channel of that element.
 */
function normSlices(
  x: Float32Array,
  outer: number,
  len: number,
  inner: number,
  opts: NormRefOptions,
  affine: (v: number, o: number, k: number) => number,
): Float32Array {
  const y = new Float32Array(x.length);
  const eps = opts.eps ?? 1e-5;
  const vals = new Float64Array(len);
  for (let o = 0; o < outer; o++) {
    for (let s = 0; s < inner; s++) {
      const at = (k: number) => o * len * inner + k * inner + s;
      for (let k = 0; k < len; k++) vals[k] = x[at(k)];
      if (opts.stable) {
        let amax = -Infinity;
        for (let k = 0; k < len; k++) amax = Math.max(amax, vals[k]);
        // Upstream stores x / amax as a float32 tensor: keep that rounding, it dominates when the spread is tiny.
        for (let k = 0; k < len; k++) vals[k] = Math.fround(vals[k] / amax);
      }
      let mean = 0;
      for (let k = 0; k < len; k++) mean += vals[k];
      mean /= len;
      let m2 = 0;
      for (let k = 0; k < len; k++) m2 += (vals[k] - mean) ** 2;
      const rstd = 1 / Math.sqrt(m2 / len + eps);
      for (let k = 0; k < len; k++) {
        const v = affine((vals[k] - mean) * rstd, o, k);
        y[at(k)] = opts.act === 'silu' ? v / (1 + Math.exp(-v)) : v;
      }
    }
  }
  return y;
}

/** torch.nn.GroupNorm over x [N, C, ...spatial] (biased variance), optional per-channel affine and SiLU. */
export function groupNormRef(
  x: Float32Array,
  shape: readonly number[],
  numGroups: number,
  weight?: Float32Array,
  bias?: Float32Array,
  opts: NormRefOptions = {},
): Float32Array {
  const [n, c] = shape;
  if (shape.length < 2 || c % numGroups !== 0) throw new Error(`groupNormRef: bad shape ${shapeStr(shape)} for ${numGroups} groups`);
  const spatial = numel(shape.slice(2));
  const cg = c / numGroups;
  const len = cg * spatial;
  // Each (n, g) group is one contiguous slice; k / spatial is the channel within the group.
  return normSlices(x, n * numGroups, len, 1, opts, (v, o, k) => {
    const ch = (o % numGroups) * cg + Math.floor(k / spatial);
    return v * (weight ? weight[ch] : 1) + (bias ? bias[ch] : 0);
  });
}

/** torch.nn.LayerNorm over the last dim (weight/bias optional), or DALLE2's stable LayerNorm. */
export function layerNormRef(
  x: Float32Array,
  shape: readonly number[],
  weight?: Float32Array,
  bias?: Float32Array,
  opts: NormRefOptions = {},
): Float32Array {
  const d = shape[shape.length - 1];
  return normSlices(x, numel(shape) / d, d, 1, { ...opts, act: 'none' }, (v, _o, k) => {
    return v * (weight ? weight[k] : 1) + (bias ? bias[k] : 0);
  });
}

/** DALLE2's ChanLayerNorm: layer norm over dim 1 of [N, C, ...spatial], gamma only. */
export function chanLayerNormRef(
  x: Float32Array,
  shape: readonly number[],
  weight?: Float32Array,
  opts: NormRefOptions = {},
): Float32Array {
  const [n, c] = shape;
  const spatial = numel(shape.slice(2));
  return normSlices(x, n, c, spatial, { ...opts, act: 'none' }, (v, _o, k) => v * (weight ? weight[k] : 1));
}
