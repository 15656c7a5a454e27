// DALLE2-pytorch 1.1.0 diffusion prior network (forward pass) over the checkpoint's `net.*` weights.
export { DiffusionPriorNetwork, type PriorForwardInputs, type PriorCondScaleInputs } from './network.js';
export { parsePriorNetConfig, parsePriorNetSection, loadPriorNetConfig, PriorConfigError, type PriorNetConfig } from './config.js';
export { PB_RELAX_ALPHA } from './attention.js';
export { relPositionBucket, rotaryDim } from './layers.js';
// The weight resolver: which checkpoint keys the prior transformer reads (bench records them).
export { causalTransformerWeights } from './transformer.js';
// DALLE2-pytorch 1.1.0 DiffusionPrior: config (TrainDiffusionPriorConfig `prior`) and the sampling loops with reranking.
export {
  DiffusionPrior, repeatTokenRows, topIndexPerRow, type DiffusionPriorOptions, type PriorNet,
  type PriorNetInputs, type PriorTextEncoder, type PriorTextCond, type PriorTokenInput, type PriorTextInput, type PriorStepInfo,
  type PriorLoopOptions, type PriorSampleOptions, type PriorSampleResult,
} from './diffusionPrior.js';
export {
  parseDiffusionPriorConfig, parseDiffusionPriorSection, DiffusionPriorConfigError, type DiffusionPriorConfig,
} from './diffusionPriorConfig.js';
