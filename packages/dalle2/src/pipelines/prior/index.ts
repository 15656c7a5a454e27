// DALLE2-pytorch 1.1.0 DiffusionPrior: config (TrainDiffusionPriorConfig `prior`) and the sampling loops with reranking.
export {
  DiffusionPrior, repeatTokenRows, topIndexPerRow, type DiffusionPriorOptions, type PriorNet,
  type PriorNetInputs, type PriorTextEncoder, type PriorTextCond, type PriorTokenInput, type PriorTextInput, type PriorStepInfo,
  type PriorLoopOptions, type PriorSampleOptions, type PriorSampleResult,
} from './diffusionPrior.js';
export {
  parseDiffusionPriorConfig, parseDiffusionPriorSection, DiffusionPriorConfigError, type DiffusionPriorConfig,
} from './config.js';
