// DALLE2-pytorch 1.1.0 DiffusionPrior pipeline: config (TrainDiffusionPriorConfig `prior`), sampling
// loops over @dalle2/sampler, and reranking.
export { DiffusionPrior, priorForwardWithCondScale } from './diffusionPrior.js';
export { repeatTokenRows } from './cond.js';
export type {
  DiffusionPriorOptions, PriorNet, PriorNetInputs, PriorTextEncoder, PriorTextCond, PriorTokenInput, PriorTextInput, PriorStepInfo,
  PriorLoopOptions, PriorSampleOptions, PriorSampleResult,
} from './types.js';
export { parseDiffusionPriorConfig, parseDiffusionPriorSection, DiffusionPriorConfigError, type DiffusionPriorConfig } from './config.js';
