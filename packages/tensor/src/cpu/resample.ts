// Direct (non-table) references for the resampling methods, written from the upstream formulas.
import { cubicKernel, type ResampleMethod } from '../resample/tables.js';

/** Value of output position j along an axis of length inLen -> outLen, reading `at(i)` (0 outside). */
function sample1d(method: ResampleMethod, at: (i: number) => number, inLen: number, outLen: number, j: number): number {
  const clampI = (i: number) => Math.min(Math.max(i, 0), inLen - 1);
  if (method === 'nearest') {
    const s = Math.fround(inLen / outLen);
    return at(Math.min(Math.floor(Math.fround(j * s)), inLen - 1));
  }
  if (method === 'bilinear') {
    const src = Math.max((j + 0.5) * (inLen / outLen) - 0.5, 0);
    const i0 = Math.min(Math.floor(src), inLen - 1);
    const l = src - i0;
    return (1 - l) * at(i0) + l * at(clampI(i0 + 1));
  }
  if (method === 'bicubic') {
    const src = (j + 0.5) * (inLen / outLen) - 0.5;
    const i = Math.floor(src);
    let acc = 0;
    for (let k = -1; k <= 2; k++) acc += cubicKernel(src - (i + k), -0.75) * at(clampI(i + k));
    return acc;
  }
  // cubic_aa: continuous-to-discrete projection (Shocher et al.), kernel stretched when downscaling.
  const scale = outLen / inLen;
  const centre = j / scale + (inLen - 1) / 2 - (outLen - 1) / (2 * scale);
  const stretch = Math.min(scale, 1);
  const radius = 2 / stretch;
  let acc = 0;
  let norm = 0;
  for (let i = Math.ceil(centre - radius - 1e-7); i <= Math.floor(centre + radius); i++) {
    const wt = stretch * cubicKernel(stretch * (centre - i), -0.5);
    norm += wt;
    acc += wt * (i >= 0 && i < inLen ? at(i) : 0);
  }
  return norm === 0 ? acc : acc / norm;
}

/** Reference resize of the last two axes of x (shape [..., H, W]) to [outH, outW], H first. */
export function resize2dRef(x: Float32Array, shape: readonly number[], size: readonly [number, number], method: ResampleMethod): Float32Array {
  const [H, W] = shape.slice(-2);
  const [oh, ow] = size;
  const planes = x.length / (H * W);
  const out = new Float32Array(planes * oh * ow);
  const tmp = new Float64Array(oh * W);
  for (let p = 0; p < planes; p++) {
    const base = p * H * W;
    for (let w = 0; w < W; w++) {
      for (let j = 0; j < oh; j++) {
        tmp[j * W + w] = oh === H ? x[base + j * W + w] : sample1d(method, (i) => x[base + i * W + w], H, oh, j);
      }
    }
    for (let j = 0; j < oh; j++) {
      for (let k = 0; k < ow; k++) {
        out[p * oh * ow + j * ow + k] = ow === W ? tmp[j * W + k] : sample1d(method, (i) => tmp[j * W + i], W, ow, k);
      }
    }
  }
  return out;
}
