import { describe, it, expect } from 'vitest';
import { Tensor } from '../src/tensor.js';
import { groupNorm, layerNorm, chanLayerNorm, type NormVariant } from '../src/ops/norm.js';
import { fixedSubgroupSize } from '../src/ops/util.js';
import { groupNormRef, layerNormRef, chanLayerNormRef } from '../src/cpu/norm.js';
import { f16BitsToF32, f32ToF16Bits } from '../src/safetensors/halfFloat.js';
import { testRuntime, randn, expectClose, type Tol } from './helpers.js';

// Outputs are ~N(0, 1) (times weights ~1.5): f32 mean/rstd land within a few ulp, so 3e-6 abs + rel is tight.
const F32: Tol = { atol: 3e-6, rtol: 3e-6 };
// f16 storage: the output rounding alone is 2^-11 relative; the reference sees the same f16-rounded inputs.
const F16: Tol = { atol: 2e-3, rtol: 1e-3 };

const numel = (s: readonly number[]) => s.reduce((p, d) => p * d, 1);
const roundF16 = (a: Float32Array) => f16BitsToF32(f32ToF16Bits(a));
/** mean 100, std 0.01: E[x^2] - E[x]^2 in f32 loses every digit of the variance here. */
const largeMean = (n: number, seed: number) => randn(n, seed, 0.01).map((v) => v + 100);

// One runtime for the whole file (helpers destroy it in the afterAll of the scope that created it).
const rt = await testRuntime();
/** The subgroup kernels run (forced) where the adapter has a fixed subgroup size. */
const hasSg = fixedSubgroupSize(rt) !== undefined;

describe('groupNorm vs CPU reference', async () => {
  async function check(shape: number[], groups: number, o: { w?: boolean; b?: boolean; silu?: boolean; seed?: number; data?: Float32Array; f16?: boolean; tol?: Tol; variant?: NormVariant } = {}) {
    const c = shape[1];
    const seed = o.seed ?? 1;
    const dtype = o.f16 ? 'f16' : 'f32';
    const round = o.f16 ? roundF16 : (a: Float32Array) => a;
    const data = round(o.data ?? randn(numel(shape), seed, 2).map((v) => v + 0.5));
    const w = o.w ? round(randn(c, seed + 1, 1.5)) : undefined;
    const b = o.b ? round(randn(c, seed + 2)) : undefined;
    const act = o.silu ? ('silu' as const) : ('none' as const);
    const y = groupNorm(
      Tensor.from(rt, data, shape, dtype),
      groups,
      w && Tensor.from(rt, w, [c], dtype),
      b && Tensor.from(rt, b, [c], dtype),
      { act, variant: o.variant },
    );
    expect(y.shape).toEqual(shape);
    expect(y.dtype).toBe(dtype);
    const label = `groupNorm ${dtype} ${shape} G=${groups} w=${!!w} b=${!!b} ${act} ${o.variant ?? 'default'}`;
    expectClose(await y.toFloat32(), groupNormRef(data, shape, groups, w, b, { act }), o.tol ?? (o.f16 ? F16 : F32), label);
  }

  it('groups 1 / C / in between, with and without affine', async () => {
    await check([2, 6, 5, 7], 1, { w: true, b: true });
    await check([2, 6, 5, 7], 3, { w: true, b: true });
    await check([2, 6, 5, 7], 6, { w: true, b: true });
    await check([3, 4, 7], 2); // no affine, 1-D spatial
    await check([3, 10], 5, { w: true }); // no spatial dims, weight only
    await check([1, 3, 1, 1], 3, { b: true }); // one element per group: output is the bias
  });

  it('UNet-like: 32 groups over [1, 64, 33, 33] (several chunks per group), fused SiLU', async () => {
    await check([1, 64, 33, 33], 32, { w: true, b: true, seed: 5 });
    await check([1, 64, 33, 33], 32, { w: true, b: true, silu: true, seed: 6 });
  });

  it('big groups split over 20 and 240 chunks', async () => {
    await check([1, 4, 100, 100], 1, { w: true, b: true, seed: 7 });
    await check([1, 2, 480, 640], 1, { seed: 8 });
  });

  it('large mean, tiny spread (mean 100, std 0.01)', async () => {
    const shape = [2, 8, 33, 33];
    await check(shape, 4, { w: true, b: true, data: largeMean(numel(shape), 9) });
  });

  it('f16 storage, f32 math', async () => {
    if (!rt.hasF16) return;
    await check([2, 6, 5, 7], 3, { w: true, b: true, f16: true });
    await check([1, 64, 33, 33], 32, { w: true, b: true, silu: true, f16: true, seed: 11 });
  });

  it('both variants forced on odd shapes with spatial % 4 == 0 (several chunks, many channels per chunk)', async () => {
    const variants: NormVariant[] = hasSg ? ['portable', 'subgroup'] : ['portable'];
    for (const variant of variants) {
      await check([2, 6, 5, 4], 3, { w: true, b: true, silu: true, seed: 31, variant });
      await check([3, 10, 4], 5, { w: true, seed: 32, variant }); // 1-D spatial, 2 channels per group
      await check([1, 3, 2, 2], 3, { b: true, seed: 33, variant }); // one vector per group
      await check([1, 99, 16, 20], 3, { w: true, b: true, silu: true, seed: 34, variant }); // 33 channels of 80 vectors: 2 chunks, split mid-channel
      await check([2, 4, 96, 100], 2, { w: true, b: true, seed: 35, variant }); // 4800-vector slices: 3 chunks, ends inside channels
      await check([1, 2, 480, 640], 1, { seed: 36, variant });
      await check([2, 8, 32, 33], 4, { w: true, b: true, data: largeMean(2 * 8 * 32 * 33, 37), variant });
      if (rt.hasF16) {
        await check([1, 64, 12, 12], 32, { w: true, b: true, silu: true, f16: true, seed: 38, variant });
        const data = roundF16(randn(2 * 6 * 8, 39));
        const w = randn(6, 40);
        const y = groupNorm(Tensor.from(rt, data, [2, 6, 8], 'f16'), 2, Tensor.from(rt, w, [6]), null, { variant });
        expectClose(await y.toFloat32(), groupNormRef(data, [2, 6, 8], 2, w), F16, `f16 x, f32 weight ${variant}`);
      }
    }
    if (hasSg) expect(() => groupNorm(Tensor.from(rt, randn(2 * 6 * 5, 1), [2, 6, 5]), 3, null, null, { variant: 'subgroup' })).toThrow(/groupNorm: the subgroup variant needs 4-vector rows/);
  });

  it('mixed dtypes: f16 input with f32 affine', async () => {
    if (!rt.hasF16) return;
    const data = roundF16(randn(2 * 6 * 9, 3));
    const w = randn(6, 4);
    const y = groupNorm(Tensor.from(rt, data, [2, 6, 9], 'f16'), 2, Tensor.from(rt, w, [6]));
    expectClose(await y.toFloat32(), groupNormRef(data, [2, 6, 9], 2, w), F16, 'f16 x, f32 weight');
  });

  it('rejects bad shapes and dtypes', () => {
    const x = Tensor.from(rt, randn(2 * 6 * 4, 1), [2, 6, 4]);
    expect(() => groupNorm(x, 4)).toThrow(/groupNorm: input \[2, 6, 4\]: C = 6 channels not divisible by 4 groups/);
    expect(() => groupNorm(x, 3, Tensor.from(rt, randn(5, 1), [5]))).toThrow(/groupNorm: weight \[5\] must be \[C\] = \[6\] for input \[2, 6, 4\]/);
    expect(() => groupNorm(x, 3, null, Tensor.from(rt, randn(6, 1), [1, 6]))).toThrow(/groupNorm: bias \[1, 6\] must be \[C\]/);
    expect(() => groupNorm(Tensor.from(rt, [1, 2, 3], [3]), 1)).toThrow(/groupNorm: input \[3\] must be \[N, C, \.\.\.spatial\]/);
    expect(() => groupNorm(Tensor.from(rt, [1, 2], [1, 2], 'i32'), 1)).toThrow(/groupNorm: input dtype i32 not supported/);
  });
});

describe('layerNorm vs CPU reference', async () => {
  async function check(shape: number[], o: { w?: boolean; b?: boolean; stable?: boolean; data?: Float32Array; f16?: boolean; seed?: number; tol?: Tol; variant?: NormVariant } = {}) {
    const d = shape[shape.length - 1];
    const seed = o.seed ?? 21;
    const dtype = o.f16 ? 'f16' : 'f32';
    const round = o.f16 ? roundF16 : (a: Float32Array) => a;
    const data = round(o.data ?? randn(numel(shape), seed, 3).map((v) => v + 1));
    const w = o.w ? round(randn(d, seed + 1, 1.5)) : undefined;
    const b = o.b ? round(randn(d, seed + 2)) : undefined;
    const opts = { stable: !!o.stable, variant: o.variant };
    const y = layerNorm(Tensor.from(rt, data, shape, dtype), w && Tensor.from(rt, w, [d], dtype), b && Tensor.from(rt, b, [d], dtype), opts);
    const label = `layerNorm ${dtype} ${shape} w=${!!w} b=${!!b} stable=${opts.stable} ${o.variant ?? 'default'}`;
    expectClose(await y.toFloat32(), layerNormRef(data, shape, w, b, opts), o.tol ?? (o.f16 ? F16 : F32), label);
  }

  it('odd sizes across the 64 / 128 / 256-thread variants', async () => {
    for (const shape of [[3, 7], [2, 5, 77], [4, 100], [3, 257], [2, 1031]]) await check(shape, { w: true, b: true });
    await check([1], { b: true }); // a single element normalises to 0
  });

  it('weight only (DALLE2 LayerNorm has gamma, no beta) and no affine', async () => {
    await check([6, 64], { w: true });
    await check([2, 3, 300]);
  });

  it('stable variant: divides by amax first', async () => {
    await check([5, 33], { w: true, stable: true });
    await check([2, 513], { w: true, b: true, stable: true });
    // All-negative rows: amax < 0 flips the sign before normalising, as upstream.
    const data = randn(4 * 20, 23).map((v) => -Math.abs(v) - 0.5);
    await check([4, 20], { w: true, stable: true, data });
  });

  it('large mean, tiny spread (mean 100, std 0.01)', async () => {
    await check([8, 515], { w: true, b: true, data: largeMean(8 * 515, 25) });
    // Stable: x / amax is ~1 +- 1e-4 in f32 (as upstream). WGSL division may be 2.5 ulp off the reference's
    // correctly rounded quotient, and rstd ~ 1 / sqrt(eps) = 316 amplifies that to ~1e-4 absolute.
    await check([8, 515], { stable: true, data: largeMean(8 * 515, 26), tol: { atol: 1e-4, rtol: 3e-6 } });
  });

  it('f16 storage, f32 math', async () => {
    if (!rt.hasF16) return;
    await check([3, 257], { w: true, b: true, f16: true });
    await check([4, 77], { w: true, stable: true, f16: true });
  });

  it('both variants forced on odd row counts with d % 4 == 0 (rows per workgroup, lanes past the row end)', async () => {
    const variants: NormVariant[] = hasSg ? ['portable', 'subgroup'] : ['portable'];
    for (const variant of variants) {
      for (const shape of [[3, 4], [5, 12], [2, 7, 36], [97, 320], [3, 1028], [2, 8192]]) await check(shape, { w: true, b: true, seed: 41, variant });
      await check([13, 64], { w: true, variant });
      await check([2, 3, 300], { variant });
      await check([5, 36], { w: true, stable: true, variant });
      await check([3, 516], { w: true, b: true, stable: true, variant });
      await check([4, 20], { w: true, stable: true, data: randn(4 * 20, 42).map((v) => -Math.abs(v) - 0.5), variant });
      await check([8, 516], { w: true, b: true, data: largeMean(8 * 516, 43), variant });
      await check([8, 516], { stable: true, data: largeMean(8 * 516, 44), tol: { atol: 1e-4, rtol: 3e-6 }, variant });
      if (rt.hasF16) {
        await check([3, 260], { w: true, b: true, f16: true, variant });
        await check([4, 76], { w: true, stable: true, f16: true, variant });
        const data = roundF16(randn(5 * 12, 45));
        const w = randn(12, 46);
        const y = layerNorm(Tensor.from(rt, data, [5, 12], 'f16'), Tensor.from(rt, w, [12]), null, { variant });
        expectClose(await y.toFloat32(), layerNormRef(data, [5, 12], w), F16, `f16 x, f32 weight ${variant}`);
      }
    }
    if (hasSg) expect(() => layerNorm(Tensor.from(rt, randn(14, 1), [2, 7]), null, null, { variant: 'subgroup' })).toThrow(/layerNorm: the subgroup variant needs 4-vector rows/);
  });

  it('rejects bad weight shapes', () => {
    const x = Tensor.from(rt, randn(14, 1), [2, 7]);
    expect(() => layerNorm(x, Tensor.from(rt, randn(5, 1), [5]))).toThrow(/layerNorm: weight \[5\] must be \[D\] = \[7\] for input \[2, 7\]/);
    expect(() => layerNorm(x, Tensor.from(rt, randn(7, 1), [7]), Tensor.from(rt, randn(14, 1), [2, 7]))).toThrow(/layerNorm: bias \[2, 7\] must be \[D\] = \[7\]/);
  });
});

describe('chanLayerNorm vs CPU reference', async () => {
  async function check(shape: number[], o: { w?: 'flat' | 'nchw'; stable?: boolean; data?: Float32Array; f16?: boolean; seed?: number } = {}) {
    const c = shape[1];
    const seed = o.seed ?? 31;
    const dtype = o.f16 ? 'f16' : 'f32';
    const round = o.f16 ? roundF16 : (a: Float32Array) => a;
    const data = round(o.data ?? randn(numel(shape), seed, 2).map((v) => v - 0.5));
    const w = o.w ? round(randn(c, seed + 1, 1.5)) : undefined;
    const wShape = o.w === 'flat' ? [c] : shape.map((v, i) => (i === 1 ? v : 1));
    const opts = { stable: !!o.stable };
    const y = chanLayerNorm(Tensor.from(rt, data, shape, dtype), w && Tensor.from(rt, w, wShape, dtype), opts);
    const label = `chanLayerNorm ${dtype} ${shape} w=${o.w} stable=${opts.stable}`;
    expectClose(await y.toFloat32(), chanLayerNormRef(data, shape, w, opts), o.f16 ? F16 : F32, label);
  }

  it('odd shapes, weight [C] or [1, C, 1, 1], none', async () => {
    await check([2, 5, 3, 7], { w: 'nchw' });
    await check([1, 64, 33, 33], { w: 'flat', seed: 33 });
    await check([2, 13, 40], { w: 'nchw' });
    await check([3, 3, 1, 1]);
    await check([2, 1, 4, 4], { w: 'flat' }); // one channel: output 0
  });

  it('stable variant and large mean', async () => {
    await check([2, 20, 5, 9], { w: 'nchw', stable: true });
    await check([2, 24, 7, 7], { w: 'nchw', data: largeMean(2 * 24 * 49, 35) });
  });

  it('f16 storage, f32 math', async () => {
    if (!rt.hasF16) return;
    await check([2, 20, 5, 9], { w: 'nchw', f16: true, stable: true });
  });

  it('rejects bad weight shapes', () => {
    const x = Tensor.from(rt, randn(2 * 4 * 9, 1), [2, 4, 3, 3]);
    expect(() => chanLayerNorm(x, Tensor.from(rt, randn(4, 1), [1, 1, 4, 1]))).toThrow(/chanLayerNorm: weight \[1, 1, 4, 1\] must be \[4\] or \[1, 4, 1, 1\] for input \[2, 4, 3, 3\]/);
    expect(() => chanLayerNorm(Tensor.from(rt, [1, 2, 3], [3]))).toThrow(/chanLayerNorm: input \[3\] must be \[N, C, \.\.\.spatial\]/);
  });
});
