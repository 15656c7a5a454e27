import { describe, expect, it } from 'vitest';
import { Tensor } from '../src/tensor.js';
import { matmul, linear, matmulVariants, type MatmulActivation, type MatmulOptions, type MatmulVariant } from '../src/ops/matmul.js';
import { matmulRef, type MatmulRefOptions } from '../src/cpu/matmul.js';
import { f16BitsToF32, f32ToF16Bits } from '../src/safetensors/halfFloat.js';
import type { Runtime } from '../src/runtime.js';
import { testRuntime, randn, expectClose } from './helpers.js';

// f32: GPU sums in f32 (fma) vs a float64 reference. With unit-variance inputs outputs grow like sqrt(K)
// and so does the rounding error, hence atol 2e-6 * sqrt(K); rtol 1e-5 covers the epilogue's f32 math.
const tolF32 = (K: number) => ({ atol: 2e-6 * Math.sqrt(Math.max(K, 1)), rtol: 1e-5 });
// f16: inputs are f16-exact, accumulation is f32, so the error is the final rounding to f16 (2^-11
// relative) plus f32 noise: rtol 1e-3, atol 1e-4 * sqrt(K).
const tolF16 = (K: number) => ({ atol: 1e-4 * Math.sqrt(Math.max(K, 1)), rtol: 1e-3 });

let seed = 1;
const data = (shape: number[]) => randn(shape.reduce((x, y) => x * y, 1), seed++);

interface Case {
  aShape: number[];
  bShape: number[];
  opts?: MatmulRefOptions & { transA?: boolean; transB?: boolean };
  biasN?: number;
}

/** Runs matmul on the GPU and the reference on the same data; checks shape and values. */
async function check(rt: Runtime, c: Case, variant: MatmulVariant | undefined, label: string): Promise<void> {
  const A = data(c.aShape);
  const B = data(c.bShape);
  const bias = c.biasN !== undefined ? data([c.biasN]) : undefined;
  const opts: MatmulOptions = { ...c.opts, bias: bias && Tensor.from(rt, bias, [bias.length]), variant };
  const out = matmul(Tensor.from(rt, A, c.aShape), Tensor.from(rt, B, c.bShape), opts);
  const want = matmulRef(A, c.aShape, B, c.bShape, { ...c.opts, bias });
  const K = c.opts?.transA ? c.aShape[c.aShape.length - 2] : c.aShape[c.aShape.length - 1];
  expect(want.length, `${label}: output size`).toBe(out.size);
  expectClose(await out.read(), want, tolF32(K), label);
}

const ODD: [number, number, number][] = [
  [1, 1, 1], [1, 3, 7], [3, 7, 1], [7, 1, 3], [77, 129, 257], [257, 77, 129], [129, 257, 3],
  [1, 257, 77], [3, 129, 7], [7, 77, 129], [257, 1, 257], [77, 3, 1], [4, 8, 12], [1, 64, 16],
];

describe('matmul vs CPU reference', async () => {
  const rt = await testRuntime();
  const variants = matmulVariants(rt);

  for (const v of variants) {
    it(`${v}: odd sizes`, async () => {
      for (const [M, K, N] of ODD) await check(rt, { aShape: [M, K], bShape: [K, N] }, v, `${v} ${M}x${K}x${N}`);
    });

    it(`${v}: transposes`, async () => {
      for (const [M, K, N] of [[7, 77, 129], [129, 64, 3], [3, 257, 77], [1, 12, 5]]) {
        for (const transA of [false, true]) {
          for (const transB of [false, true]) {
            const aShape = transA ? [K, M] : [M, K];
            const bShape = transB ? [N, K] : [K, N];
            await check(rt, { aShape, bShape, opts: { transA, transB } }, v, `${v} ${M}x${K}x${N} tA=${transA} tB=${transB}`);
          }
        }
      }
    });

    it(`${v}: batch broadcasting`, async () => {
      const cases: Case[] = [
        { aShape: [2, 8, 77, 64], bShape: [64, 77] },
        { aShape: [2, 8, 77, 64], bShape: [1, 8, 64, 77] },
        { aShape: [3, 1, 5, 7], bShape: [4, 7, 6] },
        { aShape: [5, 7], bShape: [2, 3, 7, 4] },
        { aShape: [2, 3, 9, 5], bShape: [2, 1, 9, 6], opts: { transA: true } },
        { aShape: [2, 1, 3, 5, 6], bShape: [4, 1, 7, 6], opts: { transB: true } },
      ];
      for (const c of cases) await check(rt, c, v, `${v} ${c.aShape} x ${c.bShape}`);
    });

    it(`${v}: fused bias, activation and alpha`, async () => {
      for (const activation of ['relu', 'gelu'] as const) {
        const c: Case = { aShape: [2, 77, 129], bShape: [33, 129], opts: { transB: true, activation, alpha: 0.5 }, biasN: 33 };
        await check(rt, c, v, `${v} ${activation}`);
      }
      await check(rt, { aShape: [3, 7], bShape: [7, 5], opts: { alpha: -2.5 } }, v, `${v} alpha only`);
      await check(rt, { aShape: [3, 0], bShape: [0, 5], biasN: 5, opts: { activation: 'relu' } }, v, `${v} K=0`);
    });

    it.runIf(rt.hasF16)(`${v}: f16 storage, f32 accumulation`, async () => {
      for (const [M, K, N, transB] of [[77, 129, 257, true], [33, 768, 40, false]] as const) {
        // Round the inputs to f16 first so the reference sees exactly what the GPU does.
        const round = (x: Float32Array) => f16BitsToF32(f32ToF16Bits(x));
        const A = round(data([M, K]));
        const B = round(data([K, N]));
        const bias = round(data([N]));
        const bShape = transB ? [N, K] : [K, N];
        const opts = { transB, activation: 'gelu' as const };
        const out = matmul(Tensor.from(rt, A, [M, K], 'f16'), Tensor.from(rt, B, bShape, 'f16'), {
          ...opts, bias: Tensor.from(rt, bias, [N], 'f16'), variant: v,
        });
        expect(out.dtype).toBe('f16');
        const want = matmulRef(A, [M, K], B, bShape, { ...opts, bias });
        expectClose(await out.toFloat32(), want, tolF16(K), `${v} f16 ${M}x${K}x${N}`);
      }
    });
  }

  it.runIf(variants.includes('tiled'))('tiled: 64- and 128-wide tile configs (picked for large outputs)', async () => {
    await check(rt, { aShape: [1031, 67], bShape: [67, 1029], biasN: 1029 }, 'tiled', 'tiled 128-tiles');
    await check(rt, { aShape: [33, 520], bShape: [516, 33], opts: { transA: true, transB: true } }, 'tiled', 'tiled 64-tiles');
  });

  it('every activation, default kernel', async () => {
    const acts: MatmulActivation[] = ['none', 'relu', 'gelu', 'gelu_tanh', 'quick_gelu', 'silu'];
    for (const activation of acts) {
      const c: Case = { aShape: [2, 77, 129], bShape: [33, 129], opts: { transB: true, activation, alpha: 0.5 }, biasN: 33 };
      await check(rt, c, undefined, `default ${activation}`);
    }
  });

  it('linear = matmul with PyTorch weight layout', async () => {
    const x = data([2, 5, 7]);
    const w = data([3, 7]);
    const bias = data([3]);
    const out = linear(Tensor.from(rt, x, [2, 5, 7]), Tensor.from(rt, w, [3, 7]), Tensor.from(rt, bias, [3]), 'silu');
    expect(out.shape).toEqual([2, 5, 3]);
    expectClose(await out.read(), matmulRef(x, [2, 5, 7], w, [3, 7], { transB: true, bias, activation: 'silu' }), tolF32(7), 'linear');
  });

  it('output shape follows broadcast batch dims', () => {
    const t = (s: number[]) => Tensor.empty(rt, s);
    expect(matmul(t([2, 8, 77, 64]), t([64, 77])).shape).toEqual([2, 8, 77, 77]);
    expect(matmul(t([3, 1, 5, 7]), t([4, 7, 6])).shape).toEqual([3, 4, 5, 6]);
    expect(matmul(t([7, 5]), t([6, 7]), { transA: true, transB: true }).shape).toEqual([5, 6]);
  });

  it('folds batches beyond the per-dimension workgroup limit', async () => {
    const n = rt.limits.maxComputeWorkgroupsPerDimension + 7;
    const A = data([n, 1, 2]);
    const B = data([n, 2, 1]);
    const out = matmul(Tensor.from(rt, A, [n, 1, 2]), Tensor.from(rt, B, [n, 2, 1]));
    expectClose(await out.read(), matmulRef(A, [n, 1, 2], B, [n, 2, 1]), tolF32(2), 'many batches');
  });

  it('rejects bad shapes, dtypes and options with clear messages', () => {
    const t = (s: number[], d: 'f32' | 'i32' = 'f32') => Tensor.empty(rt, s, d);
    expect(() => matmul(t([2, 3]), t([4, 5]))).toThrow('matmul: a [2, 3] and b [4, 5]: inner dims 3 != 4');
    expect(() => matmul(t([2, 3]), t([5, 4]), { transB: true })).toThrow(/inner dims 3 != 4/);
    expect(() => matmul(t([2, 5, 3]), t([3, 3, 4]))).toThrow(/batch dims \[2\] and \[3\] are not broadcastable/);
    expect(() => matmul(t([2, 3]), t([3, 4]), { bias: t([5]) })).toThrow('matmul: bias [5] must have shape [N] = [4]');
    expect(() => matmul(t([2, 3]), t([3, 4]), { bias: t([1, 4]) })).toThrow(/bias \[1, 4\] must have shape \[N\]/);
    expect(() => matmul(t([3]), t([3, 4]))).toThrow(/rank >= 2/);
    expect(() => matmul(t([2, 3], 'i32'), t([3, 4], 'i32'))).toThrow(/dtype i32 not supported/);
    expect(() => matmul(t([2, 3]), t([3, 4], 'i32'))).toThrow(/dtype mismatch/);
    expect(() => matmul(t([2, 3]), t([3, 4]), { bias: t([4], 'i32') })).toThrow(/bias dtype i32 != operand dtype f32/);
    const bad = { activation: 'tanh' } as unknown as MatmulOptions;
    expect(() => matmul(t([2, 3]), t([3, 4]), bad)).toThrow(/unknown activation 'tanh'/);
    const badVariant = { variant: 'magic' } as unknown as MatmulOptions;
    expect(() => matmul(t([2, 3]), t([3, 4]), badVariant)).toThrow(/unknown variant 'magic'/);
  });
});
