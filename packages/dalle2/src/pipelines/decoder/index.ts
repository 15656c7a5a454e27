// DALLE2-pytorch 1.1.0 Decoder pipeline: config (TrainDecoderConfig `decoder`), the unet cascade over
// @dalle2/sampler (low-res conditioning, image normalisation, RePaint, unet residency / lazy loading).
export { Decoder } from './decoder.js';
export { unetForwardWithCondScale } from './guidance.js';
export type {
  DecoderInit, DecoderLoadOptions, DecoderSampleArgs, DecoderStepArgs, DecoderStepInfo, DecoderUnetInfo, DecoderMeanVariance,
  DecoderLoopStepArgs, UnetLoader,
} from './types.js';
export { parseDecoderConfig, loadDecoderConfig, DecoderConfigError, type DecoderConfig } from './config.js';
