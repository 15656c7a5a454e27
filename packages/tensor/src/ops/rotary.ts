// Rotary position embedding as in lucidrains' rotary-embedding-torch (the revision DALLE2-pytorch 1.1.0 uses):
// interleaved pairs, partial rotation of the first rotDim features (after an optional startIndex).
// kernels/rotary.wgsl computes cos/sin in f32 after reducing the angle to [-pi, pi].
import { Tensor } from '../tensor.js';
import { shapeStr } from '../shape.js';
import { Uniforms, grid1d, expectDtype, expectRank, sameRuntime } from './util.js';

/**
 * Host table of rotary angles [seqLen, 2 * floor(dim / 2)] as upstream builds it, float32 rounding per step:
 * inv = 1 / theta^(arange(0, dim, 2)[:dim//2] / dim); freqs = (arange(seqLen) + offset) (x) inv; each
 * column repeated twice ('... n -> ... (n r)', r = 2). `offset` starts the positions later.
 */
export function rotaryFreqs(seqLen: number, dim: number, theta = 10000, offset = 0): Float32Array {
  if (!Number.isInteger(seqLen) || seqLen < 0 || !Number.isInteger(dim) || dim < 2) {
    throw new Error(`rotaryFreqs: need integer seqLen >= 0 and dim >= 2, got seqLen ${seqLen}, dim ${dim}`);
  }
  const half = Math.floor(dim / 2);
  const f = Math.fround;
  // Rounds after each float32 op of the torch code: arange(...).float() / dim, theta ** e, 1. / p, t * inv.
  const inv = Array.from({ length: half }, (_, k) => f(1 / f(Math.pow(theta, f((2 * k) / dim)))));
  const out = new Float32Array(seqLen * 2 * half);
  for (let s = 0; s < seqLen; s++) {
    const t = f(s + offset);
    for (let k = 0; k < half; k++) {
      const a = f(t * inv[k]);
      out[s * 2 * half + 2 * k] = a;
      out[s * 2 * half + 2 * k + 1] = a;
    }
  }
  return out;
}

/**
 * Applies rotary embedding to x [..., seq, dim] with angles freqs [seq, rotDim] (see `rotaryFreqs`):
 * features [startIndex, startIndex + rotDim) become x * cos(f) + rotate_half(x) * sin(f), with
 * rotate_half(a, b) = (-b, a) per interleaved pair; other features pass through. freqs may be f32 or f16
 * (upstream casts freqs to x's dtype; f32 angles are more accurate for long sequences).
 */
export function applyRotary(x: Tensor, freqs: Tensor, startIndex = 0): Tensor {
  const op = 'applyRotary';
  sameRuntime(op, x, freqs);
  expectDtype(op, x, ['f32', 'f16']);
  expectDtype(op, freqs, ['f32', 'f16'], 'freqs');
  if (x.rank < 2) throw new Error(`${op}: input ${shapeStr(x.shape)} must be [..., seq, dim]`);
  expectRank(op, freqs, 2, 'freqs');
  const [seq, dim] = x.shape.slice(-2);
  const [fSeq, rot] = freqs.shape;
  if (fSeq !== seq) throw new Error(`${op}: input ${shapeStr(x.shape)} and freqs ${shapeStr(freqs.shape)}: seq ${seq} != ${fSeq}`);
  if (rot % 2 !== 0) throw new Error(`${op}: freqs ${shapeStr(freqs.shape)}: rotary dim ${rot} must be even (interleaved pairs)`);
  if (!Number.isInteger(startIndex) || startIndex < 0 || startIndex + rot > dim) {
    throw new Error(`${op}: input ${shapeStr(x.shape)} and freqs ${shapeStr(freqs.shape)}: features [${startIndex}, ${startIndex + rot}) exceed dim ${dim}`);
  }
  const rt = x.rt;
  const y = Tensor.empty(rt, x.shape, x.dtype);
  if (y.size === 0) return y;
  rt.run({
    kernel: 'rotary',
    defines: { T: x.dtype, TF: freqs.dtype },
    inputs: [x, freqs],
    outputs: [y],
    uniforms: new Uniforms().u32(x.size, dim, seq, rot, startIndex, 0, 0, 0).build(),
    workgroups: grid1d(rt, x.size),
  });
  return y;
}
