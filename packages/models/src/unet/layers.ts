// Builds every layer of a DALLE2-pytorch 1.1.0 Unet from its weight scope, mirroring Unet.__init__'s
// module layout and key names (`downs.i.{0..4}`, `mid_*`, `ups.i.{0..3}`, ...); all sizes come from the config.
import type { Tensor, DType } from '@dalle2/tensor';
import type { WeightScope } from '../weights.js';
import type { UnetConfig } from './config.js';
import {
  loadConv, loadCrossEmbed, loadDownsample, loadResnetBlock, loadUpsample, type Layer, type ResnetLayer,
} from './blocks.js';
import { linearAttention, selfAttention } from './attention.js';

interface Linear {
  weight: Tensor;
  bias: Tensor;
}

export interface DownStage {
  /** memory_efficient: Downsample before the blocks (`downs.i.0`). */
  pre?: Layer;
  init: ResnetLayer;
  blocks: ResnetLayer[];
  attn?: Layer;
  /** Downsample (not last, not memory_efficient) or a 1x1 conv (`downs.i.4`). */
  post: Layer;
}

export interface UpStage {
  init: ResnetLayer;
  blocks: ResnetLayer[];
  attn?: Layer;
  /** Upsample (`ups.i.3`); absent on the last stage unless memory_efficient. */
  up?: Layer;
}

export interface UnetLayers {
  dtype: DType;
  initConv: Layer;
  toTimeHiddens: Linear;
  toTimeTokens: Linear;
  toTimeCond: Linear;
  imageToTokens?: Linear;
  toImageHiddens?: Linear;
  textToCond?: Linear;
  normCond: Linear;
  normMidCond: Linear;
  nullImageEmbed: Tensor;
  nullImageHiddens: Tensor;
  nullTextEmbed: Tensor;
  initResnet?: ResnetLayer;
  downs: DownStage[];
  midBlock1: ResnetLayer;
  midAttn: Layer;
  midBlock2: ResnetLayer;
  ups: UpStage[];
  finalResnet: ResnetLayer;
  toOut: Layer;
  /** Skip connections are scaled by this (2^-0.5 with scale_skip_connection). */
  skipScale: number;
}

function linear(w: WeightScope, inF: number, out: number): Linear {
  return { weight: w.get('weight', [out, inF]), bias: w.get('bias', [out]) };
}

/** nn.LayerNorm(dim) weight and bias. */
function layerNormAffine(w: WeightScope, dim: number): Linear {
  return { weight: w.get('weight', [dim]), bias: w.get('bias', [dim]) };
}

/** Stage attention as Unet.__init__ picks it: full self-attention, else linear attention if sparse_attn, else none. */
function stageAttention(w: WeightScope, c: UnetConfig, stage: number, dim: number): Layer | undefined {
  if (c.selfAttn[stage]) return selfAttention(w.scope('fn').scope('fn'), dim, c.attnHeads, c.attnDimHead);
  if (c.sparseAttn) return linearAttention(w.scope('fn'), dim, c.attnHeads, c.attnDimHead);
  return undefined;
}

/** Embeddings, conditioning projections and learned null tokens. */
function conditioningLayers(w: WeightScope, c: UnetConfig) {
  const tcd = c.dim * 4;
  const imageEmbedDim = c.imageEmbedDim ?? 0;
  return {
    toTimeHiddens: linear(w.scope('to_time_hiddens.1'), c.dim, tcd),
    toTimeTokens: linear(w.scope('to_time_tokens.0'), tcd, c.condDim * c.numTimeTokens),
    toTimeCond: linear(w.scope('to_time_cond.0'), tcd, tcd),
    imageToTokens: c.condOnImageEmbeds ? linear(w.scope('image_to_tokens.0'), imageEmbedDim, c.condDim * c.numImageTokens) : undefined,
    toImageHiddens: c.condOnImageEmbeds && c.addImageEmbedsToTime ? linear(w.scope('to_image_hiddens.0'), imageEmbedDim, tcd) : undefined,
    textToCond: c.condOnTextEncodings ? linear(w.scope('text_to_cond'), c.textEmbedDim ?? 0, c.condDim) : undefined,
    normCond: layerNormAffine(w.scope('norm_cond'), c.condDim),
    normMidCond: layerNormAffine(w.scope('norm_mid_cond'), c.condDim),
    nullImageEmbed: w.get('null_image_embed', [1, c.numImageTokens, c.condDim]),
    nullImageHiddens: w.get('null_image_hiddens', [1, tcd]),
    nullTextEmbed: w.get('null_text_embed', [1, c.maxTextLen, c.condDim]),
  };
}

/** Loads every layer of the unet at `w` (the `unets.N` scope) for config `c`. */
export function buildUnetLayers(w: WeightScope, c: UnetConfig): UnetLayers {
  const tcd = c.dim * 4;
  const initChannels = c.lowresCond ? c.channels * 2 : c.channels;
  const initConv = c.initCrossEmbed
    ? loadCrossEmbed(w.scope('init_conv'), initChannels, c.initDim, c.initCrossEmbedKernelSizes, 1)
    : loadConv(w.scope('init_conv'), initChannels, c.initDim, c.initConvKernelSize, 1, c.initConvKernelSize >> 1);
  const dims = [c.initDim, ...c.dimMults.map((m) => c.dim * m)];
  const inOut = dims.slice(0, -1).map((d, i) => [d, dims[i + 1]] as const);
  const S = inOut.length;
  const resnet = (s: WeightScope, cin: number, cout: number, groups: number, condDim?: number) =>
    loadResnetBlock(s, cin, cout, { timeCondDim: tcd, groups, condDim });
  const downKernels = c.crossEmbedDownsample ? c.crossEmbedDownsampleKernelSizes : undefined;
  const skipDims: number[] = [];
  const downs: DownStage[] = inOut.map(([dimIn, dimOut], i) => {
    const s = w.scope('downs').scope(i);
    const dimLayer = c.memoryEfficient ? dimOut : dimIn;
    const isLast = i >= S - 1;
    const condDim = i === 0 ? undefined : c.condDim;
    skipDims.push(dimLayer);
    return {
      pre: c.memoryEfficient ? loadDownsample(s.scope(0), dimIn, dimOut, downKernels) : undefined,
      init: resnet(s.scope(1), dimLayer, dimLayer, c.resnetGroups[i]),
      blocks: Array.from({ length: c.numResnetBlocks[i] }, (_, j) => resnet(s.scope(2).scope(j), dimLayer, dimLayer, c.resnetGroups[i], condDim)),
      attn: stageAttention(s.scope(3), c, i, dimLayer),
      post: !isLast && !c.memoryEfficient ? loadDownsample(s.scope(4), dimLayer, dimOut, downKernels) : loadConv(s.scope(4), dimLayer, dimOut, 1),
    };
  });
  const mid = dims[dims.length - 1];
  const midGroups = c.resnetGroups[S - 1];
  const ups: UpStage[] = [];
  for (let j = 0; j < S; j++) {
    const i = S - 1 - j; // the down stage this up stage mirrors
    const [dimIn, dimOut] = inOut[i];
    const s = w.scope('ups').scope(j);
    const isLast = j >= S - 1;
    const condDim = isLast ? undefined : c.condDim;
    const skip = skipDims.pop()!;
    ups.push({
      init: resnet(s.scope(0), dimOut + skip, dimOut, c.resnetGroups[i], condDim),
      blocks: Array.from({ length: c.numResnetBlocks[i] }, (_, k) => resnet(s.scope(1).scope(k), dimOut + skip, dimOut, c.resnetGroups[i], condDim)),
      attn: stageAttention(s.scope(2), c, i, dimOut),
      up: !isLast || c.memoryEfficient ? loadUpsample(s.scope(3), dimOut, dimIn, c.pixelShuffleUpsample) : undefined,
    });
  }
  const k = c.finalConvKernelSize;
  const outIn = c.dim + (c.lowresCond ? c.channels : 0);
  return {
    dtype: w.get('to_out.weight', [c.channelsOut, outIn, k, k]).dtype,
    initConv,
    ...conditioningLayers(w, c),
    initResnet: c.memoryEfficient ? resnet(w.scope('init_resnet_block'), c.initDim, c.initDim, c.resnetGroups[0]) : undefined,
    downs,
    midBlock1: resnet(w.scope('mid_block1'), mid, mid, midGroups, c.condDim),
    midAttn: selfAttention(w.scope('mid_attn').scope('fn').scope('fn'), mid, c.attnHeads, c.attnDimHead),
    midBlock2: resnet(w.scope('mid_block2'), mid, mid, midGroups, c.condDim),
    ups,
    finalResnet: resnet(w.scope('final_resnet_block'), c.dim * 2, c.dim, c.resnetGroups[0]),
    toOut: loadConv(w.scope('to_out'), outIn, c.channelsOut, k, 1, k >> 1),
    skipScale: c.scaleSkipConnection ? 2 ** -0.5 : 1,
  };
}
