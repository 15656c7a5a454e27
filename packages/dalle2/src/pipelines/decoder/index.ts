// DALLE2-pytorch 1.1.0 Decoder: config (TrainDecoderConfig `decoder`) and the sampling cascade.
export {
  Decoder, type DecoderInit, type DecoderLoadOptions, type DecoderSampleArgs, type DecoderStepArgs, type DecoderStepInfo,
  type DecoderUnetInfo, type DecoderMeanVariance, type DecoderLoopStepArgs, type UnetLoader,
} from './decoder.js';
export { parseDecoderConfig, loadDecoderConfig, DecoderConfigError, type DecoderConfig } from './config.js';
