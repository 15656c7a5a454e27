// DALLE2-pytorch 1.1.0 decoder Unet (forward pass) over the checkpoint's `unets.N.*` weights.
export { Unet, type UnetForwardArgs } from './unet.js';
export {
  parseUnetConfig, castUnetConfig, decoderUnetCast, parseDecoderUnetConfigs, loadDecoderUnetConfigs, UnetConfigError,
  type UnetConfig, type UnetCast,
} from './config.js';
export { sinusoidalPosEmb } from './blocks.js';
// The weight resolver: which checkpoint keys a unet reads (bench records them to build random weights).
export { buildUnetLayers } from './layers.js';
export { CROSS_ATTN_HEADS, CROSS_ATTN_DIM_HEAD } from './attention.js';
