// DALLE2-pytorch 1.1.0 diffusion prior network (forward pass) over the checkpoint's `net.*` weights.
// The DiffusionPrior sampling pipeline (loops, reranking) is @dalle2/dalle2's.
export { DiffusionPriorNetwork, type PriorForwardInputs } from './network.js';
export {
  parsePriorNetConfig, parsePriorNetSection, loadPriorNetConfig, priorConfigReader, PriorConfigError, type PriorNetConfig,
} from './config.js';
export { PB_RELAX_ALPHA } from './attention.js';
export { relPositionBucket, rotaryDim } from './layers.js';
// The weight resolver: which checkpoint keys the prior transformer reads (bench records them).
export { causalTransformerWeights } from './transformer.js';
