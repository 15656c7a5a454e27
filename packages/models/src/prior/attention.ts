// DALLE2-pytorch 1.1.0 prior `Attention`: pre-LayerNorm, multi-query (one k/v head shared by all query
// heads), a learned null key/value prepended to the keys (always visible), rotary embedding on q and k,
// T5 relative-position bias, causal mask triu(j - i + 1), and "PB-relax" logits:
//   sim = (q * d^-0.5 / alpha) . k + bias;  sim -= amax(sim);  sim *= alpha;  softmax
// which is softmax(alpha * ((q * d^-0.5 / alpha) . k) + alpha * bias): the fused attention op gets
// the scaled q, scale = alpha and bias = alpha * rel_pos_bias (built once per forward by the caller).
import {
  Tensor, applyRotary, attention, chunk, concat, expand, linear, mulScalar, permute, sliceAxis,
} from '@dalle2/tensor';
import type { WeightScope } from '../weights.js';
import { layerNormWeight, priorLayerNorm } from './layers.js';

/** Attention's pb_relax_alpha (not configurable through DiffusionPriorNetwork). */
export const PB_RELAX_ALPHA = 128;

export interface AttentionWeights {
  heads: number;
  dimHead: number;
  norm: Tensor;
  /** [2, dim_head]: row 0 null key, row 1 null value. */
  nullKv: Tensor;
  toQ: Tensor;
  toKv: Tensor;
  toOut: Tensor;
  outNorm: Tensor;
}

/** Attention(dim, dim_head, heads) at scope `w` (`layers.N.0`). */
export function attentionWeights(w: WeightScope, dim: number, heads: number, dimHead: number): AttentionWeights {
  const inner = heads * dimHead;
  return {
    heads,
    dimHead,
    norm: layerNormWeight(w.scope('norm'), dim),
    nullKv: w.get('null_kv', [2, dimHead]),
    toQ: w.get('to_q.weight', [inner, dim]),
    toKv: w.get('to_kv.weight', [2 * dimHead, dim]),
    toOut: w.get('to_out.0.weight', [dim, inner]),
    outNorm: layerNormWeight(w.scope('to_out.1'), dim),
  };
}

/** Per-forward inputs shared by every layer. */
export interface AttentionContext {
  /** alpha * RelPosBias(n, n + 1): [H, n, n + 1]. */
  bias: Tensor;
  /** Rotary angles [n, rot] (see rotaryAngles), or undefined without rotary embedding. */
  rotary?: Tensor;
}

/** Upstream `[null; k]` along the sequence: k [B, n, d] -> [B, n + 1, d]. */
function prependNull(nullKv: Tensor, row: number, k: Tensor): Tensor {
  const [B, , d] = k.shape;
  const nk = expand(sliceAxis(nullKv, 0, row, row + 1).reshape([1, 1, d]), [B, 1, d]);
  return concat([nk, k], 1);
}

/** Attention.forward(x, attn_bias) without mask (DiffusionPriorNetwork never passes one): [B, n, dim] -> [B, n, dim]. */
export function priorAttention(p: AttentionWeights, x: Tensor, ctx: AttentionContext): Tensor {
  const [B, n] = x.shape;
  const { heads: H, dimHead: D } = p;
  const h = priorLayerNorm(p.norm, x);
  const qFlat = linear(h, p.toQ); // [B, n, H * D]
  let q = mulScalar(permute(qFlat.reshape([B, n, H, D]), [0, 2, 1, 3]), D ** -0.5 / PB_RELAX_ALPHA);
  let [k, v] = chunk(linear(h, p.toKv), 2, -1); // [B, n, D] each
  if (ctx.rotary) {
    q = applyRotary(q, ctx.rotary);
    k = applyRotary(k, ctx.rotary);
  }
  const kk = prependNull(p.nullKv, 0, k).reshape([B, 1, n + 1, D]);
  const vv = prependNull(p.nullKv, 1, v).reshape([B, 1, n + 1, D]);
  const o = attention(q, kk, vv, { scale: PB_RELAX_ALPHA, causal: true, bias: ctx.bias }); // [B, H, n, D]
  const merged = permute(o, [0, 2, 1, 3]).reshape([B, n, H * D]);
  return priorLayerNorm(p.outNorm, linear(merged, p.toOut));
}
