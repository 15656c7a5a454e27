// Dtype conversion (kernels/cast.wgsl) between f32, f16 and i32, with WGSL conversion semantics.
import { Tensor } from '../tensor.js';
import { DTYPES, type DType } from '../dtype.js';
import { Uniforms, grid1d } from './util.js';

/** WGSL conversion expression over `x` for each (from, to) pair. */
function conversion(from: DType, to: DType): string {
  if (from === to) return 'x';
  // i32 -> f16 goes through f32 so out-of-range values become inf (a direct i32 -> f16 is unspecified);
  // |i| <= 65520 is exact in f32, so no double rounding where the f16 result is finite.
  if (from === 'i32' && to === 'f16') return 'f16(f32(x))';
  return `${to}(x)`;
}

/**
 * x converted to `dtype`: float -> i32 truncates toward zero (torch `.int()`) and, out of range,
 * clamps to [-2^31, 2^31 - 128] (WGSL: the largest f32 below 2^31); f32 -> f16 rounds to nearest
 * (overflow -> inf); i32 -> float rounds to nearest.
 * Always returns a new tensor, also when `dtype` equals x's (a copy, never a view or x itself).
 */
export function cast(x: Tensor, dtype: DType): Tensor {
  if (!DTYPES.includes(dtype)) throw new Error(`cast: unknown dtype ${String(dtype)} (expected ${DTYPES.join(' | ')})`);
  const rt = x.rt;
  const y = Tensor.empty(rt, x.shape, dtype);
  rt.run({
    kernel: 'cast',
    defines: { S: x.dtype, D: dtype, CONV: conversion(x.dtype, dtype) },
    inputs: [x],
    outputs: [y],
    uniforms: new Uniforms().u32(x.size).build(),
    workgroups: grid1d(rt, x.size),
  });
  return y;
}
