import { describe, it, expect } from 'vitest';
import { Tensor } from '../src/tensor.js';
import { softmax, logSoftmax } from '../src/ops/softmax.js';
import { softmaxRef, logSoftmaxRef } from '../src/cpu/reduce.js';
import { f16BitsToF32, f32ToF16Bits } from '../src/safetensors/halfFloat.js';
import { testRuntime, randn, expectClose } from './helpers.js';

// softmax outputs lie in [0, 1]: the f32 rounding of (x - max) for |x| ~ 10 moves exp by ~1e-6
// relative, plus a few ulp from exp and the sum (GPUs evaluate exp2(x * log2 e), one more rounding of
// x): measured 1.6e-6 on lavapipe, so 4e-6 relative and 1e-7 absolute.
// logSoftmax is (x - max) - log(sum): a few ulp of its magnitude, hence 1e-6 relative + 1e-6 absolute.
// f16: inputs rounded to f16 for the reference; the f16 output rounding dominates (4.9e-4 relative).
const TOL = { atol: 1e-7, rtol: 4e-6 };
const TOL_LOG = { atol: 1e-6, rtol: 1e-6 };
const TOL16 = { atol: 1e-4, rtol: 1e-3 };
const TOL16_LOG = { atol: 2e-3, rtol: 1e-3 };

const numel = (s: readonly number[]) => s.reduce((p, d) => p * d, 1);
const f16Round = (a: Float32Array) => f16BitsToF32(f32ToF16Bits(a));

const CASES: [number[], number[]][] = [
  [[1], [0]],
  [[3, 1, 5], [0, 1, 2]],
  [[7, 77, 3], [1, -1, 0]],
  [[2, 4097], [-1]],
  [[4, 3, 40, 2], [2, -3]],
];

const OPS = [
  { name: 'softmax', op: softmax, ref: softmaxRef, tol: TOL, tol16: TOL16 },
  { name: 'logSoftmax', op: logSoftmax, ref: logSoftmaxRef, tol: TOL_LOG, tol16: TOL16_LOG },
] as const;

describe('softmax / logSoftmax', async () => {
  const rt = await testRuntime();

  for (const { name, op, ref, tol, tol16 } of OPS) {
    it(`${name} f32 over every axis kind`, async () => {
      for (const [ci, [shape, axes]] of CASES.entries()) {
        const data = randn(numel(shape), 30 + ci, 3);
        const x = Tensor.from(rt, data, shape);
        for (const axis of axes) {
          const y = op(x, axis);
          expect(y.shape).toEqual(shape);
          expectClose(await y.read(), ref(data, shape, axis), tol, `${name} ${shape} axis ${axis}`);
          y.dispose();
        }
        x.dispose();
      }
    });

    it(`${name} f16`, async () => {
      if (!rt.hasF16) return;
      for (const [shape, axis] of [[[7, 77, 3], 1], [[2, 4097], -1], [[6, 50], 0]] as const) {
        const data = f16Round(randn(numel(shape), 8, 3));
        const y = op(Tensor.from(rt, data, shape, 'f16'), axis);
        expect(y.dtype).toBe('f16');
        expectClose(await y.toFloat32(), ref(data, shape, axis), tol16, `${name} f16 ${shape} axis ${axis}`);
      }
    });

    it(`${name} of +-1e4 inputs stays finite and exact`, async () => {
      const shape = [5, 33];
      const data = randn(numel(shape), 40, 1e4);
      data[7] = 1e4;
      data[8] = 1e4; // two equal maxima share the mass
      const y = await op(Tensor.from(rt, data, shape), -1).read();
      expect(Array.from(y).every(Number.isFinite)).toBe(true);
      expectClose(y, ref(data, shape, -1), tol, `${name} large`);
    });
  }

  it('many rows (131074 x 3) on the default last axis, and the long axis 0', async () => {
    const shape = [65537 * 2, 3];
    const data = randn(numel(shape), 41, 3);
    const x = Tensor.from(rt, data, shape);
    expectClose(await softmax(x).read(), softmaxRef(data, shape, 1), TOL, 'softmax rows');
    expectClose(await logSoftmax(x, 0).read(), logSoftmaxRef(data, shape, 0), TOL_LOG, 'logSoftmax long axis 0');
  });

  it('all -inf rows give NaN (as torch); partial -inf entries give 0 / -inf', async () => {
    const ninf = -Infinity;
    // Row 0 all -inf, row 1 partly, row 2 long (past one lane per element) and all -inf.
    const data = new Float32Array(3 * 300).fill(ninf);
    data.set([ninf, 2, ninf, 1], 300);
    const x = Tensor.from(rt, data, [3, 300]);
    const s = await softmax(x).read();
    const ls = await logSoftmax(x).read();
    expectClose(s, softmaxRef(data, [3, 300], -1), TOL, 'softmax -inf');
    expectClose(ls, logSoftmaxRef(data, [3, 300], -1), TOL_LOG, 'logSoftmax -inf');
    expect(Number.isNaN(s[0]) && Number.isNaN(s[899])).toBe(true);
    expect([s[300], s[302], ls[300]]).toEqual([0, 0, ninf]);
  });

  it('rejects bad axes and i32 inputs', () => {
    const x = Tensor.from(rt, [1, 2, 3, 4, 5, 6], [2, 3]);
    expect(() => softmax(x, 2)).toThrow(/softmax: axis 2 out of range for rank 2/);
    expect(() => logSoftmax(x, -3)).toThrow(/logSoftmax: axis -3 out of range for rank 2/);
    const i = Tensor.from(rt, [1, 2, 3], [3], 'i32');
    expect(() => softmax(i)).toThrow(/softmax: input dtype i32 not supported \(expected f32 \| f16\)/);
    expect(() => logSoftmax(i)).toThrow(/logSoftmax: input dtype i32 not supported/);
  });
});
