import { describe, it, expect } from 'vitest';
import { Tensor } from '../src/tensor.js';
import type { DType } from '../src/dtype.js';
import { where, maskedFill } from '../src/ops/where.js';
import { whereRef, maskedFillRef } from '../src/cpu/elementwise.js';
import { testRuntime, randn, randInt } from './helpers.js';

// Selection copies values bit for bit, so results must equal the reference exactly (toEqual; NaN == NaN).

const numelOf = (s: number[]) => s.reduce((p, d) => p * d, 1);

/** cond, a, b shapes: equal (fast path), both-sided broadcast, rank 0, scalar-shaped, rank 6, empty. */
const TRIPLES: [number[], number[], number[]][] = [
  [[257], [257], [257]],
  [[3, 1, 5], [4, 1], []],
  [[1], [2, 3], [3]],
  [[2, 1, 1, 4], [1, 3, 1, 4], [2, 3, 5, 1]],
  [[], [7], [1]],
  [[], [], []],
  [[2, 1, 3, 1, 2, 1], [1, 2, 1, 3, 1, 2], [2, 2, 3, 3, 2, 2]],
  [[0, 4], [1, 4], [4]],
];

/** Host data of `dtype` (ints for i32, with NaN/-inf sprinkled into floats). */
function data(n: number, seed: number, dtype: DType): number[] {
  if (dtype === 'i32') return Array.from(randInt(n, seed, -1000, 1000));
  const v = Array.from(randn(n, seed, 4));
  if (n > 3) [v[1], v[2]] = [NaN, -Infinity];
  return v;
}

describe('where / maskedFill vs CPU reference', async () => {
  const rt = await testRuntime();
  const dtypes: DType[] = rt.hasF16 ? ['f32', 'f16', 'i32'] : ['f32', 'i32'];

  for (const dtype of dtypes) {
    it(`where ${dtype} broadcasting`, async () => {
      for (const [k, [sc, sa, sb]] of TRIPLES.entries()) {
        // Negative values are nonzero, hence true.
        const c = randInt(numelOf(sc), k + 1, -1, 2);
        const [a, b] = [data(numelOf(sa), k + 10, dtype), data(numelOf(sb), k + 20, dtype)];
        const out = where(Tensor.from(rt, c, sc, 'i32'), Tensor.from(rt, a, sa, dtype), Tensor.from(rt, b, sb, dtype));
        const ref = whereRef(c, sc, a, sa, b, sb, dtype);
        expect(out.shape, `[${sc}] [${sa}] [${sb}]`).toEqual(ref.shape);
        expect(out.dtype).toBe(dtype);
        expect(Array.from(await out.toFloat32()), `where ${dtype} [${sc}] [${sa}] [${sb}]`).toEqual(Array.from(ref.data));
      }
    });

    it(`maskedFill ${dtype} broadcasting`, async () => {
      const cases: [number[], number[], number][] = [
        [[2, 3, 4], [2, 3, 4], 5],
        [[2, 3, 4], [3, 1], -Infinity],
        [[2, 3, 4], [2, 1, 4], 0.1],
        [[5, 7], [], -2.75],
        [[4], [3, 4], 1e4], // torch's out-of-place masked_fill broadcasts x up to the mask
        [[3, 1], [1, 5], NaN],
      ];
      for (const [k, [sx, sm, value]] of cases.entries()) {
        const v = dtype === 'i32' ? (Number.isFinite(value) ? value : 9) : value;
        const x = data(numelOf(sx), k + 30, dtype);
        const m = randInt(numelOf(sm), k + 40, 0, 2);
        const out = maskedFill(Tensor.from(rt, x, sx, dtype), Tensor.from(rt, m, sm, 'i32'), v);
        const ref = maskedFillRef(x, sx, m, sm, v, dtype);
        expect(out.shape).toEqual(ref.shape);
        expect(Array.from(await out.toFloat32()), `maskedFill ${dtype} [${sx}] [${sm}] ${v}`).toEqual(Array.from(ref.data));
      }
    });
  }

  it('maskedFill on i32 truncates the value toward zero (torch)', async () => {
    const x = Tensor.from(rt, [1, 2, 3, 4], [4], 'i32');
    const m = Tensor.from(rt, [1, 0, 1, 0], [4], 'i32');
    expect(Array.from(await maskedFill(x, m, 7.9).read())).toEqual([7, 2, 7, 4]);
    expect(Array.from(await maskedFill(x, m, -7.9).read())).toEqual([-7, 2, -7, 4]);
  });

  it('errors name the op, shapes and dtypes', () => {
    const t = (shape: number[], dtype: DType = 'f32') => Tensor.from(rt, new Array<number>(numelOf(shape)).fill(1), shape, dtype);
    expect(() => where(t([3]), t([3]), t([3]))).toThrow(/where: cond dtype f32 not supported \(expected i32\)/);
    expect(() => where(t([3], 'i32'), t([3]), t([3], 'i32'))).toThrow(/where: dtype mismatch f32 \[3\] vs i32 \[3\]/);
    expect(() => where(t([2], 'i32'), t([3]), t([4]))).toThrow(/where: shapes \[2\], \[3\], \[4\] are not broadcastable/);
    expect(() => where(t([2, 1], 'i32'), t([1, 3]), t([2, 4]))).toThrow(/where: shapes \[2, 1\], \[1, 3\], \[2, 4\] are not broadcastable/);
    expect(() => maskedFill(t([3]), t([3]), 0)).toThrow(/maskedFill: mask dtype f32 not supported \(expected i32\)/);
    expect(() => maskedFill(t([2, 3]), t([2], 'i32'), 0)).toThrow(/maskedFill: shapes \[2, 3\] and \[2\] are not broadcastable/);
    expect(() => maskedFill(t([3], 'i32'), t([3], 'i32'), NaN)).toThrow(/maskedFill: scalar NaN is not an i32 value/);
  });
});
