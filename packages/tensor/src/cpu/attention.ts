// Naive float64 reference for the fused attention op: materialises each row of logits, fills masked
// entries with -FLT_MAX exactly as DALLE2-pytorch's masked_fill does, then softmax and the weighted sum.
import { broadcastStrides, type Shape } from '../shape.js';

/** A host array with its row-major shape. */
export interface AttentionRefInput {
  data: ArrayLike<number>;
  shape: Shape;
}

export interface AttentionRefOptions {
  scale?: number;
  causal?: boolean;
  /** [B, Lk], nonzero = attend. */
  keyPaddingMask?: AttentionRefInput;
  /** Broadcastable to [B, H, Lq, Lk]. */
  bias?: AttentionRefInput;
}

/** torch.finfo(torch.float32).max, the magnitude of the masked-logit fill. */
const F32_MAX = 3.4028234663852886e38;

/** softmax(q k^T * scale + bias, masked) v for q [B, H, Lq, D], k [B, Hk, Lk, D], v [B, Hk, Lk, Dv]. */
export function attentionRef(
  q: AttentionRefInput,
  k: AttentionRefInput,
  v: AttentionRefInput,
  opts: AttentionRefOptions = {},
): Float32Array {
  const [B, H, Lq, D] = q.shape;
  const [, Hk, Lk] = k.shape;
  const Dv = v.shape[3];
  const scale = opts.scale ?? 1 / Math.sqrt(D);
  const bs = opts.bias ? broadcastStrides(opts.bias.shape, [B, H, Lq, Lk]) : [0, 0, 0, 0];
  const mask = opts.keyPaddingMask?.data;
  const out = new Float32Array(B * H * Lq * Dv);
  const logits = new Float64Array(Lk);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const kvh = b * Hk + Math.floor(h / (H / Hk));
      for (let i = 0; i < Lq; i++) {
        const qo = ((b * H + h) * Lq + i) * D;
        let max = -Infinity;
        for (let j = 0; j < Lk; j++) {
          let s = 0;
          for (let d = 0; d < D; d++) s += q.data[qo + d] * k.data[(kvh * Lk + j) * D + d];
          s *= scale;
          if (opts.bias) s += opts.bias.data[b * bs[0] + h * bs[1] + i * bs[2] + j * bs[3]];
          const masked = (mask !== undefined && mask[b * Lk + j] === 0) || (opts.causal === true && j > i + (Lk - Lq));
          logits[j] = masked ? -F32_MAX : s;
          max = Math.max(max, logits[j]);
        }
        let sum = 0;
        for (let j = 0; j < Lk; j++) sum += logits[j] = Math.exp(logits[j] - max);
        const oo = ((b * H + h) * Lq + i) * Dv;
        for (let e = 0; e < Dv; e++) {
          let acc = 0;
          for (let j = 0; j < Lk; j++) acc += logits[j] * v.data[(kvh * Lk + j) * Dv + e];
          out[oo + e] = acc / sum;
        }
      }
    }
  }
  return out;
}
