// Neural-network kernels at the shapes the DALLE2 UNet and transformers run: conv2d, groupNorm,
// layerNorm and fused attention, f32 and f16.
import {
  attention, attentionVariants, conv2d, conv2dVariants, groupNorm, layerNorm,
  type AttentionVariant, type Conv2dVariant, type DType, type Runtime, type Tensor,
} from '@dalle2/tensor';
import type { KernelCase } from './kernels.js';

export type Rand = (rt: Runtime, shape: number[], dtype: DType, seed?: number) => Tensor;

const bpe = (d: DType) => (d === 'f16' ? 2 : 4);
const count = (s: number[]) => s.reduce((a, b) => a * b, 1);

export function convCase(rand: Rand, b: number, c: number, hw: number, k: number, dtype: DType, quick = false, variant?: Conv2dVariant): KernelCase {
  const x = [b, c, hw, hw];
  const w = [c, c, k, k];
  return {
    name: variant ? `conv2d[${variant}]` : 'conv2d', shape: `[${x}] * [${w}] pad ${k >> 1}`, dtype, quick,
    flops: 2 * b * c * hw * hw * c * k * k,
    bytes: bpe(dtype) * (2 * count(x) + count(w)),
    setup: (rt) => ({ x: rand(rt, x, dtype, 1), w: rand(rt, w, dtype, 2), bias: rand(rt, [c], dtype, 3) }),
    run: ({ x: xt, w: wt, bias }) => conv2d(xt, wt, bias, { padding: k >> 1, variant }),
  };
}

export function groupNormCase(rand: Rand, shape: number[], dtype: DType): KernelCase {
  return {
    name: 'groupNorm+silu', shape: `[${shape}] g32`, dtype, flops: 10 * count(shape), bytes: 3 * bpe(dtype) * count(shape),
    setup: (rt) => ({ x: rand(rt, shape, dtype, 1), w: rand(rt, [shape[1]], dtype, 2), b: rand(rt, [shape[1]], dtype, 3) }),
    run: ({ x, w, b }) => groupNorm(x, 32, w, b, { act: 'silu' }),
  };
}

export function layerNormCase(rand: Rand, rows: number, d: number, dtype: DType): KernelCase {
  return {
    name: 'layerNorm', shape: `[${rows},${d}]`, dtype, flops: 8 * rows * d, bytes: 3 * bpe(dtype) * rows * d,
    setup: (rt) => ({ x: rand(rt, [rows, d], dtype, 1), w: rand(rt, [d], dtype, 2), b: rand(rt, [d], dtype, 3) }),
    run: ({ x, w, b }) => layerNorm(x, w, b),
  };
}

export function attentionCase(rand: Rand, L: number, dtype: DType, quick = false, variant?: AttentionVariant): KernelCase {
  const q = [1, 8, L, 64];
  return {
    name: variant ? `attention[${variant}]` : 'attention', shape: `[${q}] self`, dtype, quick,
    flops: 4 * 8 * L * L * 64,
    bytes: bpe(dtype) * 4 * count(q),
    setup: (rt) => ({ q: rand(rt, q, dtype, 1), k: rand(rt, q, dtype, 2), v: rand(rt, q, dtype, 3) }),
    run: ({ q: qt, k, v }) => attention(qt, k, v, { variant }),
  };
}

export function nnCases(rand: Rand, rt: Runtime): KernelCase[] {
  const cases: KernelCase[] = [];
  for (const dtype of ['f32', 'f16'] as const) {
    cases.push(convCase(rand, 1, 320, 32, 3, dtype, dtype === 'f32'));
    for (const b of [1, 2]) {
      cases.push(convCase(rand, b, 320, 64, 3, dtype));
      cases.push(convCase(rand, b, 640, 32, 3, dtype));
    }
    cases.push(groupNormCase(rand, [2, 320, 64, 64], dtype), groupNormCase(rand, [2, 640, 32, 32], dtype));
    cases.push(layerNormCase(rand, 2 * 64 * 64, 320, dtype), layerNormCase(rand, 77, 768, dtype));
    for (const L of [256, 1024, 4096]) cases.push(attentionCase(rand, L, dtype, dtype === 'f32' && L === 256));
  }
  // The deep unet levels (8x8 positions, 1280 channels), and each kernel side by side (the default picks one
  // per adapter).
  cases.push(convCase(rand, 2, 1280, 8, 3, 'f32'));
  for (const v of conv2dVariants(rt)) cases.push(convCase(rand, 1, 320, 32, 3, 'f32', false, v));
  for (const v of attentionVariants(rt)) cases.push(attentionCase(rand, 1024, 'f32', false, v));
  return cases;
}
