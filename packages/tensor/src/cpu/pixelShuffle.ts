// Plain TypeScript references for torch.nn.PixelShuffle / PixelUnshuffle over [..., C, H, W].
import { numel } from '../shape.js';

/** [..., C*r*r, H, W] -> [..., C, H*r, W*r]: out[c, h*r+i, w*r+j] = in[c*r*r + i*r + j, h, w]. */
export function pixelShuffleRef(x: Float32Array, shape: readonly number[], r: number): Float32Array {
  const [ci, h, w] = shape.slice(-3);
  const c = ci / (r * r);
  const batch = numel(shape.slice(0, -3));
  const y = new Float32Array(x.length);
  for (let b = 0; b < batch; b++)
    for (let k = 0; k < c; k++)
      for (let oh = 0; oh < h * r; oh++)
        for (let ow = 0; ow < w * r; ow++) {
          const ic = k * r * r + (oh % r) * r + (ow % r);
          const src = ((b * ci + ic) * h + Math.floor(oh / r)) * w + Math.floor(ow / r);
          y[((b * c + k) * h * r + oh) * w * r + ow] = x[src];
        }
  return y;
}

/** [..., C, H*r, W*r] -> [..., C*r*r, H, W], the inverse of pixelShuffleRef. */
export function pixelUnshuffleRef(x: Float32Array, shape: readonly number[], r: number): Float32Array {
  const [c, hr, wr] = shape.slice(-3);
  const h = hr / r;
  const w = wr / r;
  const batch = numel(shape.slice(0, -3));
  const y = new Float32Array(x.length);
  for (let b = 0; b < batch; b++)
    for (let oc = 0; oc < c * r * r; oc++)
      for (let oh = 0; oh < h; oh++)
        for (let ow = 0; ow < w; ow++) {
          const k = Math.floor(oc / (r * r));
          const i = Math.floor(oc / r) % r;
          const j = oc % r;
          const src = ((b * c + k) * hr + oh * r + i) * wr + ow * r + j;
          y[((b * c * r * r + oc) * h + oh) * w + ow] = x[src];
        }
  return y;
}
