// x-clip 0.7.0 `Transformer`: norm_in, pre-norm attention / feed-forward residual layers, norm_out. Its
// LayerNorm is bias-less (gamma plus a zero `beta` buffer, used as saved), attention ends in a LayerNorm,
// and the feed-forward is GEGLU -> LayerNorm(inner) -> Linear.
import { add, mul, linear, layerNorm, attention, permute, chunk, gelu, tidy, type Tensor } from '@dalle2/tensor';
import type { WeightScope } from '../weights.js';
import type { StateDictSpec } from '../clip/strict.js';
import { applyRotaryHalves, type RotaryTables } from '../clip/rotaryHalves.js';
import type { Trace } from '../clip/types.js';
import { XCLIP_FF_MULT } from './config.js';

export interface XClipTransformerDims {
  dim: number;
  depth: number;
  heads: number;
  dimHead: number;
}

/** x-clip `LayerNorm`: F.layer_norm(x, gamma, beta), eps 1e-5. */
export function biaslessLayerNorm(w: WeightScope, x: Tensor): Tensor {
  return layerNorm(x, w.get('gamma'), w.get('beta'), { eps: 1e-5 });
}

/** The keys (and shapes) of a Transformer under `prefix`. */
export function transformerSpec(spec: StateDictSpec, prefix: string, d: XClipTransformerDims): void {
  const inner = d.heads * d.dimHead;
  const ff = d.dim * XCLIP_FF_MULT;
  const ln = (p: string, n: number) => {
    spec.set(`${p}.gamma`, [n]);
    spec.set(`${p}.beta`, [n]);
  };
  for (let i = 0; i < d.depth; i++) {
    const l = `${prefix}.layers.${i}`;
    ln(`${l}.0.norm`, d.dim);
    spec.set(`${l}.0.fn.to_qkv.weight`, [3 * inner, d.dim]);
    spec.set(`${l}.0.fn.to_out.0.weight`, [d.dim, inner]);
    ln(`${l}.0.fn.to_out.1`, d.dim);
    ln(`${l}.1.norm`, d.dim);
    spec.set(`${l}.1.fn.net.0.weight`, [2 * ff, d.dim]);
    ln(`${l}.1.fn.net.2`, ff);
    spec.set(`${l}.1.fn.net.4.weight`, [d.dim, ff]);
  }
  ln(`${prefix}.norm_in`, d.dim);
  ln(`${prefix}.norm_out`, d.dim);
}

/** `Attention` (no mask: the adapter never passes one); rotary, when given, turns q, k and v. */
function selfAttention(w: WeightScope, x: Tensor, heads: number, dimHead: number, rotary?: RotaryTables): Tensor {
  const [B, n] = x.shape;
  const qkv = linear(x, w.get('to_qkv.weight')); // [B, n, 3 * h * d]
  const split = permute(qkv.reshape([B, n, 3, heads, dimHead]), [2, 0, 3, 1, 4]); // [3, B, h, n, d]
  let [q, k, v] = chunk(split, 3, 0).map((t) => t.reshape([B, heads, n, dimHead]));
  if (rotary) [q, k, v] = [q, k, v].map((t) => applyRotaryHalves(t, rotary));
  const o = attention(q, k, v, { scale: dimHead ** -0.5 });
  const merged = permute(o, [0, 2, 1, 3]).reshape([B, n, heads * dimHead]);
  return biaslessLayerNorm(w.scope('to_out.1'), linear(merged, w.get('to_out.0.weight')));
}

/** `FeedForward`: Linear -> GEGLU (first half * gelu(second half)) -> LayerNorm -> Linear. */
function feedForward(w: WeightScope, x: Tensor): Tensor {
  const [h, gate] = chunk(linear(x, w.get('net.0.weight')), 2, -1);
  return linear(biaslessLayerNorm(w.scope('net.2'), mul(h, gelu(gate))), w.get('net.4.weight'));
}

/** Runs the Transformer at scope `w`; trace gets `layer<i>_input` and `final_residual`. */
export function xclipTransformer(w: WeightScope, x: Tensor, d: XClipTransformerDims, rotary?: RotaryTables, trace?: Trace): Tensor {
  let h = biaslessLayerNorm(w.scope('norm_in'), x);
  for (let i = 0; i < d.depth; i++) {
    trace?.(`layer${i}_input`, h);
    const l = w.scope(`layers.${i}`);
    const prev = h;
    h = tidy(x.rt, () => {
      const a = add(selfAttention(l.scope('0.fn'), biaslessLayerNorm(l.scope('0.norm'), prev), d.heads, d.dimHead, rotary), prev);
      return add(feedForward(l.scope('1.fn'), biaslessLayerNorm(l.scope('1.norm'), a)), a);
    });
    prev.dispose();
  }
  trace?.('final_residual', h);
  return biaslessLayerNorm(w.scope('norm_out'), h);
}
