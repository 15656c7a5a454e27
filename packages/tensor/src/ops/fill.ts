// Constant and ramp tensors written by a kernel (kernels/fill.wgsl): nothing is uploaded from the host.
import { Tensor } from '../tensor.js';
import type { DType } from '../dtype.js';
import type { Runtime } from '../runtime.js';
import { assertValidShape, type Shape } from '../shape.js';
import { Uniforms, grid1d } from './util.js';
import { computeType, scalarUniform } from './binary.js';

/** Writes start + i * step into a new tensor (i32: integer start/step required). */
function ramp(op: string, rt: Runtime, shape: Shape, start: number, step: number, dtype: DType): Tensor {
  assertValidShape(shape, op);
  const y = Tensor.empty(rt, shape, dtype);
  const u = scalarUniform(scalarUniform(new Uniforms().u32(y.size), op, dtype, start), op, dtype, step);
  rt.run({
    kernel: 'fill',
    defines: { T: dtype, C: computeType(dtype) },
    inputs: [],
    outputs: [y],
    uniforms: u.build(),
    workgroups: grid1d(rt, y.size),
  });
  return y;
}

/**
 * New tensor of `shape` with every element `value` (torch.full). f16 rounds the value to nearest; i32
 * truncates a fractional value toward zero like torch.
 */
export function fill(rt: Runtime, shape: Shape, value: number, dtype: DType = 'f32'): Tensor {
  return ramp('fill', rt, shape, dtype === 'i32' ? Math.trunc(value) : value, 0, dtype);
}

/** torch.full: same as fill. */
export const full = fill;

/** New tensor of zeros. */
export const zeros = (rt: Runtime, shape: Shape, dtype: DType = 'f32'): Tensor => fill(rt, shape, 0, dtype);

/** New tensor of ones. */
export const ones = (rt: Runtime, shape: Shape, dtype: DType = 'f32'): Tensor => fill(rt, shape, 1, dtype);

/** Tensor of x's shape (and dtype unless given) filled with `value`. */
export const fullLike = (x: Tensor, value: number, dtype: DType = x.dtype): Tensor => fill(x.rt, x.shape, value, dtype);

/** Zeros of x's shape (and dtype unless given). */
export const zerosLike = (x: Tensor, dtype: DType = x.dtype): Tensor => fill(x.rt, x.shape, 0, dtype);

/** Ones of x's shape (and dtype unless given). */
export const onesLike = (x: Tensor, dtype: DType = x.dtype): Tensor => fill(x.rt, x.shape, 1, dtype);

/**
 * 1-D tensor [start, start + step, ...] of n elements (computed as start + i * step in f32 or i32;
 * i32 needs integer start and step).
 */
export function arange(rt: Runtime, n: number, dtype: DType = 'f32', start = 0, step = 1): Tensor {
  if (!Number.isInteger(n) || n < 0) throw new Error(`arange: length ${n} must be a non-negative integer`);
  return ramp('arange', rt, [n], start, step, dtype);
}
