// Small DALLE2-pytorch 1.1.0 prior modules: LayerNorm (gain only), FeedForward (SwiGLU), RelPosBias
// (T5 buckets) and the RotaryEmbedding angle table. Each module has a `...Weights` resolver (keys and
// shapes, checked at construction) and a forward function over the resolved tensors.
import {
  Tensor, layerNorm, linear, mul, silu, chunk, embedding, permute, mulScalar, arange, cast, expand, type Runtime,
} from '@dalle2/tensor';
import type { WeightScope } from '../weights.js';

/** eps of upstream `LayerNorm` (all prior norms use the default). */
const LN_EPS = 1e-5;

/** RelPosBias defaults used by CausalTransformer. */
export const REL_POS_NUM_BUCKETS = 32;
export const REL_POS_MAX_DISTANCE = 128;

/** Upstream `LayerNorm(dim, stable)`: gain `g` only, biased variance, optional divide-by-amax first. */
export function priorLayerNorm(g: Tensor, x: Tensor, stable = false): Tensor {
  return layerNorm(x, g, undefined, { eps: LN_EPS, stable });
}

/** The gain `g` [dim] of a LayerNorm at scope `w`. */
export function layerNormWeight(w: WeightScope, dim: number): Tensor {
  return w.get('g', [dim]);
}

export interface FeedForwardWeights {
  /** 0: LayerNorm(dim). */
  norm: Tensor;
  /** 1: Linear(dim, 2 * inner, bias=False). */
  proj: Tensor;
  /** 3: LayerNorm(inner) when normformer. */
  postNorm?: Tensor;
  /** 5: Linear(inner, dim, bias=False). */
  out: Tensor;
}

/** FeedForward(dim, mult, post_activation_norm) = nn.Sequential at scope `w` (indices as upstream). */
export function feedForwardWeights(w: WeightScope, dim: number, mult: number, normformer: boolean): FeedForwardWeights {
  const inner = Math.trunc(mult * dim);
  return {
    norm: layerNormWeight(w.scope(0), dim),
    proj: w.get('1.weight', [2 * inner, dim]),
    postNorm: normformer ? layerNormWeight(w.scope(3), inner) : undefined,
    out: w.get('5.weight', [dim, inner]),
  };
}

/** LayerNorm -> Linear -> SwiGLU (x * silu(gate)) -> [LayerNorm] -> (Dropout) -> Linear. */
export function feedForward(p: FeedForwardWeights, x: Tensor): Tensor {
  const h = linear(priorLayerNorm(p.norm, x), p.proj);
  const [a, gate] = chunk(h, 2, -1);
  let y = mul(a, silu(gate));
  if (p.postNorm) y = priorLayerNorm(p.postNorm, y);
  return linear(y, p.out);
}

/**
 * RelPosBias._relative_position_bucket for one relative position (key - query), with the float32
 * rounding of the torch code: n = max(-rel, 0); exact below num_buckets/2, log-spaced above.
 */
export function relPositionBucket(rel: number, numBuckets = REL_POS_NUM_BUCKETS, maxDistance = REL_POS_MAX_DISTANCE): number {
  const n = Math.max(-rel, 0);
  const maxExact = Math.floor(numBuckets / 2);
  if (n < maxExact) return n;
  const f = Math.fround;
  const ratio = f(f(Math.log(f(f(n) / maxExact))) / f(Math.log(maxDistance / maxExact)));
  const large = maxExact + Math.trunc(f(ratio * (numBuckets - maxExact)));
  return Math.min(large, numBuckets - 1);
}

/** Host bucket ids [i, j] for queries 0..i-1 against keys 0..j-1 (RelPosBias.forward(i, j)). */
export function relPositionBuckets(i: number, j: number, numBuckets = REL_POS_NUM_BUCKETS, maxDistance = REL_POS_MAX_DISTANCE): Int32Array {
  const ids = new Int32Array(i * j);
  for (let q = 0; q < i; q++) for (let k = 0; k < j; k++) ids[q * j + k] = relPositionBucket(k - q, numBuckets, maxDistance);
  return ids;
}

/** RelPosBias.forward(i, j) times `scale`: relative_attention_bias [buckets, H] -> bias [H, i, j]. */
export function relPosBias(table: Tensor, i: number, j: number, scale = 1): Tensor {
  const [buckets] = table.shape;
  const ids = relPositionBuckets(i, j, buckets, REL_POS_MAX_DISTANCE);
  const values = embedding(table, ids, { idsShape: [i, j] }); // [i, j, H]
  const bias = permute(values, [2, 0, 1]);
  return scale === 1 ? bias : mulScalar(bias, scale);
}

/**
 * RotaryEmbedding.forward(arange(seqLen)) from its `freqs` buffer [rot/2]: angles [seqLen, rot] in f32,
 * each frequency repeated twice ('... n -> ... (n r)'), as rotate_queries_or_keys uses them.
 */
export function rotaryAngles(rt: Runtime, freqs: Tensor, seqLen: number): Tensor {
  const half = freqs.shape[0];
  const inv = freqs.dtype === 'f32' ? freqs : cast(freqs, 'f32');
  const t = arange(rt, seqLen, 'f32').reshape([seqLen, 1]);
  const ang = mul(t, inv.reshape([1, half])); // one f32 multiply per entry, as torch's einsum outer product
  return expand(ang.reshape([seqLen, half, 1]), [seqLen, half, 2]).reshape([seqLen, 2 * half]);
}

/** Features RotaryEmbedding(dim = min(32, dim_head)) rotates: 2 * floor(min(32, dim_head) / 2). */
export function rotaryDim(dimHead: number): number {
  return 2 * Math.floor(Math.min(32, dimHead) / 2);
}
