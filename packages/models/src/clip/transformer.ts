// openai/CLIP `Transformer`: pre-LN residual attention blocks (packed in_proj, QuickGELU MLP).
import { add, linear, layerNorm, attention, permute, chunk, quickGelu, tidy, type Tensor } from '@dalle2/tensor';
import type { WeightScope } from '../weights.js';

/** nn.MultiheadAttention with packed in_proj; x [B, L, W] -> [B, L, W]. */
function multiHeadAttention(w: WeightScope, x: Tensor, heads: number, causal: boolean): Tensor {
  const [B, L, W] = x.shape;
  const D = W / heads;
  const qkv = linear(x, w.get('in_proj_weight', [3 * W, W]), w.get('in_proj_bias', [3 * W])); // [B, L, 3W]
  const heads3 = permute(qkv.reshape([B, L, 3, heads, D]), [2, 0, 3, 1, 4]); // [3, B, H, L, D]
  const [q, k, v] = chunk(heads3, 3, 0).map((t) => t.reshape([B, heads, L, D]));
  const o = attention(q, k, v, { causal }); // [B, H, L, D]
  const merged = permute(o, [0, 2, 1, 3]).reshape([B, L, W]);
  return linear(merged, w.get('out_proj.weight', [W, W]), w.get('out_proj.bias', [W]));
}

function mlp(w: WeightScope, x: Tensor, width: number): Tensor {
  const h = linear(x, w.get('c_fc.weight', [4 * width, width]), w.get('c_fc.bias', [4 * width]));
  return linear(quickGelu(h), w.get('c_proj.weight', [width, 4 * width]), w.get('c_proj.bias', [width]));
}

/** nn.LayerNorm over the last dim with the scope's `weight`/`bias` (eps 1e-5, as CLIP). */
export function layerNormScope(w: WeightScope, x: Tensor): Tensor {
  const width = x.shape[x.rank - 1];
  return layerNorm(x, w.get('weight', [width]), w.get('bias', [width]), { eps: 1e-5 });
}

/** One ResidualAttentionBlock: x + attn(ln_1(x)), then + mlp(ln_2(x)). */
export function residualAttentionBlock(w: WeightScope, x: Tensor, heads: number, causal: boolean): Tensor {
  const width = x.shape[2];
  return tidy(x.rt, () => {
    const h = add(x, multiHeadAttention(w.scope('attn'), layerNormScope(w.scope('ln_1'), x), heads, causal));
    return add(h, mlp(w.scope('mlp'), layerNormScope(w.scope('ln_2'), h), width));
  });
}

/** The block stack `<prefix>.resblocks.N`; disposes intermediate activations as it goes. */
export function transformer(w: WeightScope, x: Tensor, layers: number, heads: number, causal: boolean): Tensor {
  let h = x;
  for (let i = 0; i < layers; i++) {
    const next = residualAttentionBlock(w.scope('resblocks').scope(i), h, heads, causal);
    if (h !== x) h.dispose();
    h = next;
  }
  return h;
}
