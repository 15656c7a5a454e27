// Convolutional building blocks of the DALLE2-pytorch 1.1.0 Unet, each loaded from its upstream module
// scope (shape-checked) into a closure: Block / ResnetBlock, CrossEmbedLayer, Downsample,
// PixelShuffleUpsample / NearestUpsample and SinusoidalPosEmb.
import {
  Tensor, add, addScalar, concat, conv2d, groupNorm, interpolateNearest, linear, mul, pixelShuffle, silu, sliceAxis, tidy,
} from '@dalle2/tensor';
import type { WeightScope } from '../weights.js';
import { crossAttention } from './attention.js';

/** A loaded layer over NCHW feature maps. */
export type Layer = (x: Tensor) => Tensor;

/** ResnetBlock forward: x, SiLU(time condition) [B, time_cond_dim], optional cross-attention tokens [B, L, cond_dim]. */
export type ResnetLayer = (x: Tensor, timeSilu: Tensor, cond?: Tensor) => Tensor;

/** nn.Conv2d(cin, cout, k, stride, padding) with bias at `w` (`weight`, `bias`). */
export function loadConv(w: WeightScope, cin: number, cout: number, k: number, stride = 1, padding = 0): Layer {
  const weight = w.get('weight', [cout, cin, k, k]);
  const bias = w.get('bias', [cout]);
  return (x) => conv2d(x, weight, bias, { stride, padding });
}

/** CrossEmbedLayer: convs of several (sorted) kernel sizes, outputs concatenated along channels. */
export function loadCrossEmbed(w: WeightScope, cin: number, cout: number, kernels: readonly number[], stride: number): Layer {
  const n = kernels.length;
  const scales = Array.from({ length: n - 1 }, (_, i) => Math.trunc(cout / 2 ** (i + 1)));
  scales.push(cout - scales.reduce((a, b) => a + b, 0));
  const convs = kernels.map((k, i) => loadConv(w.scope('convs').scope(i), cin, scales[i], k, stride, (k - stride) >> 1));
  return (x) =>
    tidy(x.rt, () => {
      const maps = convs.map((c) => c(x));
      return maps.length === 1 ? maps[0] : concat(maps, 1);
    });
}

/** Downsample (4x4 stride-2 conv, padding 1) or, with cross_embed_downsample, a stride-2 CrossEmbedLayer. */
export function loadDownsample(w: WeightScope, cin: number, cout: number, crossEmbedKernels?: readonly number[]): Layer {
  return crossEmbedKernels ? loadCrossEmbed(w, cin, cout, crossEmbedKernels, 2) : loadConv(w, cin, cout, 4, 2, 1);
}

/** PixelShuffleUpsample (1x1 conv to 4*cout, SiLU, PixelShuffle(2)) or NearestUpsample (nearest x2, 3x3 conv). */
export function loadUpsample(w: WeightScope, cin: number, cout: number, pixelShuffleUp: boolean): Layer {
  if (pixelShuffleUp) {
    const weight = w.get('net.0.weight', [cout * 4, cin, 1, 1]);
    const bias = w.get('net.0.bias', [cout * 4]);
    return (x) => tidy(x.rt, () => pixelShuffle(conv2d(x, weight, bias, { activation: 'silu' }), 2));
  }
  const conv = loadConv(w.scope(1), cin, cout, 3, 1, 1);
  return (x) => tidy(x.rt, () => conv(interpolateNearest(x, [x.shape[2] * 2, x.shape[3] * 2])));
}

interface BlockWeights {
  weight: Tensor;
  bias: Tensor;
  normWeight: Tensor;
  normBias: Tensor;
}

/** Block: 3x3 conv, GroupNorm, optional x * (scale + 1) + shift, SiLU. */
function loadBlock(w: WeightScope, cin: number, cout: number): BlockWeights {
  return {
    weight: w.get('project.weight', [cout, cin, 3, 3]),
    bias: w.get('project.bias', [cout]),
    normWeight: w.get('norm.weight', [cout]),
    normBias: w.get('norm.bias', [cout]),
  };
}

function block(p: BlockWeights, x: Tensor, groups: number, scaleShift?: [Tensor, Tensor]): Tensor {
  const h = conv2d(x, p.weight, p.bias, { padding: 1 });
  if (!scaleShift) return groupNorm(h, groups, p.normWeight, p.normBias, { act: 'silu' });
  const n = groupNorm(h, groups, p.normWeight, p.normBias);
  return silu(add(mul(n, addScalar(scaleShift[0], 1)), scaleShift[1]));
}

export interface ResnetOptions {
  timeCondDim: number;
  groups: number;
  /** Width of the cross-attention context tokens; absent = no cross attention. */
  condDim?: number;
}

/** ResnetBlock(cin, cout, cond_dim?, time_cond_dim, groups) at `w`. */
export function loadResnetBlock(w: WeightScope, cin: number, cout: number, o: ResnetOptions): ResnetLayer {
  const timeW = w.get('time_mlp.1.weight', [cout * 2, o.timeCondDim]);
  const timeB = w.get('time_mlp.1.bias', [cout * 2]);
  const cross = o.condDim !== undefined ? crossAttention(w.scope('cross_attn').scope('fn'), cout, o.condDim) : undefined;
  const b1 = loadBlock(w.scope('block1'), cin, cout);
  const b2 = loadBlock(w.scope('block2'), cout, cout);
  const res = cin !== cout ? loadConv(w.scope('res_conv'), cin, cout, 1) : undefined;
  return (x, timeSilu, cond) =>
    tidy(x.rt, () => {
      const ss = linear(timeSilu, timeW, timeB); // [B, 2 * cout]
      const B = ss.shape[0];
      const scale = sliceAxis(ss, 1, 0, cout).reshape([B, cout, 1, 1]);
      const shift = sliceAxis(ss, 1, cout, 2 * cout).reshape([B, cout, 1, 1]);
      let h = block(b1, x, o.groups, [scale, shift]);
      if (cross) {
        if (!cond) throw new Error('ResnetBlock: cross attention needs conditioning tokens');
        h = add(cross(h, cond), h);
      }
      h = block(b2, h, o.groups);
      return add(h, res ? res(x) : x);
    });
}

/**
 * SinusoidalPosEmb(dim) of the timesteps, float32 as upstream computes it (each step rounded to f32):
 * [sin(t * f_j), cos(t * f_j)] with f_j = exp(j * -ln(10000) / (dim/2 - 1)).
 */
export function sinusoidalPosEmb(times: ArrayLike<number>, dim: number): Float32Array {
  const half = dim >> 1;
  const step = Math.fround(-Math.log(10000) / (half - 1));
  const freqs = Array.from({ length: half }, (_, j) => Math.fround(Math.exp(Math.fround(j * step))));
  const out = new Float32Array(times.length * 2 * half);
  for (let b = 0; b < times.length; b++) {
    const t = Math.fround(times[b]);
    for (let j = 0; j < half; j++) {
      const arg = Math.fround(t * freqs[j]);
      out[b * 2 * half + j] = Math.sin(arg);
      out[b * 2 * half + half + j] = Math.cos(arg);
    }
  }
  return out;
}
