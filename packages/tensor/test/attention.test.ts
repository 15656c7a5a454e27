import { describe, it, expect } from 'vitest';
import { Tensor } from '../src/tensor.js';
import type { Runtime } from '../src/runtime.js';
import type { DType } from '../src/dtype.js';
import { attention, attentionTiling, attentionVariants, type AttentionOptions, type AttentionTiling, type AttentionVariant } from '../src/ops/attention.js';
import { attentionRef, type AttentionRefInput, type AttentionRefOptions } from '../src/cpu/attention.js';
import { f32ToF16Bits, f16BitsToF32 } from '../src/safetensors/halfFloat.js';
import { testRuntime, randn, randInt, expectClose, type Tol } from './helpers.js';

// f32: the kernel sums D products and <= 130 softmax terms in f32; outputs are convex combinations of
// N(0, 1) values, so absolute error ~1e-6 and relative ~1e-6 cover it (a wrong mask/index gives O(0.1)).
const F32_TOL: Tol = { atol: 3e-6, rtol: 1e-5 };
// f16: inputs are compared after rounding to f16; the output's own f16 rounding is 2^-11 ~ 4.9e-4 relative.
const F16_TOL: Tol = { atol: 1e-3, rtol: 1e-3 };

interface Case {
  B: number;
  H: number;
  Hk: number;
  Lq: number;
  Lk: number;
  D: number;
  Dv?: number;
  dtype?: DType;
  causal?: boolean;
  scale?: number;
  /** Key padding per batch: random, all masked, none masked, or the first 40 keys masked then random. */
  mask?: ('random' | 'all' | 'keep' | 'prefix')[];
  /** Bias shape (broadcast to [B, H, Lq, Lk]). */
  bias?: number[];
  seed?: number;
  /** Standard deviation of q and k (default 1.5). */
  qkStd?: number;
  tol?: Tol;
  tiling?: AttentionTiling;
  variant?: AttentionVariant;
}

function roundF16(x: Float32Array): Float32Array {
  return f16BitsToF32(f32ToF16Bits(x));
}

function host(data: Float32Array, shape: number[], dtype: DType): AttentionRefInput {
  return { data: dtype === 'f16' ? roundF16(data) : data, shape };
}

function maskData(c: Case): Int32Array {
  const m = randInt(c.B * c.Lk, (c.seed ?? 1) + 7, 0, 2);
  (c.mask ?? []).forEach((kind, b) => {
    for (let j = 0; j < c.Lk; j++) {
      if (kind === 'all') m[b * c.Lk + j] = 0;
      if (kind === 'keep') m[b * c.Lk + j] = 1;
      if (kind === 'prefix' && j < 40) m[b * c.Lk + j] = 0;
    }
  });
  return m;
}

/** Runs one case on the GPU and against the float64 reference. */
async function check(rt: Runtime, c: Case): Promise<Float32Array> {
  const dtype = c.dtype ?? 'f32';
  const Dv = c.Dv ?? c.D;
  const seed = c.seed ?? 1;
  const qs = [c.B, c.H, c.Lq, c.D];
  const kshape = [c.B, c.Hk, c.Lk, c.D];
  const vshape = [c.B, c.Hk, c.Lk, Dv];
  const qd = randn(qs.reduce((a, b) => a * b), seed, c.qkStd ?? 1.5);
  const kd = randn(kshape.reduce((a, b) => a * b), seed + 1, c.qkStd ?? 1.5);
  const vd = randn(vshape.reduce((a, b) => a * b), seed + 2);
  const opts: AttentionOptions = { causal: c.causal, scale: c.scale, tiling: c.tiling, variant: c.variant };
  const refOpts: AttentionRefOptions = { causal: c.causal, scale: c.scale };
  const owned: Tensor[] = [];
  const up = (d: Float32Array | Int32Array, s: number[], dt: DType) => {
    const t = Tensor.from(rt, d, s, dt);
    owned.push(t);
    return t;
  };
  if (c.mask) {
    const m = maskData(c);
    opts.keyPaddingMask = up(m, [c.B, c.Lk], 'i32');
    refOpts.keyPaddingMask = { data: m, shape: [c.B, c.Lk] };
  }
  if (c.bias) {
    const bd = randn(c.bias.reduce((a, b) => a * b, 1), seed + 3, 2);
    opts.bias = up(bd, c.bias, dtype);
    refOpts.bias = host(bd, c.bias, dtype);
  }
  const out = attention(up(qd, qs, dtype), up(kd, kshape, dtype), up(vd, vshape, dtype), opts);
  expect(out.shape).toEqual([c.B, c.H, c.Lq, Dv]);
  expect(out.dtype).toBe(dtype);
  const got = await out.toFloat32();
  const want = attentionRef(host(qd, qs, dtype), host(kd, kshape, dtype), host(vd, vshape, dtype), refOpts);
  expectClose(got, want, c.tol ?? (dtype === 'f16' ? F16_TOL : F32_TOL), JSON.stringify(c));
  for (const t of [...owned, out]) t.dispose();
  return want;
}

// One runtime for the whole file (testRuntime's afterAll is registered at file level here).
const rt = await testRuntime();

// Every kernel this adapter has (lavapipe: the subgroup kernel is the default, the online one the GPUs').
describe.each(attentionVariants(rt))('attention[%s] vs float64 reference (f32)', (variant) => {
  const chk = (c: Case) => check(rt, { ...c, variant });
  it('odd sizes: Lq, Lk in {1, 3, 17, 77, 130}, D in {1, 8, 64, 100, 128}', async () => {
    const cases: [number, number, number][] = [
      [3, 17, 1], [130, 1, 1],
      [17, 77, 8], [1, 130, 8], [77, 3, 8],
      [77, 130, 64], [130, 3, 64], [1, 1, 64],
      [17, 3, 100], [3, 77, 100],
      [130, 17, 128], [77, 1, 128], [1, 130, 128],
    ];
    for (const [Lq, Lk, D] of cases) await chk({ B: 2, H: 3, Hk: 3, Lq, Lk, D, seed: Lq + Lk + D });
  });

  // Flag tests share head dims with the sweep above so lavapipe compiles few pipeline variants.
  it('D != Dv', async () => {
    await chk({ B: 1, H: 2, Hk: 2, Lq: 17, Lk: 77, D: 100, Dv: 8 });
  });

  it('multi-query (Hk = 1) and grouped (Hk | H) K/V heads', async () => {
    await chk({ B: 2, H: 8, Hk: 1, Lq: 77, Lk: 78, D: 64, seed: 5 });
    await chk({ B: 1, H: 6, Hk: 2, Lq: 17, Lk: 40, D: 8, seed: 6 });
  });

  it('causal: square, Lq < Lk (offset) and Lq > Lk (leading rows fully masked)', async () => {
    await chk({ B: 1, H: 2, Hk: 2, Lq: 130, Lk: 130, D: 8, causal: true });
    await chk({ B: 2, H: 2, Hk: 1, Lq: 17, Lk: 77, D: 8, causal: true });
    await chk({ B: 1, H: 2, Hk: 2, Lq: 130, Lk: 17, D: 8, causal: true });
    await chk({ B: 1, H: 1, Hk: 1, Lq: 1, Lk: 1, D: 8, causal: true });
  });

  it('key padding mask, including a fully masked batch row (uniform average of v, never NaN)', async () => {
    const c: Case = { B: 3, H: 2, Hk: 1, Lq: 17, Lk: 77, D: 8, mask: ['random', 'all', 'keep'] };
    const want = await chk(c);
    // Batch 1 is fully masked: torch fills -FLT_MAX, softmax is uniform, out = mean over keys of v.
    expect(want.every(Number.isFinite)).toBe(true);
    const v = randn(c.B * c.Lk * c.D, 3);
    const mean = Array.from({ length: c.D }, (_, e) => {
      let s = 0;
      for (let j = 0; j < c.Lk; j++) s += v[(c.Lk + j) * c.D + e];
      return s / c.Lk;
    });
    const row = want.subarray(c.H * c.Lq * c.D, c.H * c.Lq * c.D + c.D);
    expectClose(row, Float32Array.from(mean), { atol: 1e-6, rtol: 1e-6 }, 'fully masked row');
  });

  it('mask + causal + bias: rows whose visible keys are all padded average every key', async () => {
    // Keys 0..39 are padded in batch 0, so causal rows 0..39 see only padding and need the keys past their
    // row block's causal limit too; Lq = 130 spans three row blocks.
    const c: Case = { B: 2, H: 2, Hk: 2, Lq: 130, Lk: 130, D: 8, causal: true, mask: ['prefix', 'keep'], bias: [2, 130, 130] };
    await chk(c);
    await chk({ ...c, Lq: 70, mask: ['all', 'random'], bias: [2, 70, 130], seed: 9 });
  });

  it('bias [H, Lq, Lk], [B, 1, Lq, Lk], [Lk] and [Lq, 1]', async () => {
    await chk({ B: 2, H: 3, Hk: 3, Lq: 17, Lk: 77, D: 8, bias: [3, 17, 77] });
    await chk({ B: 2, H: 3, Hk: 1, Lq: 77, Lk: 17, D: 8, bias: [2, 1, 77, 17] });
    await chk({ B: 2, H: 2, Hk: 2, Lq: 3, Lk: 130, D: 8, bias: [130] });
    // Broadcast over keys (stride 0): a per-row constant, which softmax cancels.
    await chk({ B: 1, H: 2, Hk: 2, Lq: 17, Lk: 20, D: 8, bias: [17, 1] });
  });

  it('scale override', async () => {
    await chk({ B: 1, H: 2, Hk: 2, Lq: 17, Lk: 33, D: 64, scale: 0.7 });
    // DALLE2's cosine-sim scale 16: logits up to ~40, whose f32 rounding (~40 * 6e-8) moves the weights
    // by a few 1e-6 relative, hence the looser bound for this case.
    await chk({ B: 1, H: 2, Hk: 1, Lq: 9, Lk: 12, D: 8, scale: 16, qkStd: 0.35, tol: { atol: 1e-5, rtol: 1e-5 } });
  });

  it('folds grids past 65535 workgroups', async () => {
    // 70000 (batch, head) pairs of one query row each -> 70000 workgroups, folded into y.
    await chk({ B: 1, H: 70000, Hk: 1, Lq: 1, Lk: 3, D: 1, seed: 11 });
  });
});

describe('attention with other kernel tilings', () => {
  // The default depends on the adapter (lavapipe: 4 rows x 16 invocations, rolled loops); run the GPU
  // default here too. Lq = 130 spans several workgroups of 64 rows and ends in a partial one. Unrolled
  // loops only at small D: at D = 100 they would take lavapipe's LLVM far too long to compile.
  it('default tiling is valid', () => {
    expect([1, 2, 4]).toContain(attentionTiling(rt).rows);
  });
  const gpu: AttentionTiling = { rows: 1, invocations: 64, unroll: true };
  it('GPU default: 1 row x 64 invocations, unrolled', async () => {
    await check(rt, { B: 1, H: 2, Hk: 1, Lq: 77, Lk: 17, D: 7, Dv: 5, tiling: gpu });
    await check(rt, { B: 2, H: 3, Hk: 3, Lq: 130, Lk: 77, D: 8, tiling: gpu });
    const c: Case = { B: 2, H: 2, Hk: 2, Lq: 130, Lk: 130, D: 8, causal: true, mask: ['prefix', 'random'], tiling: gpu };
    await check(rt, { ...c, bias: [2, 130, 130] });
    await check(rt, { ...c, Lq: 150, Lk: 20, bias: [2, 150, 20] }); // leading rows fully masked by causality
  });
  it('1 row x 64 invocations, rolled loops, D = 100', async () => {
    await check(rt, { B: 2, H: 3, Hk: 3, Lq: 130, Lk: 77, D: 100, tiling: { ...gpu, unroll: false } });
  });
});

describe.each(attentionVariants(rt))('attention[%s] f16 (f16 storage, f32 math)', (variant) => {
  const chk = (c: Case) => check(rt, { ...c, variant });
  it.skipIf(!rt.hasF16)('matches the reference on f16-rounded inputs', async () => {
    await chk({ B: 2, H: 3, Hk: 3, Lq: 77, Lk: 130, D: 64, dtype: 'f16' });
    // D = 6: the scalar (non-vec4) f16 layout; f16 bias; every flag.
    const c: Case = { B: 2, H: 4, Hk: 1, Lq: 17, Lk: 40, D: 6, dtype: 'f16', causal: true, mask: ['random', 'all'] };
    await chk({ ...c, bias: [2, 1, 17, 40] });
  });
});

describe('attention errors', () => {
  const t = (shape: number[], dtype: DType = 'f32') => Tensor.empty(rt, shape, dtype);
  const q = t([2, 4, 5, 8]);
  const k = t([2, 1, 6, 8]);
  const v = t([2, 1, 6, 8]);

  it('rejects mismatched q/k/v shapes naming both shapes', () => {
    expect(() => attention(q, t([3, 1, 6, 8]), v)).toThrow(/attention: q \[2, 4, 5, 8\] and k \[3, 1, 6, 8\]: batch 2 != 3/);
    expect(() => attention(q, t([2, 1, 6, 4]), v)).toThrow(/q \[2, 4, 5, 8\] and k \[2, 1, 6, 4\]: head dims 8 != 4/);
    expect(() => attention(q, t([2, 3, 6, 8]), t([2, 3, 6, 8]))).toThrow(/key heads 3 must divide query heads 4/);
    expect(() => attention(q, k, t([2, 1, 7, 8]))).toThrow(/k \[2, 1, 6, 8\] and v \[2, 1, 7, 8\]: batch, heads and length/);
    expect(() => attention(t([2, 4, 8]), k, v)).toThrow(/attention: q \[B, H, Lq, D\] must have rank 4, got \[2, 4, 8\]/);
    expect(() => attention(q, t([2, 1, 0, 8]), t([2, 1, 0, 8]))).toThrow(/has no keys/);
  });

  it('rejects bad mask and bias shapes/dtypes', () => {
    expect(() => attention(q, k, v, { keyPaddingMask: t([2, 5], 'i32') })).toThrow(/keyPaddingMask \[2, 5\] must be \[B, Lk\] = \[2, 6\]/);
    expect(() => attention(q, k, v, { keyPaddingMask: t([2, 6]) })).toThrow(/keyPaddingMask dtype f32 not supported/);
    expect(() => attention(q, k, v, { bias: t([4, 6, 5]) })).toThrow(/bias \[4, 6, 5\] must broadcast to \[B, H, Lq, Lk\] = \[2, 4, 5, 6\]/);
    expect(() => attention(q, k, v, { bias: t([3, 2, 4, 5, 6]) })).toThrow(/bias \[3, 2, 4, 5, 6\] must broadcast/);
  });

  it('rejects head dims above 128, dtype mismatch and bad scale', () => {
    const big = t([1, 1, 2, 129]);
    expect(() => attention(big, big, big)).toThrow(/head dim D = 129 .* must be in 1\.\.128/);
    expect(() => attention(q, k, t([2, 1, 6, 200]))).toThrow(/head dim Dv = 200/);
    expect(() => attention(q, t([2, 1, 6, 8], 'i32'), v)).toThrow(/attention: dtype mismatch f32 \[2, 4, 5, 8\] vs i32/);
    expect(() => attention(q, k, v, { scale: NaN })).toThrow(/scale NaN must be finite/);
  });
});
