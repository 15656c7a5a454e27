// Plain TypeScript reference for rotary position embedding (rotary-embedding-torch, interleaved pairs).
import { numel } from '../shape.js';

/**
 * out = x * cos(f) + rotate_half(x) * sin(f) on features [startIndex, startIndex + rotDim) of x [..., seq, dim],
 * where rotate_half maps each interleaved pair (a, b) to (-b, a); freqs is [seq, rotDim]. Float64 trig.
 */
export function applyRotaryRef(x: Float32Array, shape: readonly number[], freqs: Float32Array, startIndex = 0): Float32Array {
  const dim = shape[shape.length - 1];
  const seq = shape[shape.length - 2];
  const rotDim = freqs.length / seq;
  const rows = numel(shape) / dim;
  const y = Float32Array.from(x);
  for (let r = 0; r < rows; r++) {
    const s = r % seq;
    for (let j = 0; j < rotDim; j += 2) {
      const i = r * dim + startIndex + j;
      const a = x[i];
      const b = x[i + 1];
      const fa = freqs[s * rotDim + j];
      const fb = freqs[s * rotDim + j + 1];
      y[i] = a * Math.cos(fa) - b * Math.sin(fa);
      y[i + 1] = b * Math.cos(fb) + a * Math.sin(fb);
    }
  }
  return y;
}
