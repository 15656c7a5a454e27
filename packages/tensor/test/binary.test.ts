import { describe, it, expect } from 'vitest';
import { Tensor } from '../src/tensor.js';
import type { DType } from '../src/dtype.js';
import {
  binary, binaryScalar, broadcastLayout, add, sub, mul, div, pow, maximum, minimum, addScalar, subScalar,
  rsubScalar, mulScalar, divScalar, powScalar, maximumScalar, minimumScalar, type BinaryOp, type ScalarBinaryOp,
} from '../src/ops/binary.js';
import { binaryRef, binaryScalarRef } from '../src/cpu/elementwise.js';
import { testRuntime, randn, randUniform, randInt, expectClose, type Tol } from './helpers.js';

// add/sub/mul/max/min are one IEEE-rounded f32 op, the reference rounds the exact result once: allow 1 ulp.
const EXACT: Tol = { atol: 0, rtol: 1.2e-7 };
// Vulkan allows 2.5 ulp for f32 division.
const DIV: Tol = { atol: 0, rtol: 3e-7 };
// pow is exp2(y * log2 |x|) on GPUs: log2's absolute error is magnified by |y log2 x| (<= ~20 here).
const POW: Tol = { atol: 1e-7, rtol: 1e-5 };
// f16 results are the f32 result rounded once to f16, as in the reference: allow 1 f16 ulp (2^-10).
const HALF: Tol = { atol: 0, rtol: 1e-3 };

const OPS: BinaryOp[] = ['add', 'sub', 'mul', 'div', 'pow', 'max', 'min'];
const INT_OPS: BinaryOp[] = ['add', 'sub', 'mul', 'max', 'min'];

/** Broadcast pairs: trailing-dim, both-sided, scalar-shaped, rank-0, empty, rank 6 and rank 8. */
const PAIRS: [number[], number[]][] = [
  [[257], [257]],
  [[3, 1, 5], [4, 1]],
  [[4, 1], [3, 1, 5]],
  [[7], [1]],
  [[1], [77]],
  [[2, 3], []],
  [[], [5, 3]],
  [[], []],
  [[5, 1], [1, 7]],
  [[2, 3, 4], [3, 1]],
  [[6, 33], [6, 33]],
  [[1, 6, 33], [6, 1]],
  [[2, 1, 3, 1, 5, 2], [1, 4, 1, 3, 5, 1]],
  [[2, 1, 2, 1, 3, 1, 2, 1], [1, 2, 1, 2, 1, 3, 1, 2]],
  [[0, 3], [1, 3]],
];

const numelOf = (s: number[]) => s.reduce((p, d) => p * d, 1);

function tolFor(op: BinaryOp, dtype: DType): Tol {
  if (dtype === 'f16') return HALF;
  return op === 'pow' ? POW : op === 'div' ? DIV : EXACT;
}

/** Random operands; pow gets a positive base and moderate exponents, div a divisor away from 0. */
function operands(op: BinaryOp, sa: number[], sb: number[], seed: number): [Float32Array, Float32Array] {
  const [na, nb] = [numelOf(sa), numelOf(sb)];
  if (op === 'pow') return [randUniform(na, seed, 0.05, 8), randUniform(nb, seed + 1, -3, 3)];
  const b = randn(nb, seed + 1, 2);
  if (op === 'div') b.forEach((v, i) => (b[i] = v + Math.sign(v || 1) * 0.25));
  return [randn(na, seed, 3), b];
}

describe('binary ops vs CPU reference', async () => {
  const rt = await testRuntime();
  const dtypes: DType[] = rt.hasF16 ? ['f32', 'f16'] : ['f32'];

  for (const dtype of dtypes) {
    for (const op of OPS) {
      it(`${op} ${dtype} broadcasting`, async () => {
        for (const [k, [sa, sb]] of PAIRS.entries()) {
          const [da, db] = operands(op, sa, sb, 10 * k + 1);
          const out = binary(op, Tensor.from(rt, da, sa, dtype), Tensor.from(rt, db, sb, dtype));
          const ref = binaryRef(op, da, sa, db, sb, dtype);
          expect(out.shape, `${op} ${sa} x ${sb}`).toEqual(ref.shape);
          expectClose(await out.toFloat32(), ref.data, tolFor(op, dtype), `${op} ${dtype} [${sa}] x [${sb}]`);
        }
      });
    }
  }

  it('every layout (scalar fallback, GPU and CPU vec4 layouts) on vector-friendly and odd broadcasts', async () => {
    const pairs: [number[], number[]][] = [
      [[1030], [1030]], // contiguous, tail vector
      [[5, 12], [12]], // row broadcast
      [[3, 1, 8], [4, 1]], // both sides broadcast: a vectors, b splatted per row
      [[2, 3, 4, 8], [3, 1, 1]], // per-channel bias
      [[2, 5, 16], [2, 1, 16]],
      [[2, 7, 36], [7, 36]],
      [[3, 40], [1]], // scalar-shaped operand on a single dim
      [[37], [37, 1]], // [37, 37]: inner dim 37 is not a multiple of 4 (scalar fallback)
      [[4, 6], [4, 1]],
      [[9, 260], [9, 260]],
    ];
    const layouts = ['scalar', { wg: 256, v: 1 }, { wg: 8, v: 64 }, { wg: 8, v: 3 }] as const;
    for (const [k, [sa, sb]] of pairs.entries()) {
      for (const layout of layouts) {
        const name = `[${sa}] x [${sb}] ${JSON.stringify(layout)}`;
        for (const dtype of dtypes) {
          for (const op of ['add', 'div', 'max'] as const) {
            const [da, db] = operands(op, sa, sb, 100 + k);
            const ref = binaryRef(op, da, sa, db, sb, dtype);
            const out = binary(op, Tensor.from(rt, da, sa, dtype), Tensor.from(rt, db, sb, dtype), { layout });
            expect(out.shape, name).toEqual(ref.shape);
            expectClose(await out.toFloat32(), ref.data, tolFor(op, dtype), `${op} ${dtype} ${name}`);
          }
        }
        for (const [x, y] of [[sa, sb], [sb, sa]]) {
          const [dx, dy] = [randInt(numelOf(x), k + 7, -1000, 1000), randInt(numelOf(y), k + 8, -1000, 1000)];
          const out = binary('sub', Tensor.from(rt, dx, x, 'i32'), Tensor.from(rt, dy, y, 'i32'), { layout });
          expect(Array.from(await out.read()), `i32 sub [${x}] x [${y}] ${JSON.stringify(layout)}`).toEqual(Array.from(binaryRef('sub', dx, x, dy, y, 'i32').data));
        }
      }
    }
  });

  it('i32 add/sub/mul/max/min with broadcasting and wrap-around', async () => {
    for (const op of INT_OPS) {
      for (const [k, [sa, sb]] of PAIRS.slice(0, 10).entries()) {
        const da = randInt(numelOf(sa), k + 1, -1000, 1000);
        const db = randInt(numelOf(sb), k + 50, -1000, 1000);
        const out = binary(op, Tensor.from(rt, da, sa, 'i32'), Tensor.from(rt, db, sb, 'i32'));
        const ref = binaryRef(op, da, sa, db, sb, 'i32');
        expect(out.dtype).toBe('i32');
        expect(Array.from(await out.read()), `${op} [${sa}] x [${sb}]`).toEqual(Array.from(ref.data));
      }
    }
    const big = Tensor.from(rt, [2 ** 31 - 1, -(2 ** 31), 65536], [3], 'i32');
    const wrapped = [await add(big, Tensor.from(rt, [1], [1], 'i32')).read(), await mul(big, big).read()];
    expect(Array.from(wrapped[0])).toEqual([-(2 ** 31), -(2 ** 31) + 1, 65537]);
    expect(Array.from(wrapped[1])).toEqual([1, 0, 0]);
  });

  it('named wrappers dispatch the right op', async () => {
    const a = Tensor.from(rt, [1, -2, 3, 4], [2, 2]);
    const b = Tensor.from(rt, [2, 0.5], [2]);
    const expected: [(x: Tensor, y: Tensor) => Tensor, number[]][] = [
      [add, [3, -1.5, 5, 4.5]],
      [sub, [-1, -2.5, 1, 3.5]],
      [mul, [2, -1, 6, 2]],
      [div, [0.5, -4, 1.5, 8]],
      [pow, [1, NaN, 9, 2]],
      [maximum, [2, 0.5, 3, 4]],
      [minimum, [1, -2, 2, 0.5]],
    ];
    for (const [f, want] of expected) expectClose(await f(a, b).read(), want, POW, f.name);
  });

  it('pow follows torch.pow on special values', async () => {
    const x = [-2, -2, -8, -0.5, 0, 0, -0, -0, 2, 1, NaN, -1, -1, 4, 0.5, Infinity, -Infinity, -Infinity, 3, 1e-3, -3, 2,
      -Infinity, -Infinity, -0, -1.5, 2, NaN];
    const y = [3, 0.5, 1 / 3, 2, -1, 0, -3, 3, -Infinity, NaN, 0, Infinity, -Infinity, 0.5, Infinity, -1, 3, 2, 40, -20, -2, 2,
      0.5, -0.5, 0.5, -Infinity, 1.5, 1];
    const out = await pow(Tensor.from(rt, x, [x.length]), Tensor.from(rt, y, [y.length])).read();
    expectClose(out, binaryRef('pow', x, [x.length], y, [y.length]).data, POW, 'pow specials');
    // Signs of zero and infinity: (-0)^3 = -0, (-0)^-3 = -inf, 0^-1 = +inf.
    expect(Object.is(out[7], -0)).toBe(true);
    expect(out[6]).toBe(-Infinity);
    expect(out[4]).toBe(Infinity);
  });

  it('div by zero gives ±inf and 0/0 NaN; max/min propagate NaN', async () => {
    const d = await div(Tensor.from(rt, [1, -1, 0, 1, 2], [5]), Tensor.from(rt, [0, 0, 0, -0, Infinity], [5])).read();
    expect(Array.from(d)).toEqual([Infinity, -Infinity, NaN, -Infinity, 0]);
    const a = Tensor.from(rt, [NaN, 1, NaN, 2], [4]);
    const b = Tensor.from(rt, [1, NaN, NaN, 3], [4]);
    expect(Array.from(await maximum(a, b).read())).toEqual([NaN, NaN, NaN, 3]);
    expect(Array.from(await minimum(a, b).read())).toEqual([NaN, NaN, NaN, 2]);
  });

  it('scalar variants vs reference (f32, f16, i32)', async () => {
    const ops: ScalarBinaryOp[] = ['add', 'sub', 'rsub', 'mul', 'div', 'pow', 'max', 'min'];
    for (const dtype of dtypes) {
      for (const op of ops) {
        const data = op === 'pow' ? randUniform(1031, 3, 0.05, 8) : randn(1031, 3, 3);
        const s = op === 'pow' ? -1.7 : 0.3; // 0.3 is not an f16 value: the kernel must not round it
        const out = binaryScalar(op, Tensor.from(rt, data, [1031], dtype), s);
        const tol = dtype === 'f16' ? HALF : op === 'pow' ? POW : op === 'div' ? DIV : EXACT;
        expectClose(await out.toFloat32(), binaryScalarRef(op, data, s, dtype), tol, `${op}Scalar ${dtype}`);
      }
    }
    const ints = randInt(77, 9, -500, 500);
    for (const op of ['add', 'sub', 'rsub', 'mul', 'max', 'min'] as const) {
      const out = binaryScalar(op, Tensor.from(rt, ints, [7, 11], 'i32'), -7);
      expect(Array.from(await out.read()), `${op}Scalar i32`).toEqual(Array.from(binaryScalarRef(op, ints, -7, 'i32')));
    }
  });

  it('named scalar wrappers', async () => {
    const x = Tensor.from(rt, [1, -2, 4], [3]);
    const cases: [Tensor, number[]][] = [
      [addScalar(x, 2), [3, 0, 6]],
      [subScalar(x, 2), [-1, -4, 2]],
      [rsubScalar(2, x), [1, 4, -2]],
      [mulScalar(x, -3), [-3, 6, -12]],
      [divScalar(x, 4), [0.25, -0.5, 1]],
      [powScalar(x, 2), [1, 4, 16]],
      [maximumScalar(x, 0), [1, 0, 4]],
      [minimumScalar(x, 0), [0, -2, 0]],
    ];
    for (const [i, [t, want]] of cases.entries()) expectClose(await t.read(), want, EXACT, `case ${i}`);
    expect(Array.from(await powScalar(Tensor.from(rt, [-8, -2, 9], [3]), 1 / 3).read())).toEqual([NaN, NaN, expect.closeTo(9 ** (1 / 3), 5)]);
  });

  it('errors name the op, shapes and dtypes', () => {
    const f = (shape: number[], dtype: DType = 'f32') => Tensor.from(rt, new Array<number>(numelOf(shape)).fill(1), shape, dtype);
    expect(() => add(f([3, 1, 5]), f([4, 2]))).toThrow(/add: shapes \[3, 1, 5\] and \[4, 2\] are not broadcastable/);
    expect(() => mul(f([2]), f([2], 'i32'))).toThrow(/mul: dtype mismatch f32 \[2\] vs i32 \[2\]/);
    expect(() => div(f([2], 'i32'), f([2], 'i32'))).toThrow(/div: dtype i32 not supported/);
    expect(() => pow(f([2], 'i32'), f([2], 'i32'))).toThrow(/pow: dtype i32 not supported/);
    expect(() => sub(f([1, 1, 1, 1, 1, 1, 1, 1, 2]), f([2]))).toThrow(/sub: rank 9 .* exceeds 8/);
    expect(() => addScalar(f([2], 'i32'), 1.5)).toThrow(/addScalar: scalar 1.5 is not an i32 value/);
    expect(() => divScalar(f([2], 'i32'), 2)).toThrow(/divScalar: dtype i32 not supported/);
  });

  it('broadcastLayout collapses dims and detects the fast path', () => {
    expect(broadcastLayout('t', [[2, 3, 4], [2, 3, 4]])).toMatchObject({ shape: [24], contiguous: true });
    expect(broadcastLayout('t', [[1, 5], [5]])).toMatchObject({ outShape: [1, 5], contiguous: true });
    expect(broadcastLayout('t', [[4, 6, 8], [8]])).toMatchObject({ shape: [24, 8], strides: [[8, 1], [0, 1]], contiguous: false });
    expect(broadcastLayout('t', [[3, 1, 5], [4, 1]])).toMatchObject({ outShape: [3, 4, 5], shape: [3, 4, 5], strides: [[5, 0, 1], [0, 1, 0]] });
    expect(broadcastLayout('t', [[], []])).toMatchObject({ outShape: [], shape: [], contiguous: true });
  });
});
