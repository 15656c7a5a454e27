// The UNet's attention layers over NCHW feature maps (upstream rearranges 'b c h w -> b (h w) c'; a
// LayerNorm over c is ChanLayerNorm here and nn.Linear over c is a 1x1 conv):
// - CrossAttention (ResnetBlock.cross_attn.fn): 8 heads x 64, k/v per head from the conditioning tokens,
//   learned null k/v prepended, pb_relax_alpha 1024.
// - Attention (EinopsToAndFrom(Residual(Attention)), key `fn.fn`): attn_heads x attn_dim_head queries,
//   ONE shared k/v head (multi-query), learned null k/v prepended, pb_relax_alpha 128.
// - LinearAttention (Residual(LinearAttention), key `fn`): softmax(q) over features, softmax(k) over pixels.
// pb-relax (q * d^-0.5 / alpha, subtract the row max, * alpha) is exactly softmax(q k^T d^-0.5), which
// the fused attention kernel computes.
import {
  Tensor, add, attention, chanLayerNorm, chunk, concat, conv2d, expand, gelu, linear, matmul, permute, softmax, tidy,
} from '@dalle2/tensor';
import type { WeightScope } from '../weights.js';
import { conv1x1 } from './linear.js';
import type { Layer } from './blocks.js';

/** CrossAttention(dim, context_dim) as ResnetBlock builds it: upstream defaults heads=8, dim_head=64. */
export const CROSS_ATTN_HEADS = 8;
export const CROSS_ATTN_DIM_HEAD = 64;

/** Cross attention of x [B, C, H, W] to context tokens [B, L, ctxDim] (returns the update, not x + update). */
export type CrossLayer = (x: Tensor, context: Tensor) => Tensor;

/** [B, heads * D, H, W] -> [B, heads, H * W, D]. */
function toHeads(t: Tensor, heads: number): Tensor {
  const [B, C, H, W] = t.shape;
  return permute(t.reshape([B, heads, C / heads, H * W]), [0, 1, 3, 2]);
}

/** [B, heads, n, D] -> [B, heads * D, H, W]. */
function fromHeads(o: Tensor, H: number, W: number): Tensor {
  const [B, heads, , D] = o.shape;
  return permute(o, [0, 1, 3, 2]).reshape([B, heads * D, H, W]);
}

/** CrossAttention at `w` (`null_kv`, `norm.g`, `to_q`, `to_kv`, `to_out.0`, `to_out.1.g`). */
export function crossAttention(w: WeightScope, dim: number, contextDim: number): CrossLayer {
  const heads = CROSS_ATTN_HEADS;
  const D = CROSS_ATTN_DIM_HEAD;
  const inner = heads * D;
  const nullKv = w.get('null_kv', [2, D]);
  const normG = w.get('norm.g', [dim]);
  const toQ = w.get('to_q.weight', [inner, dim]);
  const toKv = w.get('to_kv.weight', [inner * 2, contextDim]);
  const toOut = w.get('to_out.0.weight', [dim, inner]);
  const outG = w.get('to_out.1.g', [dim]);
  return (x, context) =>
    tidy(x.rt, () => {
      const [B, , H, W] = x.shape;
      const L = context.shape[1];
      const q = toHeads(conv1x1(chanLayerNorm(x, normG), toQ), heads);
      // kv [B, L, 2, heads, D] with the null k/v (shared by all heads) prepended along L.
      const kv = linear(context, toKv).reshape([B, L, 2, heads, D]);
      const nul = expand(nullKv.reshape([1, 1, 2, 1, D]), [B, 1, 2, heads, D]);
      const [k, v] = chunk(permute(concat([nul, kv], 1), [2, 0, 3, 1, 4]), 2, 0).map((t) => t.reshape([B, heads, L + 1, D]));
      const o = attention(q, k, v, { scale: D ** -0.5 });
      return chanLayerNorm(conv1x1(fromHeads(o, H, W), toOut), outG);
    });
}

/** Residual multi-query self-attention (upstream `Attention`) at `w` (the `fn.fn` scope): x + attn(x). */
export function selfAttention(w: WeightScope, dim: number, heads: number, D: number): Layer {
  const nullKv = w.get('null_kv', [2, D]);
  const normG = w.get('norm.g', [dim]);
  const toQ = w.get('to_q.weight', [heads * D, dim]);
  const toKv = w.get('to_kv.weight', [2 * D, dim]);
  const toOut = w.get('to_out.0.weight', [dim, heads * D]);
  const outG = w.get('to_out.1.g', [dim]);
  return (x) =>
    tidy(x.rt, () => {
      const [B, , H, W] = x.shape;
      const n = H * W;
      const xn = chanLayerNorm(x, normG);
      const q = toHeads(conv1x1(xn, toQ), heads);
      // kv [B, 2D, H, W] -> [2, B, n, D], null k/v prepended along n.
      const kv = permute(conv1x1(xn, toKv).reshape([B, 2, D, n]), [1, 0, 3, 2]);
      const nul = expand(nullKv.reshape([2, 1, 1, D]), [2, B, 1, D]);
      const [k, v] = chunk(concat([nul, kv], 2), 2, 0).map((t) => t.reshape([B, 1, n + 1, D]));
      const o = attention(q, k, v, { scale: D ** -0.5 });
      return add(chanLayerNorm(conv1x1(fromHeads(o, H, W), toOut), outG), x);
    });
}

/**
 * Residual LinearAttention at `w` (the `fn` scope): x + to_out(gelu(attn)). Per (batch, head) with q, k,
 * v stored [c, n] (their conv layout): context^T = v k^T [e, d], out^T = scale * context^T q [e, n],
 * which is already the '(b h) (x y) d -> b (h d) x y' layout.
 */
export function linearAttention(w: WeightScope, dim: number, heads: number, D: number): Layer {
  const inner = heads * D;
  const normG = w.get('norm.g', [1, dim, 1, 1]);
  const toQkv = w.get('to_qkv.weight', [inner * 3, dim, 1, 1]);
  const toOut = w.get('to_out.0.weight', [dim, inner, 1, 1]);
  const outG = w.get('to_out.1.g', [1, dim, 1, 1]);
  return (x) =>
    tidy(x.rt, () => {
      const [B, , H, W] = x.shape;
      const qkv = conv2d(chanLayerNorm(x, normG), toQkv).reshape([B, 3, heads, D, H * W]);
      const [q0, k0, v] = chunk(permute(qkv, [1, 0, 2, 3, 4]), 3, 0).map((t) => t.reshape([B * heads, D, H * W]));
      const q = softmax(q0, 1); // over features
      const k = softmax(k0, 2); // over pixels
      const ctxT = matmul(v, k, { transB: true }); // [B*heads, e, d]
      const outT = matmul(ctxT, q, { alpha: D ** -0.5 }); // q * scale, folded into the product
      const out = gelu(outT.reshape([B, inner, H, W]));
      return add(chanLayerNorm(conv2d(out, toOut), outG), x);
    });
}
