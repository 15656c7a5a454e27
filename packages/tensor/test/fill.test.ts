import { describe, it, expect } from 'vitest';
import { Tensor } from '../src/tensor.js';
import type { DType } from '../src/dtype.js';
import { fill, full, zeros, ones, fullLike, zerosLike, onesLike, arange } from '../src/ops/fill.js';
import { fillRef, arangeRef } from '../src/cpu/elementwise.js';
import { testRuntime, expectClose } from './helpers.js';

// fill writes the (f16-rounded) value exactly. arange computes start + i*step in f32: the GPU may round
// the product and the sum separately or fuse them, so allow 1 f32 ulp of the result (rtol 1.2e-7) plus
// 1 ulp of start's magnitude; f16 adds one f16 rounding (rtol 1e-3). i32 is exact.

/** Values as numbers: i32 read exactly (toFloat32 would round 2^31 - 1), f16 decoded. */
const hostValues = async (t: Tensor): Promise<number[]> => Array.from(t.dtype === 'i32' ? await t.read() : await t.toFloat32());

describe('fill / arange', async () => {
  const rt = await testRuntime();
  const dtypes: DType[] = rt.hasF16 ? ['f32', 'f16', 'i32'] : ['f32', 'i32'];
  const shapes = [[], [1], [3, 7], [257], [2, 3, 4, 5], [0, 3]];

  for (const dtype of dtypes) {
    it(`fill ${dtype}`, async () => {
      const values = dtype === 'i32' ? [0, 7, -3, 2.7, -2.7, 2 ** 31 - 1] : [0, 1, -2.5, 0.1, 1e30, -Infinity, NaN, 70000];
      for (const shape of shapes) {
        for (const v of values) {
          const y = fill(rt, shape, v, dtype);
          expect(y.shape).toEqual(shape);
          expect(y.dtype).toBe(dtype);
          expect(await hostValues(y), `fill ${dtype} [${shape}] ${v}`).toEqual(Array.from(fillRef(shape, v, dtype)));
        }
      }
    });
  }

  it('fill keeps the sign of -0', async () => {
    const y = await fill(rt, [3], -0).read();
    expect(Object.is(y[0], -0) && Object.is(y[2], -0)).toBe(true);
  });

  it('zeros / ones / full and the *Like helpers', async () => {
    expect(Array.from(await zeros(rt, [2, 2]).read())).toEqual([0, 0, 0, 0]);
    expect(Array.from(await ones(rt, [3], 'i32').read())).toEqual([1, 1, 1]);
    expect(Array.from(await full(rt, [2], 4.5).read())).toEqual([4.5, 4.5]);
    const x = Tensor.from(rt, [9, 9, 9, 9, 9, 9], [2, 3], 'i32');
    const likes = [fullLike(x, -4), zerosLike(x), onesLike(x, 'f32')];
    expect(likes.map((t) => [t.dtype, ...t.shape])).toEqual([['i32', 2, 3], ['i32', 2, 3], ['f32', 2, 3]]);
    expect(Array.from(await likes[0].read())).toEqual([-4, -4, -4, -4, -4, -4]);
    expect(Array.from(await likes[1].read())).toEqual([0, 0, 0, 0, 0, 0]);
    expect(Array.from(await likes[2].read())).toEqual([1, 1, 1, 1, 1, 1]);
  });

  it('arange vs reference', async () => {
    const cases: [number, DType, number, number][] = [
      [0, 'f32', 0, 1],
      [1, 'f32', 2, 1],
      [7, 'f32', -3, 0.25],
      [1000, 'f32', 0.5, 0.1],
      [4097, 'f32', 0, 1],
      [7, 'i32', 5, -3],
      [1031, 'i32', -100, 7],
      ...(rt.hasF16 ? ([[77, 'f16', -1, 0.125], [3000, 'f16', 0, 1]] as [number, DType, number, number][]) : []),
    ];
    for (const [n, dtype, start, step] of cases) {
      const y = arange(rt, n, dtype, start, step);
      expect(y.shape).toEqual([n]);
      const tol = dtype === 'f16' ? { atol: 0, rtol: 1e-3 } : { atol: Math.abs(start) * 1.2e-7, rtol: 1.2e-7 };
      expectClose(await hostValues(y), arangeRef(n, start, step, dtype), dtype === 'i32' ? { atol: 0, rtol: 0 } : tol, `arange ${n} ${dtype}`);
    }
    expect(Array.from(await arange(rt, 5).read())).toEqual([0, 1, 2, 3, 4]);
    expect(Array.from(await arange(rt, 4, 'i32').read())).toEqual([0, 1, 2, 3]);
  });

  it('errors', () => {
    expect(() => fill(rt, [2], NaN, 'i32')).toThrow(/fill: scalar NaN is not an i32 value/);
    expect(() => fill(rt, [2], 3e9, 'i32')).toThrow(/fill: scalar 3000000000 is not an i32 value/);
    expect(() => fill(rt, [2, -1], 0)).toThrow(/fill: invalid shape \[2, -1\]/);
    expect(() => arange(rt, -1)).toThrow(/arange: length -1 must be a non-negative integer/);
    expect(() => arange(rt, 4, 'i32', 0, 0.5)).toThrow(/arange: scalar 0.5 is not an i32 value/);
  });
});
