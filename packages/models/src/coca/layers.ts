// CoCa-pytorch 0.0.6 layers: ParallelTransformerBlock (one fused projection for multi-query attention
// and a SwiGLU feed-forward, rotary over the full head dim, causal) and the attention pooling
// CrossAttention (multi-query, single k/v head). LayerNorms are bias-less (zero `beta` buffers as saved).
import {
  Tensor, add, mul, linear, layerNorm, attention, permute, split, chunk, silu, expand, tidy,
} from '@dalle2/tensor';
import type { WeightScope } from '../weights.js';
import type { StateDictSpec } from '../clip/strict.js';
import { applyRotaryHalves, type RotaryTables } from '../clip/rotaryHalves.js';
import type { CoCaConfig } from './config.js';

export function cocaLayerNorm(w: WeightScope, x: Tensor): Tensor {
  return layerNorm(x, w.get('gamma'), w.get('beta'), { eps: 1e-5 });
}

function lnSpec(spec: StateDictSpec, p: string, n: number): void {
  spec.set(`${p}.gamma`, [n]);
  spec.set(`${p}.beta`, [n]);
}

/** Keys of a ParallelTransformerBlock at `p` (the `fn` of its Residual). */
export function parallelBlockSpec(spec: StateDictSpec, p: string, c: CoCaConfig): void {
  const inner = c.heads * c.dimHead;
  lnSpec(spec, `${p}.norm`, c.dim);
  spec.set(`${p}.rotary_emb.inv_freq`, [Math.ceil(c.dimHead / 2)]);
  spec.set(`${p}.fused_attn_ff_proj.weight`, [inner + 2 * c.dimHead + 2 * c.ffInner, c.dim]);
  spec.set(`${p}.attn_out.weight`, [c.dim, inner]);
  spec.set(`${p}.ff_out.1.weight`, [c.dim, c.ffInner]);
}

/** Keys of a CrossAttention at `p`: the pooling one has a context norm, the multimodal ones a parallel ff. */
export function crossAttentionSpec(spec: StateDictSpec, p: string, c: CoCaConfig, contextDim: number, pooling: boolean): void {
  const inner = c.heads * c.dimHead;
  lnSpec(spec, `${p}.norm`, c.dim);
  if (pooling) lnSpec(spec, `${p}.context_norm`, contextDim);
  spec.set(`${p}.to_q.weight`, [inner, c.dim]);
  spec.set(`${p}.to_kv.weight`, [2 * c.dimHead, contextDim]);
  spec.set(`${p}.to_out.weight`, [c.dim, inner]);
  if (!pooling) {
    spec.set(`${p}.ff.0.weight`, [2 * c.ffInner, c.dim]);
    spec.set(`${p}.ff.2.weight`, [c.dim, c.ffInner]);
  }
}

/** [B, n, h * d] -> [B, h, n, d]. */
const splitHeads = (t: Tensor, h: number, d: number) => permute(t.reshape([t.shape[0], t.shape[1], h, d]), [0, 2, 1, 3]);
/** [B, h, n, d] -> [B, n, h * d]. */
const mergeHeads = (t: Tensor) => permute(t, [0, 2, 1, 3]).reshape([t.shape[0], t.shape[2], t.shape[1] * t.shape[3]]);

/**
 * ParallelTransformerBlock(x) (without the residual): causal multi-query attention with rotary on q and
 * k, plus SwiGLU feed-forward, both from one LN(x). `bias` [B, 1, n, n] carries the extra attn_mask.
 */
export function parallelBlock(w: WeightScope, x: Tensor, c: CoCaConfig, rotary: RotaryTables, bias?: Tensor): Tensor {
  const [B, n] = x.shape;
  const d = c.dimHead;
  return tidy(x.rt, () => {
    const fused = linear(cocaLayerNorm(w.scope('norm'), x), w.get('fused_attn_ff_proj.weight'));
    const [qf, kf, vf, ff] = split(fused, [c.heads * d, d, d, 2 * c.ffInner], -1);
    const q = applyRotaryHalves(splitHeads(qf, c.heads, d), rotary);
    const k = applyRotaryHalves(kf.reshape([B, 1, n, d]), rotary);
    const o = attention(q, k, vf.reshape([B, 1, n, d]), { causal: true, scale: d ** -0.5, bias });
    const [h, gate] = chunk(ff, 2, -1);
    const ffOut = linear(mul(silu(gate), h), w.get('ff_out.1.weight'));
    return add(linear(mergeHeads(o), w.get('attn_out.weight')), ffOut);
  });
}

export interface PooledImage {
  contextNormed: Tensor;
  /** img_attn_pool output [B, Q + 1, dim] (no residual). */
  pooled: Tensor;
}

/** img_attn_pool(img_queries, image_tokens): LN(queries) attend to LN(context) through one k/v head. */
export function attentionPool(w: WeightScope, queries: Tensor, context: Tensor, c: CoCaConfig): PooledImage {
  const [B, Nt] = context.shape;
  const d = c.dimHead;
  return tidy(context.rt, () => {
    const q = splitHeads(linear(cocaLayerNorm(w.scope('norm'), expand(queries.reshape([1, ...queries.shape]), [B, ...queries.shape])), w.get('to_q.weight')), c.heads, d);
    const contextNormed = cocaLayerNorm(w.scope('context_norm'), context);
    const [k, v] = chunk(linear(contextNormed, w.get('to_kv.weight')), 2, -1).map((t) => t.reshape([B, 1, Nt, d]));
    const o = attention(q, k, v, { scale: d ** -0.5 });
    return { contextNormed, pooled: linear(mergeHeads(o), w.get('to_out.weight')) };
  });
}
