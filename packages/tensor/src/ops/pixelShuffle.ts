// torch.nn.PixelShuffle / PixelUnshuffle over [..., C, H, W] (kernels/pixel_shuffle.wgsl, a pure gather,
// so every dtype works).
import { Tensor } from '../tensor.js';
import { shapeStr } from '../shape.js';
import { Uniforms, grid1d } from './util.js';

function checkArgs(op: string, x: Tensor, r: number): void {
  if (x.rank < 3) throw new Error(`${op}: input ${shapeStr(x.shape)} must be [..., C, H, W]`);
  if (!Number.isInteger(r) || r < 1) throw new Error(`${op}: factor ${r} must be a positive integer`);
}

function dispatch(x: Tensor, outShape: number[], r: number, unshuffle: boolean): Tensor {
  const rt = x.rt;
  const y = Tensor.empty(rt, outShape, x.dtype);
  if (y.size === 0) return y;
  const [cOut, hOut, wOut] = outShape.slice(-3);
  const [cIn, hIn, wIn] = x.shape.slice(-3);
  rt.run({
    kernel: 'pixel_shuffle',
    defines: { T: x.dtype, UNSHUFFLE: unshuffle },
    inputs: [x],
    outputs: [y],
    uniforms: new Uniforms().u32(y.size, r, cOut, hOut, wOut, cIn, hIn, wIn).build(),
    workgroups: grid1d(rt, y.size),
  });
  return y;
}

/** torch.nn.PixelShuffle(r): [..., C*r*r, H, W] -> [..., C, H*r, W*r]. */
export function pixelShuffle(x: Tensor, r: number): Tensor {
  const op = 'pixelShuffle';
  checkArgs(op, x, r);
  const [c, h, w] = x.shape.slice(-3);
  if (c % (r * r) !== 0) throw new Error(`${op}: input ${shapeStr(x.shape)}: channels ${c} not divisible by r^2 = ${r * r}`);
  return dispatch(x, [...x.shape.slice(0, -3), c / (r * r), h * r, w * r], r, false);
}

/** torch.nn.PixelUnshuffle(r): [..., C, H*r, W*r] -> [..., C*r*r, H, W]. */
export function pixelUnshuffle(x: Tensor, r: number): Tensor {
  const op = 'pixelUnshuffle';
  checkArgs(op, x, r);
  const [c, h, w] = x.shape.slice(-3);
  if (h % r !== 0 || w % r !== 0) throw new Error(`${op}: input ${shapeStr(x.shape)}: height ${h} and width ${w} must be divisible by r = ${r}`);
  return dispatch(x, [...x.shape.slice(0, -3), c * r * r, h / r, w / r], r, true);
}
