import { describe, it, expect } from 'vitest';
import { Tensor } from '../src/tensor.js';
import { sum, mean, maxAxis, argmax, sumAll, meanAll, maxAll, reduceTile } from '../src/ops/reduce.js';
import { sumRef, meanRef, maxRef, argmaxRef } from '../src/cpu/reduce.js';
import { f16BitsToF32, f32ToF16Bits } from '../src/safetensors/halfFloat.js';
import { testRuntime, randn, randUniform, randInt, expectClose } from './helpers.js';

// Sums accumulate in f32 with an error-free TwoSum (hi, lo) pair, so results are within about one f32
// rounding of float64: 1e-6 relative (plus 1e-6 absolute for rows that cancel to ~0). Max and mean of
// exact inputs: same bound. f16: inputs are rounded to f16 first, so the reference uses the rounded
// values; the output rounding to f16 costs 2^-11 = 4.9e-4 relative, hence 1e-3.
const TOL = { atol: 1e-6, rtol: 1e-6 };
const TOL16 = { atol: 1e-3, rtol: 1e-3 };

const numel = (s: readonly number[]) => s.reduce((p, d) => p * d, 1);
const f16Round = (a: Float32Array) => f16BitsToF32(f32ToF16Bits(a));

const CASES: [number[], number[]][] = [
  [[1], [0, -1]],
  [[3, 1, 5], [0, 1, 2, -1]],
  [[7, 77, 3], [0, 1, 2, -2]],
  [[2, 4097], [1, 0]],
  [[2, 3, 5, 33], [2, -1]],
];

const OPS = [
  { name: 'sum', op: sum, ref: sumRef },
  { name: 'mean', op: mean, ref: meanRef },
  { name: 'maxAxis', op: maxAxis, ref: maxRef },
] as const;

describe('reductions', async () => {
  const rt = await testRuntime();

  describe('sum / mean / maxAxis', () => {
    for (const { name, op, ref } of OPS) {
      it(`${name} f32 over every axis kind`, async () => {
        for (const [ci, [shape, axes]] of CASES.entries()) {
          const data = randn(numel(shape), 10 + ci, 2);
          const x = Tensor.from(rt, data, shape);
          for (const axis of axes) {
            const y = op(x, axis);
            const a = axis < 0 ? axis + shape.length : axis;
            expect(y.shape).toEqual(shape.filter((_, i) => i !== a));
            expectClose(await y.read(), ref(data, shape, axis), TOL, `${name} ${shape} axis ${axis}`);
            y.dispose();
          }
          x.dispose();
        }
      });

      it(`${name} f16`, async () => {
        if (!rt.hasF16) return;
        for (const [shape, axis] of [[[7, 77, 3], 1], [[2, 4097], -1], [[5, 40], 0]] as const) {
          const data = f16Round(randn(numel(shape), 7, 2));
          const x = Tensor.from(rt, data, shape, 'f16');
          const y = op(x, axis);
          expect(y.dtype).toBe('f16');
          expectClose(await y.toFloat32(), f16Round(ref(data, shape, axis)), TOL16, `${name} f16 ${shape} axis ${axis}`);
        }
      });
    }

    it('keepDim keeps the axis as 1', async () => {
      const data = randn(3 * 4 * 5, 3);
      const x = Tensor.from(rt, data, [3, 4, 5]);
      const y = sum(x, -2, true);
      expect(y.shape).toEqual([3, 1, 5]);
      expectClose(await y.read(), sumRef(data, [3, 4, 5], 1), TOL, 'sum keepDim');
      expect(maxAxis(x, 0, true).shape).toEqual([1, 4, 5]);
      expect(mean(x, 2, true).shape).toEqual([3, 4, 1]);
    });

    it('many rows (131074 x 3) over both axes', async () => {
      const shape = [65537 * 2, 3];
      const data = randn(numel(shape), 5);
      const x = Tensor.from(rt, data, shape);
      for (const axis of [1, 0]) {
        expectClose(await sum(x, axis).read(), sumRef(data, shape, axis), TOL, `sum axis ${axis}`);
        expectClose(await maxAxis(x, axis).read(), maxRef(data, shape, axis), TOL, `max axis ${axis}`);
      }
    });

    it('folds grids past maxComputeWorkgroupsPerDimension', async () => {
      // Pretend the limit is 50 so a cheap problem needs a folded [x, y] grid with spare groups
      // (512 groups -> [47, 11]); the real device still runs it, and run() checks the same limit.
      const saved = rt.limits.maxComputeWorkgroupsPerDimension;
      rt.limits.maxComputeWorkgroupsPerDimension = 50;
      try {
        const shape = [65537 * 2, 3];
        const data = randn(numel(shape), 6);
        const x = Tensor.from(rt, data, shape);
        expectClose(await mean(x, -1).read(), meanRef(data, shape, -1), TOL, 'mean folded');
        expect(Array.from(await argmax(x, 1).read())).toEqual(Array.from(argmaxRef(data, shape, 1)));
        const wide = [3, 33, 2000]; // 6000 outputs, 32 per group: 188 groups
        const w = randn(numel(wide), 8);
        expectClose(await sum(Tensor.from(rt, w, wide), 1).read(), sumRef(w, wide, 1), TOL, 'sum folded inner');
      } finally {
        rt.limits.maxComputeWorkgroupsPerDimension = saved;
      }
    });

    it('long axes take the two-pass path and stay near float64', async () => {
      // 100k uniform [0, 1): a plain f32 running sum would be off by ~1e-5 relative.
      const n = 100_003;
      const u = randUniform(n, 11, 0, 1);
      const su = (await sumAll(Tensor.from(rt, u, [n])).read())[0];
      expectClose([su], sumRef(u, [n], 0), { atol: 0, rtol: 1e-6 }, 'sumAll uniform');
      // Cancelling randn: the (hi, lo) partials keep the error far below the result's magnitude.
      const g = randn(n, 12, 3);
      const x = Tensor.from(rt, g, [n]);
      expectClose(await sumAll(x).read(), sumRef(g, [n], 0), { atol: 1e-6, rtol: 1e-6 }, 'sumAll randn');
      expectClose(await meanAll(x).read(), meanRef(g, [n], 0), TOL, 'meanAll');
      expectClose(await maxAll(x).read(), maxRef(g, [n], 0), TOL, 'maxAll');
      expect(sumAll(x).shape).toEqual([]);
      // Split axis with an inner dimension: [1, 40000, 5] reduced over axis 1.
      const shape = [1, 40_000, 5];
      const d = randn(numel(shape), 13);
      const t = Tensor.from(rt, d, shape);
      for (const { name, op, ref } of OPS) expectClose(await op(t, 1).read(), ref(d, shape, 1), TOL, `${name} split`);
    });

    it('max of -inf rows is -inf; empty axes follow torch', async () => {
      const x = Tensor.from(rt, [-Infinity, -Infinity, 1, -Infinity], [2, 2]);
      expect(Array.from(await maxAxis(x, 1).read())).toEqual([-Infinity, 1]);
      const e = Tensor.empty(rt, [3, 0]);
      expect(Array.from(await sum(e, 1).read())).toEqual([0, 0, 0]);
      expect(Array.from(await mean(e, 1).read()).every(Number.isNaN)).toBe(true);
      expect(() => maxAxis(e, 1)).toThrow(/maxAxis: can't take the max over empty axis 1 of \[3, 0\]/);
    });

    it('rejects bad axes and i32 inputs', () => {
      const x = Tensor.from(rt, [1, 2, 3, 4, 5, 6], [2, 3]);
      expect(() => sum(x, 2)).toThrow(/sum: axis 2 out of range for rank 2/);
      expect(() => mean(x, -3)).toThrow(/mean: axis -3 out of range for rank 2/);
      expect(() => argmax(x, 1.5)).toThrow(/argmax: axis 1.5 out of range/);
      const i = Tensor.from(rt, [1, 2, 3], [3], 'i32');
      expect(() => sum(i, 0)).toThrow(/sum: input dtype i32 not supported \(expected f32 \| f16\)/);
      expect(() => maxAxis(i, 0)).toThrow(/maxAxis: input dtype i32 not supported/);
    });
  });

  describe('argmax', () => {

    it('matches the reference over every axis kind (f32)', async () => {
      for (const [ci, [shape, axes]] of CASES.entries()) {
        const data = randn(numel(shape), 20 + ci);
        const x = Tensor.from(rt, data, shape);
        for (const axis of axes) {
          const y = argmax(x, axis);
          expect(y.dtype).toBe('i32');
          expect(Array.from(await y.read()), `${shape} axis ${axis}`).toEqual(Array.from(argmaxRef(data, shape, axis)));
        }
      }
    });

    it('returns the first index on ties, also across lanes and for all -inf rows', async () => {
      const small = Tensor.from(rt, [3, 1, 3, 2, 5, 5, 5, 5, -Infinity, -Infinity, -Infinity, -Infinity], [3, 4]);
      expect(Array.from(await argmax(small, 1).read())).toEqual([0, 0, 0]);
      // Long rows of small integers: many equal maxima spread over every lane of the tree.
      const shape = [3, 4097];
      const data = Float32Array.from(randInt(numel(shape), 4, 0, 6));
      data[4097 + 4000] = 9; // row 1: one late maximum
      const x = Tensor.from(rt, data, shape);
      expect(Array.from(await argmax(x, 1).read())).toEqual(Array.from(argmaxRef(data, shape, 1)));
      expect(Array.from(await argmax(x, 1).read())[1]).toBe(4000);
      const cols = Tensor.from(rt, Float32Array.from(randInt(77 * 40, 5, 0, 3)), [77, 40]);
      expect(Array.from(await argmax(cols, 0).read())).toEqual(Array.from(argmaxRef(await cols.read(), [77, 40], 0)));
    });

    it('i32 (token ids, as CLIP takes the EOT position) and f16 inputs', async () => {
      const ids = randInt(4 * 77, 6, 0, 49408);
      ids[77 + 30] = 2 ** 30 + 1; // exact integer compare: 2^30 and 2^30 + 1 are one f32
      ids[77 + 10] = 2 ** 30;
      const t = Tensor.from(rt, ids, [4, 77], 'i32');
      const y = argmax(t, -1, true);
      expect(y.shape).toEqual([4, 1]);
      const got = Array.from(await y.read());
      expect(got).toEqual(Array.from(argmaxRef(ids, [4, 77], 1)));
      expect(got[1]).toBe(30);
      if (rt.hasF16) {
        const data = f16Round(randn(7 * 77 * 3, 7));
        const x = Tensor.from(rt, data, [7, 77, 3], 'f16');
        expect(Array.from(await argmax(x, 1).read())).toEqual(Array.from(argmaxRef(data, [7, 77, 3], 1)));
      }
    });

    it('rejects empty axes', () => {
      expect(() => argmax(Tensor.empty(rt, [2, 0]), 1)).toThrow(/argmax: can't take the argmax over empty axis 1 of \[2, 0\]/);
    });
  });

});

describe('reduceTile', () => {
  it('uses 256 threads, lanes along long axes and coalesced columns otherwise', () => {
    for (const [len, inner] of [[1, 1], [3, 1], [77, 1], [4097, 1], [3, 1000], [40000, 5], [100, 64]]) {
      const t = reduceTile(len, inner);
      expect(t.tx * t.ty).toBe(256);
      if (inner >= 32) expect(t.tx).toBeGreaterThanOrEqual(32);
    }
    expect(reduceTile(4097, 1)).toEqual({ tx: 1, ty: 256 });
    expect(reduceTile(3, 1)).toEqual({ tx: 256, ty: 1 });
  });
});
