import { describe, it, expect } from 'vitest';
import { Tensor } from '../src/tensor.js';
import type { DType } from '../src/dtype.js';
import { cast } from '../src/ops/cast.js';
import { castRef } from '../src/cpu/elementwise.js';
import { testRuntime, randn, randInt } from './helpers.js';

// Conversions are exact or a single rounding, so results must equal the reference exactly.
// WGSL leaves the float rounding direction to the implementation; every GPU we target (and lavapipe)
// rounds to nearest even, which the reference implements.

describe('cast vs CPU reference', async () => {
  const rt = await testRuntime();
  const dtypes: DType[] = rt.hasF16 ? ['f32', 'f16', 'i32'] : ['f32', 'i32'];

  const sample = (dtype: DType, n: number, seed: number): number[] =>
    dtype === 'i32' ? Array.from(randInt(n, seed, -100000, 100000)) : Array.from(randn(n, seed, 300));

  for (const from of dtypes) {
    for (const to of dtypes) {
      it(`${from} -> ${to} random`, async () => {
        for (const [k, shape] of [[1], [7], [3, 257], []].entries()) {
          const n = shape.reduce((p, d) => p * d, 1);
          const x = sample(from, n, k + 1);
          const y = cast(Tensor.from(rt, x, shape, from), to);
          expect(y.dtype).toBe(to);
          expect(y.shape).toEqual(shape);
          expect(Array.from(await y.toFloat32()), `${from}->${to} [${shape}]`).toEqual(Array.from(castRef(x, from, to)));
        }
      });
    }
  }

  // WGSL clamps to the i32 range representable in f32: [-2^31, 2^31 - 128].
  it('float -> i32 truncates toward zero and saturates', async () => {
    const x = [1.5, -1.5, 2.9999, -2.9999, 0, -0, 0.49, -0.99, 1e10, -1e10, 2147483520, -2147483648, 1e-30, 123456.7];
    const y = await cast(Tensor.from(rt, x, [x.length]), 'i32').read();
    const want = [1, -1, 2, -2, 0, 0, 0, 0, 2147483520, -2147483648, 2147483520, -2147483648, 0, 123456];
    expect(Array.from(y)).toEqual(want);
    expect(Array.from(castRef(x, 'f32', 'i32'))).toEqual(want);
  });

  it('f32 -> f16 rounds to nearest even, overflows to inf, keeps subnormals and NaN', async () => {
    if (!rt.hasF16) return;
    const u = 2 ** -10; // f16 ulp at 1
    const x = [1 + u / 2, 1 + (3 * u) / 2, 1 + 0.7 * u, 1 + 0.3 * u, 65504, 65519, 1e6, -1e6, 2 ** -24, 2 ** -26, 3 * 2 ** -25, Infinity, NaN, -0];
    const want = [1, 1 + 2 * u, 1 + u, 1, 65504, 65504, Infinity, -Infinity, 2 ** -24, 0, 2 ** -23, Infinity, NaN, -0];
    const y = await cast(Tensor.from(rt, x, [x.length]), 'f16').toFloat32();
    expect(Array.from(y)).toEqual(want);
    expect(Array.from(castRef(x, 'f32', 'f16'))).toEqual(want);
  });

  it('i32 -> f32 / f16 round to nearest', async () => {
    const x = [2 ** 24 + 1, 2 ** 24 + 3, -(2 ** 31), 2049, 2051, 70000, -70000, 65504];
    expect(Array.from(await cast(Tensor.from(rt, x, [8], 'i32'), 'f32').read())).toEqual([2 ** 24, 2 ** 24 + 4, -(2 ** 31), 2049, 2051, 70000, -70000, 65504]);
    if (!rt.hasF16) return;
    const h = await cast(Tensor.from(rt, x, [8], 'i32'), 'f16').toFloat32();
    expect(Array.from(h)).toEqual([Infinity, Infinity, -Infinity, 2048, 2052, Infinity, -Infinity, 65504]);
  });

  it('same dtype returns a new tensor holding a copy', async () => {
    const x = Tensor.from(rt, [1.25, -3, 7], [3]);
    const y = cast(x, 'f32');
    expect(y).not.toBe(x);
    expect(y.binding().buffer === x.binding().buffer && y.binding().offset === x.binding().offset).toBe(false);
    x.dispose();
    expect(Array.from(await y.read())).toEqual([1.25, -3, 7]);
  });

  it('rejects unknown dtypes', () => {
    const x = Tensor.from(rt, [1], [1]);
    expect(() => cast(x, 'f64' as DType)).toThrow(/cast: unknown dtype f64 \(expected f32 \| f16 \| i32\)/);
  });
});
