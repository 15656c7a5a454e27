// Softmax and log-softmax along any axis (kernels/softmax.wgsl), numerically stable (max subtracted),
// f32 math for f16 inputs too. Rows that are all -inf give NaN, as torch does.
import { Tensor } from '../tensor.js';
import { Uniforms, grid1d, expectDtype } from './util.js';
import { reduceAxisView, reduceTile } from './reduce.js';

function softmaxKernel(name: string, mode: 'softmax' | 'log_softmax', x: Tensor, axis: number): Tensor {
  expectDtype(name, x, ['f32', 'f16']);
  const v = reduceAxisView(x.shape, axis, name);
  const rt = x.rt;
  const y = Tensor.empty(rt, x.shape, x.dtype);
  const nout = v.outer * v.inner;
  if (nout === 0 || v.len === 0) return y;
  const tile = reduceTile(v.len, v.inner);
  const nblk = Math.ceil(nout / tile.tx);
  rt.run({
    kernel: 'softmax',
    defines: { T: x.dtype, MODE: mode, TX: tile.tx, TY: tile.ty },
    inputs: [x],
    outputs: [y],
    uniforms: new Uniforms().u32(v.outer, v.len, v.inner, nout, nblk).f32(NaN).build(),
    workgroups: grid1d(rt, nblk, 1),
  });
  return y;
}

/** exp(x - max) / sum(exp(x - max)) along `axis` (default last); all -inf rows give NaN like torch. */
export function softmax(x: Tensor, axis = -1): Tensor {
  return softmaxKernel('softmax', 'softmax', x, axis);
}

/** x - max - log(sum(exp(x - max))) along `axis` (default last); all -inf rows give NaN like torch. */
export function logSoftmax(x: Tensor, axis = -1): Tensor {
  return softmaxKernel('logSoftmax', 'log_softmax', x, axis);
}
