// Rotary embedding in the layout x-clip 0.7.0 and CoCa-pytorch 0.0.6 use (not the interleaved pairs of
// rotary-embedding-torch): angles `cat(freqs, freqs)`, rotate_half swapping the two halves of the
// rotated features, t * cos + rotate_half(t) * sin. Only the first rotDim features rotate.
import { Tensor, add, mul, neg, concat, split, tidy, type Runtime } from '@dalle2/tensor';

export interface RotaryTables {
  cos: Tensor;
  sin: Tensor;
  rotDim: number;
}

/**
 * cos/sin [n, 2 * inv.length] of the angles (position s) * inv_freq, rounded to f32 per op as torch does
 * (the module's stored `inv_freq` buffer is used as is).
 */
export function rotaryTables(rt: Runtime, invFreq: Float32Array, n: number): RotaryTables {
  const half = invFreq.length;
  const rotDim = 2 * half;
  const cos = new Float32Array(n * rotDim);
  const sin = new Float32Array(n * rotDim);
  for (let s = 0; s < n; s++) {
    for (let j = 0; j < half; j++) {
      const a = Math.fround(s * invFreq[j]);
      for (const k of [j, j + half]) {
        cos[s * rotDim + k] = Math.cos(a);
        sin[s * rotDim + k] = Math.sin(a);
      }
    }
  }
  return { cos: Tensor.from(rt, cos, [n, rotDim]), sin: Tensor.from(rt, sin, [n, rotDim]), rotDim };
}

/** x [..., n, D] with rotary applied to features [0, rotDim). */
export function applyRotaryHalves(x: Tensor, r: RotaryTables): Tensor {
  const D = x.shape[x.rank - 1];
  return tidy(x.rt, () => {
    const [t, pass] = r.rotDim === D ? [x, undefined] : split(x, [r.rotDim, D - r.rotDim], -1);
    const [t1, t2] = split(t, [r.rotDim / 2, r.rotDim / 2], -1);
    const rotated = add(mul(t, r.cos), mul(concat([neg(t2), t1], -1), r.sin));
    return pass ? concat([rotated, pass], -1) : rotated;
  });
}
