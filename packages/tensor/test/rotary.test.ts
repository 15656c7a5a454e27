import { describe, it, expect } from 'vitest';
import { Tensor } from '../src/tensor.js';
import { applyRotary, rotaryFreqs } from '../src/ops/rotary.js';
import { applyRotaryRef } from '../src/cpu/rotary.js';
import { f16BitsToF32, f32ToF16Bits } from '../src/safetensors/halfFloat.js';
import { testRuntime, randn, expectClose, type Tol } from './helpers.js';

// |x| <= ~4: f32 sin/cos of the reduced angle are within ~4e-7 absolute on GPUs, so 5e-6 abs covers x*cos + r*sin.
const F32: Tol = { atol: 5e-6, rtol: 2e-6 };
// f16 output rounding is 2^-11 relative; the reference sees the same f16-rounded inputs and angles.
const F16: Tol = { atol: 2e-3, rtol: 1e-3 };

const numel = (s: readonly number[]) => s.reduce((p, d) => p * d, 1);
const roundF16 = (a: Float32Array) => f16BitsToF32(f32ToF16Bits(a));
const rt = await testRuntime();

describe('rotaryFreqs', () => {
  it('matches the upstream table (inv freq theta^(-2k/dim), pairs repeated)', () => {
    // dim 4: inv = [1, 1/100]; row t = [t, t, t/100, t/100].
    const f = rotaryFreqs(3, 4);
    expectClose(f, Float32Array.from([0, 0, 0, 0, 1, 1, 0.01, 0.01, 2, 2, 0.02, 0.02]), { atol: 0, rtol: 0 }, 'dim 4');
    // Generic dim: every entry equals t * theta^(-2k/dim) to float32 rounding.
    const [seq, dim, theta] = [7, 32, 500];
    const g = rotaryFreqs(seq, dim, theta);
    expect(g.length).toBe(seq * dim);
    const want = Float32Array.from({ length: seq * dim }, (_, i) => Math.floor(i / dim) * theta ** (-(2 * Math.floor((i % dim) / 2)) / dim));
    expectClose(g, want, { atol: 0, rtol: 3e-7 }, 'dim 32 theta 500');
  });

  it('offset shifts the positions; odd dim keeps 2 * floor(dim / 2) columns', () => {
    const full = rotaryFreqs(10, 8);
    expectClose(rotaryFreqs(4, 8, 10000, 6), full.slice(6 * 8), { atol: 0, rtol: 0 }, 'offset 6');
    expect(rotaryFreqs(2, 5).length).toBe(2 * 4);
  });

  it('rejects bad sizes', () => {
    expect(() => rotaryFreqs(3, 1)).toThrow(/rotaryFreqs: need integer seqLen >= 0 and dim >= 2, got seqLen 3, dim 1/);
  });
});

describe('applyRotary vs CPU reference', () => {
  async function check(shape: number[], rotDim: number, o: { start?: number; f16?: boolean; offset?: number; seed?: number } = {}) {
    const seq = shape[shape.length - 2];
    const dtype = o.f16 ? 'f16' : 'f32';
    const round = o.f16 ? roundF16 : (a: Float32Array) => a;
    const data = round(randn(numel(shape), o.seed ?? 41));
    const freqs = round(rotaryFreqs(seq, rotDim, 10000, o.offset ?? 0));
    const y = applyRotary(Tensor.from(rt, data, shape, dtype), Tensor.from(rt, freqs, [seq, rotDim], dtype), o.start);
    expect(y.shape).toEqual(shape);
    const label = `applyRotary ${dtype} ${shape} rot ${rotDim} start ${o.start ?? 0}`;
    expectClose(await y.toFloat32(), applyRotaryRef(data, shape, freqs, o.start), o.f16 ? F16 : F32, label);
  }

  it('partial rotation (rotDim < dim), odd seq, batch x heads', async () => {
    await check([2, 3, 7, 16], 8);
    await check([3, 5, 64], 32); // DALLE2 prior: rotary dim min(32, dim_head)
    await check([1, 9, 12], 12); // full rotation
    await check([7, 2], 2);
  });

  it('startIndex offsets the rotated features', async () => {
    await check([2, 5, 10], 4, { start: 3 });
    await check([3, 6], 2, { start: 4 }); // rotated block ends at the last feature
  });

  it('long sequences (angles up to ~1000 rad) and position offsets', async () => {
    await check([1, 1031, 8], 8, { seed: 43 });
    await check([2, 33, 16], 16, { offset: 500, seed: 44 });
  });

  it('f16 storage, f32 math', async () => {
    if (!rt.hasF16) return;
    await check([2, 3, 7, 16], 8, { f16: true });
  });

  it('f16 input with f32 angles', async () => {
    if (!rt.hasF16) return;
    const data = roundF16(randn(2 * 9 * 8, 45));
    const freqs = rotaryFreqs(9, 8, 10000, 100);
    const y = applyRotary(Tensor.from(rt, data, [2, 9, 8], 'f16'), Tensor.from(rt, freqs, [9, 8]));
    expectClose(await y.toFloat32(), applyRotaryRef(data, [2, 9, 8], freqs), F16, 'f16 x, f32 freqs');
  });

  it('rejects mismatched shapes', () => {
    const x = Tensor.from(rt, randn(2 * 5 * 8, 1), [2, 5, 8]);
    const f = (s: number, r: number) => Tensor.from(rt, rotaryFreqs(s, r), [s, r]);
    expect(() => applyRotary(x, f(4, 8))).toThrow(/applyRotary: input \[2, 5, 8\] and freqs \[4, 8\]: seq 5 != 4/);
    expect(() => applyRotary(x, Tensor.from(rt, randn(15, 1), [5, 3]))).toThrow(/applyRotary: freqs \[5, 3\]: rotary dim 3 must be even/);
    expect(() => applyRotary(x, f(5, 8), 2)).toThrow(/applyRotary: input \[2, 5, 8\] and freqs \[5, 8\]: features \[2, 10\) exceed dim 8/);
    expect(() => applyRotary(x, f(5, 10))).toThrow(/features \[0, 10\) exceed dim 8/);
    expect(() => applyRotary(x, Tensor.from(rt, rotaryFreqs(5, 8), [1, 5, 8]))).toThrow(/applyRotary: freqs must have rank 2, got \[1, 5, 8\]/);
  });
});
