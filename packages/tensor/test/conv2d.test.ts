import { describe, it, expect, afterEach } from 'vitest';
import { Tensor } from '../src/tensor.js';
import { conv2d, conv2dGeometry, conv2dSetSgTile, conv2dSetTile, conv2dVariants, type Conv2dOptions, type Conv2dTile, type Conv2dVariant } from '../src/ops/conv2d.js';
import { conv2dRef } from '../src/cpu/conv2d.js';
import { UNARY_REF } from '../src/cpu/unary.js';
import { f16BitsToF32, f32ToF16Bits } from '../src/safetensors/halfFloat.js';
import { testRuntime, randn, rng, expectClose } from './helpers.js';

// Tolerances. f32: the kernel sums K = Cin/groups*kH*kW products in f32 (a different order than the
// float64 reference), so the error grows like sqrt(K) ulps of the O(sqrt(K)) result: atol 1e-5*sqrt(K),
// rtol 1e-5. f16: inputs are rounded to f16 before the reference runs, the kernel accumulates in f32, so the
// only real error is the final rounding to f16 (half an ulp = 2^-11 relative): rtol 1e-3, atol 1e-4*sqrt(K).
const tolF32 = (k: number) => ({ atol: 1e-5 * Math.sqrt(k), rtol: 1e-5 });
const tolF16 = (k: number) => ({ atol: 1e-4 * Math.sqrt(k), rtol: 1e-3 });

interface Case {
  x: [number, number, number, number];
  w: [number, number, number, number];
  bias?: boolean; // default true
  opts?: Conv2dOptions;
}

const rt = await testRuntime();
let seed = 1;

async function check(c: Case, dtype: 'f32' | 'f16' = 'f32', label = '', variant?: Conv2dVariant): Promise<void> {
  const n = (s: number[]) => s.reduce((a, b) => a * b, 1);
  let xd = randn(n(c.x), seed++);
  let wd = randn(n(c.w), seed++, 0.5);
  let bd = c.bias === false ? undefined : randn(c.w[0], seed++);
  if (dtype === 'f16') {
    const round = (a: Float32Array) => f16BitsToF32(f32ToF16Bits(a));
    xd = round(xd);
    wd = round(wd);
    bd = bd && round(bd);
  }
  const x = Tensor.from(rt, xd, c.x, dtype);
  const w = Tensor.from(rt, wd, c.w, dtype);
  const b = bd && Tensor.from(rt, bd, [c.w[0]], dtype);
  const y = conv2d(x, w, b, { ...c.opts, variant });
  const g = conv2dGeometry(c.x, c.w, bd && [c.w[0]], c.opts);
  expect(y.shape).toEqual([g.n, g.cout, g.ho, g.wo]);
  let want = conv2dRef(xd, c.x, wd, c.w, bd, c.opts);
  const act = c.opts?.activation;
  if (act && act !== 'none') want = want.map((v) => UNARY_REF[act](v, 0, 0));
  const k = g.cg * g.kh * g.kw;
  const tol = dtype === 'f32' ? tolF32(k) : tolF16(k);
  expectClose(await y.toFloat32(), want, tol, `${label} ${dtype} ${variant ?? 'default'} ${JSON.stringify(c)}`);
  for (const t of [x, w, b, y]) t?.dispose();
}

// The kernel shapes the DALLE2 UNet uses, plus every parameter on its own.
const NAMED: Record<string, Case> = {
  '1x1 (pointwise GEMM path)': { x: [2, 13, 7, 9], w: [5, 13, 1, 1] },
  '1x1 stride 2 (not pointwise)': { x: [1, 8, 9, 7], w: [3, 8, 1, 1], opts: { stride: 2 } },
  '3x3 pad 1': { x: [1, 5, 9, 17], w: [8, 5, 3, 3], opts: { padding: 1 } },
  '3x3 valid': { x: [1, 3, 7, 9], w: [13, 3, 3, 3] },
  '4x4 stride 2 pad 1 (downsample)': { x: [1, 8, 17, 9], w: [13, 8, 4, 4], opts: { stride: 2, padding: 1 } },
  '7x7 pad 3': { x: [1, 3, 9, 17], w: [5, 3, 7, 7], opts: { padding: 3 } },
  '15x15 pad 7 (cross-embed)': { x: [1, 3, 17, 9], w: [8, 3, 15, 15], opts: { padding: 7 } },
  'stride [2, 1], padding [ph, pw]': { x: [1, 5, 9, 7], w: [3, 5, 3, 3], opts: { stride: [2, 1], padding: [2, 0] } },
  'per-side padding [t, b, l, r]': { x: [1, 3, 7, 9], w: [5, 3, 3, 3], opts: { padding: [0, 2, 3, 1] } },
  'dilation 2': { x: [1, 5, 17, 9], w: [8, 5, 3, 3], opts: { dilation: 2, padding: 2 } },
  'dilation [2, 1] stride 2': { x: [1, 3, 17, 17], w: [5, 3, 3, 3], opts: { dilation: [2, 1], stride: 2, padding: 1 } },
  'groups 2': { x: [1, 8, 9, 7], w: [6, 4, 3, 3], opts: { groups: 2, padding: 1 } },
  'depthwise (groups = Cin)': { x: [1, 13, 9, 9], w: [13, 1, 3, 3], opts: { groups: 13, padding: 1 } },
  'depthwise multiplier 2': { x: [1, 5, 7, 7], w: [10, 1, 7, 7], opts: { groups: 5, padding: 3 } },
  'no bias': { x: [1, 8, 9, 9], w: [5, 8, 3, 3], bias: false, opts: { padding: 1 } },
  'batch 3': { x: [3, 5, 7, 9], w: [8, 5, 3, 3], opts: { padding: 1 } },
  '1x1 input, 3x3 pad 1': { x: [3, 5, 1, 1], w: [3, 5, 3, 3], opts: { padding: 1 } },
  'kernel bigger than input': { x: [1, 3, 3, 3], w: [5, 3, 7, 7], opts: { padding: 3 } },
  'several tiles + tails': { x: [2, 13, 17, 19], w: [70, 13, 3, 3], opts: { padding: 1 } },
  'K not a multiple of BK, 1 channel': { x: [1, 1, 17, 17], w: [3, 1, 3, 3] },
  'fused silu': { x: [1, 5, 9, 9], w: [8, 5, 3, 3], opts: { padding: 1, activation: 'silu' } },
  'fused gelu, no bias': { x: [1, 5, 9, 9], w: [8, 5, 1, 1], bias: false, opts: { activation: 'gelu' } },
};

const variants = conv2dVariants(rt);

describe.each(variants)('conv2d[%s] vs CPU reference (f32)', (variant) => {
  for (const [name, c] of Object.entries(NAMED)) it(name, () => check(c, 'f32', '', variant));

  it('random odd shapes', async () => {
    const r = rng(1234);
    const pick = <T>(a: readonly T[]): T => a[Math.floor(r() * a.length)];
    let done = 0;
    while (done < 24) {
      const cin = pick([1, 3, 5, 8, 13]);
      const groups = pick([1, 1, 2, cin]);
      const cout = pick([1, 3, 5, 8, 13]) * (cin % groups === 0 ? groups : 1);
      if (cin % groups !== 0) continue;
      const k = pick([1, 3, 4, 7]);
      const opts: Conv2dOptions = {
        stride: pick([1, 2, [1, 2]] as const),
        padding: pick([0, 1, Math.floor(k / 2), [1, 0, 2, 1]] as const),
        dilation: pick([1, 1, 2]),
        groups,
      };
      const c: Case = { x: [pick([1, 3]), cin, pick([1, 3, 7, 9, 17]), pick([1, 3, 7, 9, 17])], w: [cout, cin / groups, k, k], opts, bias: r() < 0.7 };
      try {
        conv2dGeometry(c.x, c.w, undefined, opts);
      } catch {
        continue; // output size <= 0 for this draw
      }
      await check(c, 'f32', `random #${done}`, variant);
      done++;
    }
  });
});

describe('conv2d tile configurations', () => {
  afterEach(() => conv2dSetTile(undefined));
  const tiles: Conv2dTile[] = [
    { wgm: 8, wgn: 16, tm: 8, tn: 8, bk: 16 },
    { wgm: 8, wgn: 8, tm: 8, tn: 8, bk: 16 },
    { wgm: 8, wgn: 8, tm: 4, tn: 4, bk: 16 },
    { wgm: 4, wgn: 4, tm: 4, tn: 4, bk: 4 }, // BK < kW*kH: the k walk carries across digits every slice
  ];
  for (const t of tiles) {
    it(JSON.stringify(t), async () => {
      conv2dSetTile(t);
      await check(NAMED['several tiles + tails'], 'f32', 'tile');
      await check(NAMED['15x15 pad 7 (cross-embed)'], 'f32', 'tile');
      await check(NAMED['4x4 stride 2 pad 1 (downsample)'], 'f32', 'tile');
      await check(NAMED['1x1 (pointwise GEMM path)'], 'f32', 'tile');
    });
  }
  it('folds a grid of > 65535 workgroups into y', async () => {
    // Tiny 16x16 tiles, depthwise: 249 pixel tiles x 301 groups = 74949 workgroups (odd: one idle slot).
    conv2dSetTile({ wgm: 4, wgn: 4, tm: 4, tn: 4, bk: 4 });
    await check({ x: [1, 301, 63, 63], w: [301, 1, 3, 3], opts: { groups: 301, padding: 1 } }, 'f32', 'folded grid');
  });
  it('rejects a malformed tile', () => {
    conv2dSetTile({ wgm: 8, wgn: 8, tm: 6, tn: 8, bk: 16 });
    const x = Tensor.from(rt, new Float32Array(9), [1, 1, 3, 3]);
    expect(() => conv2d(x, x, undefined)).toThrow(/conv2d: unusable tile config/);
  });
});

describe.runIf(variants.includes('subgroup'))('conv2d[subgroup] register blockings', () => {
  afterEach(() => conv2dSetSgTile(undefined));
  for (const t of [{ ra: 1, g: 1 }, { ra: 3, g: 1 }, { ra: 2, g: 2 }]) {
    it(JSON.stringify(t), async () => {
      conv2dSetSgTile(t);
      for (const name of ['several tiles + tails', '15x15 pad 7 (cross-embed)', '4x4 stride 2 pad 1 (downsample)', '1x1 (pointwise GEMM path)', 'groups 2', 'batch 3']) {
        await check(NAMED[name], 'f32', 'sg tile', 'subgroup');
      }
    });
  }
  it('rejects a malformed blocking', () => {
    conv2dSetSgTile({ ra: 0, g: 1 });
    const x = Tensor.from(rt, new Float32Array(9), [1, 1, 3, 3]);
    expect(() => conv2d(x, x, undefined, { variant: 'subgroup' })).toThrow(/conv2d: unusable subgroup tile/);
  });
});

describe.runIf(rt.hasF16).each(variants)('conv2d[%s] f16 (f16 storage, f32 accumulation)', (variant) => {
  const f16Cases = ['1x1 (pointwise GEMM path)', '3x3 pad 1', '4x4 stride 2 pad 1 (downsample)', 'depthwise (groups = Cin)', 'no bias', 'batch 3', 'several tiles + tails'];
  for (const name of f16Cases) it(name, () => check(NAMED[name], 'f16', '', variant));
});

describe('conv2d errors', () => {
  const t = (shape: number[], dtype: 'f32' | 'f16' | 'i32' = 'f32') => Tensor.empty(rt, shape, dtype);
  it('channel mismatch names both shapes', () => {
    expect(() => conv2d(t([1, 8, 5, 5]), t([4, 3, 3, 3]))).toThrow(
      /conv2d: x \[1, 8, 5, 5\] has 8 input channels but weight \[4, 3, 3, 3\] expects 3 \* groups 1 = 3/,
    );
  });
  it('groups must divide both channel counts', () => {
    expect(() => conv2d(t([1, 6, 5, 5]), t([4, 2, 3, 3]), undefined, { groups: 4 })).toThrow(
      /conv2d: groups 4 must divide input channels 6 \(x \[1, 6, 5, 5\]\) and output channels 4/,
    );
    expect(() => conv2d(t([1, 6, 5, 5]), t([5, 3, 3, 3]), undefined, { groups: 2 })).toThrow(/groups 2 must divide .* output channels 5/);
    expect(() => conv2d(t([1, 6, 5, 5]), t([4, 3, 3, 3]), undefined, { groups: 0 })).toThrow(/groups 0 must be a positive integer/);
  });
  it('output size <= 0', () => {
    expect(() => conv2d(t([1, 3, 2, 5]), t([4, 3, 3, 3]))).toThrow(/conv2d: output size 0x3 <= 0 for x \[1, 3, 2, 5\], weight \[4, 3, 3, 3\]/);
    expect(() => conv2d(t([1, 3, 5, 5]), t([4, 3, 3, 3]), undefined, { dilation: 3 })).toThrow(/output size -1x-1 <= 0/);
  });
  it('bad ranks, bias shape, dtypes and options', () => {
    expect(() => conv2d(t([3, 5, 5]), t([4, 3, 3, 3]))).toThrow(/conv2d: x must have rank 4, got \[3, 5, 5\]/);
    expect(() => conv2d(t([1, 3, 5, 5]), t([4, 3, 3]))).toThrow(/conv2d: weight must have rank 4/);
    expect(() => conv2d(t([1, 3, 5, 5]), t([4, 3, 3, 3]), t([3]))).toThrow(/conv2d: bias \[3\] must be \[4\] for weight \[4, 3, 3, 3\]/);
    expect(() => conv2d(t([1, 3, 5, 5], 'i32'), t([4, 3, 3, 3], 'i32'))).toThrow(/conv2d: x dtype i32 not supported/);
    if (rt.hasF16) expect(() => conv2d(t([1, 3, 5, 5]), t([4, 3, 3, 3], 'f16'))).toThrow(/conv2d: dtype mismatch f32 \[1, 3, 5, 5\] vs f16/);
    expect(() => conv2d(t([1, 3, 5, 5]), t([4, 3, 3, 3]), undefined, { stride: 0 })).toThrow(/conv2d: stride 0 must be an integer >= 1/);
    expect(() => conv2d(t([1, 3, 5, 5]), t([4, 3, 3, 3]), undefined, { padding: [1, 2, 3] as unknown as number })).toThrow(/conv2d: padding \[1,2,3\]/);
    expect(() => conv2d(t([1, 3, 5, 5]), t([4, 3, 3, 3]), undefined, { padding: -1 })).toThrow(/conv2d: padding -1/);
  });
  it('output shape follows the PyTorch formula', () => {
    // floor((H + padT + padB - d*(k-1) - 1) / s) + 1, per axis.
    const g = conv2dGeometry([2, 4, 17, 10], [6, 2, 4, 3], [6], { stride: [2, 3], padding: [1, 0, 2, 1], dilation: [1, 2], groups: 2 });
    expect([g.n, g.cout, g.ho, g.wo]).toEqual([2, 6, 8, 3]);
  });
});
