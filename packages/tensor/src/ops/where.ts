// where(cond, a, b) (kernels/where.wgsl) and maskedFill (kernels/masked_fill.wgsl): selection with
// PyTorch broadcasting. Conditions/masks are i32 tensors (nonzero = true); there is no bool dtype.
import { Tensor } from '../tensor.js';
import { Uniforms, grid1d, expectDtype, expectSameDtype, sameRuntime, MAX_RANK } from './util.js';
import { broadcastLayout, layoutUniforms, computeType, scalarUniform } from './binary.js';

/** cond != 0 ? a : b elementwise; cond (i32), a and b broadcast together; a and b share a dtype. */
export function where(cond: Tensor, a: Tensor, b: Tensor): Tensor {
  const rt = sameRuntime('where', cond, a, b);
  expectDtype('where', cond, ['i32'], 'cond');
  expectSameDtype('where', a, b);
  const layout = broadcastLayout('where', [cond.shape, a.shape, b.shape]);
  const out = Tensor.empty(rt, layout.outShape, a.dtype);
  rt.run({
    kernel: 'where',
    defines: { T: a.dtype, BCAST: !layout.contiguous, R4: MAX_RANK / 4 },
    inputs: [cond, a, b],
    outputs: [out],
    uniforms: layoutUniforms(new Uniforms().u32(out.size, layout.shape.length), layout).build(),
    workgroups: grid1d(rt, out.size),
  });
  return out;
}

/**
 * torch masked_fill: x with `value` wherever mask != 0. mask (i32) and x broadcast together (the result
 * takes the broadcast shape, as out-of-place torch does). For i32 x, value truncates toward zero like torch.
 */
export function maskedFill(x: Tensor, mask: Tensor, value: number): Tensor {
  const rt = sameRuntime('maskedFill', x, mask);
  expectDtype('maskedFill', mask, ['i32'], 'mask');
  const layout = broadcastLayout('maskedFill', [x.shape, mask.shape]);
  const out = Tensor.empty(rt, layout.outShape, x.dtype);
  const v = x.dtype === 'i32' ? Math.trunc(value) : value;
  const u = scalarUniform(new Uniforms().u32(out.size, layout.shape.length), 'maskedFill', x.dtype, v);
  rt.run({
    kernel: 'masked_fill',
    defines: { T: x.dtype, C: computeType(x.dtype), BCAST: !layout.contiguous, R4: MAX_RANK / 4 },
    inputs: [x, mask],
    outputs: [out],
    uniforms: layoutUniforms(u, layout).build(),
    workgroups: grid1d(rt, out.size),
  });
  return out;
}
