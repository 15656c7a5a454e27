import { describe, it, expect } from 'vitest';
import { Tensor, unary, type UnaryOp, cpu } from '../src/index.js';
import { testRuntime, randn, randUniform, expectClose } from './helpers.js';
import { f16BitsToF32, f32ToF16Bits } from '../src/safetensors/halfFloat.js';

// f32 transcendental ops on GPUs are within a few ulp; 1e-6 relative plus 1e-6 absolute covers that.
const TOL = { atol: 1e-6, rtol: 2e-6 };
const SHAPES = [[1], [3], [77], [5, 257], [2, 3, 1031]];

const CASES: { op: UnaryOp; domain: 'any' | 'positive'; a?: number; b?: number }[] = [
  { op: 'neg', domain: 'any' },
  { op: 'exp', domain: 'any' },
  { op: 'log', domain: 'positive' },
  { op: 'sqrt', domain: 'positive' },
  { op: 'rsqrt', domain: 'positive' },
  { op: 'abs', domain: 'any' },
  { op: 'sigmoid', domain: 'any' },
  { op: 'silu', domain: 'any' },
  { op: 'gelu', domain: 'any' },
  { op: 'gelu_tanh', domain: 'any' },
  { op: 'quick_gelu', domain: 'any' },
  { op: 'tanh', domain: 'any' },
  { op: 'relu', domain: 'any' },
  { op: 'square', domain: 'any' },
  { op: 'recip', domain: 'positive' },
  { op: 'clamp', domain: 'any', a: -0.5, b: 0.75 },
  { op: 'affine', domain: 'any', a: 1.5, b: -0.25 },
];

describe('unary ops vs CPU reference (f32)', async () => {
  const rt = await testRuntime();
  for (const c of CASES) {
    it(c.op, async () => {
      for (const [si, shape] of SHAPES.entries()) {
        const n = shape.reduce((p, d) => p * d, 1);
        const data = c.domain === 'positive' ? randUniform(n, si + 1, 0.01, 20) : randn(n, si + 1, 3);
        const x = Tensor.from(rt, data, shape);
        const y = unary(c.op, x, c.a, c.b);
        expectClose(await y.read(), cpu.unaryRef(c.op, data, c.a, c.b), TOL, `${c.op} ${shape}`);
        x.dispose();
        y.dispose();
      }
    });
  }

  it('tanh/sigmoid stay finite at extreme inputs', async () => {
    const data = Float32Array.from([-1e30, -100, -88, 0, 88, 100, 1e30]);
    for (const op of ['tanh', 'sigmoid', 'silu', 'gelu'] as const) {
      const y = unary(op, Tensor.from(rt, data, [7]));
      expectClose(await y.read(), cpu.unaryRef(op, data), TOL, op);
    }
  });

  it('f16 storage: f32 math on half inputs, one rounding on output', async () => {
    if (!rt.hasF16) return;
    const roundHalf = (a: Float32Array) => f16BitsToF32(f32ToF16Bits(a));
    for (const c of CASES) {
      const data = roundHalf(c.domain === 'positive' ? randUniform(1031, 7, 0.01, 20) : randn(1031, 7, 3));
      const y = unary(c.op, Tensor.from(rt, data, [1031], 'f16'), c.a, c.b);
      expect(y.dtype).toBe('f16');
      // Output rounding to half: 2^-11 relative, plus a tiny absolute term for results near 0.
      expectClose(await y.toFloat32(), cpu.unaryRef(c.op, data, c.a, c.b), { atol: 1e-6, rtol: 2 ** -10 }, `f16 ${c.op}`);
    }
  });

  it('every layout (scalar fallback, GPU and CPU vec4 layouts) on odd sizes and a multi-workgroup size', async () => {
    const layouts = ['scalar', { wg: 256, v: 1 }, { wg: 8, v: 64 }, { wg: 8, v: 3 }] as const;
    for (const [si, n] of [1, 3, 6, 77, 1031, 40_001].entries()) {
      const data = randn(n, 40 + si, 3);
      for (const op of ['gelu', 'silu', 'affine'] as const) {
        const want = cpu.unaryRef(op, data, 1.5, -0.25);
        for (const layout of layouts) {
          const x = Tensor.from(rt, data, [n]);
          const y = unary(op, x, 1.5, -0.25, { layout });
          expectClose(await y.read(), want, TOL, `${op} [${n}] ${JSON.stringify(layout)}`);
          x.dispose();
          y.dispose();
        }
      }
      if (rt.hasF16) {
        const half = f16BitsToF32(f32ToF16Bits(data));
        for (const layout of layouts) {
          const y = unary('silu', Tensor.from(rt, half, [n], 'f16'), 0, 0, { layout });
          expectClose(await y.toFloat32(), cpu.unaryRef('silu', half), { atol: 1e-6, rtol: 2 ** -10 }, `f16 silu [${n}] ${JSON.stringify(layout)}`);
        }
      }
    }
  });

  it('rejects integer inputs', () => {
    expect(() => unary('exp', Tensor.from(rt, [1, 2], [2], 'i32'))).toThrow(/exp: input dtype i32 not supported/);
  });
});
