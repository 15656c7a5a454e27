// DALLE2-pytorch 1.1.0 `CausalTransformer`: [init LayerNorm] -> depth x (x + Attention(x), x + FeedForward(x))
// -> stable LayerNorm -> project_out. One RelPosBias and one RotaryEmbedding are shared by all layers.
import { Tensor, add, linear, tidy, type Runtime } from '@dalle2/tensor';
import type { WeightScope } from '../weights.js';
import type { PriorNetConfig } from './config.js';
import { attentionWeights, priorAttention, PB_RELAX_ALPHA, type AttentionWeights, type AttentionContext } from './attention.js';
import {
  feedForwardWeights, feedForward, layerNormWeight, priorLayerNorm, relPosBias, rotaryAngles, rotaryDim,
  REL_POS_NUM_BUCKETS, type FeedForwardWeights,
} from './layers.js';

export interface CausalTransformerWeights {
  initNorm?: Tensor;
  /** rel_pos_bias.relative_attention_bias.weight [buckets, heads]. */
  relPosTable: Tensor;
  layers: { attn: AttentionWeights; ff: FeedForwardWeights }[];
  /** The shared RotaryEmbedding's `freqs` buffer [rot / 2]. */
  rotaryFreqs?: Tensor;
  norm?: Tensor;
  projectOut?: Tensor;
}

/** CausalTransformer(dim, depth, dim_head, heads, ff_mult, norm_in, norm_out, final_proj, normformer, rotary_emb) at `w`. */
export function causalTransformerWeights(w: WeightScope, c: PriorNetConfig): CausalTransformerWeights {
  const layers = [];
  let rotaryFreqs: Tensor | undefined;
  for (let i = 0; i < c.depth; i++) {
    const lw = w.scope('layers').scope(i);
    layers.push({
      attn: attentionWeights(lw.scope(0), c.dim, c.heads, c.dimHead),
      ff: feedForwardWeights(lw.scope(1), c.dim, c.ffMult, c.normformer),
    });
    // The state dict repeats the shared module's buffer under every layer; load_state_dict copies each
    // into the same module, so the last layer's copy is the one upstream computes with.
    if (c.rotaryEmb) rotaryFreqs = lw.get('0.rotary_emb.freqs', [rotaryDim(c.dimHead) / 2]);
  }
  return {
    initNorm: c.normIn ? layerNormWeight(w.scope('init_norm'), c.dim) : undefined,
    relPosTable: w.get('rel_pos_bias.relative_attention_bias.weight', [REL_POS_NUM_BUCKETS, c.heads]),
    layers,
    rotaryFreqs,
    norm: c.normOut ? layerNormWeight(w.scope('norm'), c.dim) : undefined,
    projectOut: c.finalProj ? w.get('project_out.weight', [c.dim, c.dim]) : undefined,
  };
}

/** Per-sequence-length tables: alpha * RelPosBias(n, n + 1) and the rotary angles for n positions. */
export function attentionContext(rt: Runtime, p: CausalTransformerWeights, n: number): AttentionContext {
  return {
    bias: relPosBias(p.relPosTable, n, n + 1, PB_RELAX_ALPHA),
    rotary: p.rotaryFreqs ? rotaryAngles(rt, p.rotaryFreqs, n) : undefined,
  };
}

/** The residual layers (after init_norm): [B, n, dim] -> [B, n, dim]; frees each layer's temporaries. */
export function causalTransformerLayers(p: CausalTransformerWeights, x: Tensor, ctx: AttentionContext): Tensor {
  let h = p.initNorm ? priorLayerNorm(p.initNorm, x) : x;
  for (const layer of p.layers) {
    const prev = h;
    h = tidy(x.rt, () => {
      const a = add(priorAttention(layer.attn, prev, ctx), prev);
      return add(feedForward(layer.ff, a), a);
    });
    if (prev !== x) prev.dispose();
  }
  return h;
}

/** Final stable LayerNorm and project_out, applied per token. */
export function causalTransformerHead(p: CausalTransformerWeights, x: Tensor): Tensor {
  const h = p.norm ? priorLayerNorm(p.norm, x, true) : x;
  return p.projectOut ? linear(h, p.projectOut) : h;
}
