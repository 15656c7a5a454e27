// DALLE2-pytorch 1.1.0 diffusion prior network (forward pass) over the checkpoint's `net.*` weights.
export { DiffusionPriorNetwork, type PriorForwardInputs, type PriorCondScaleInputs } from './network.js';
export { parsePriorNetConfig, parsePriorNetSection, loadPriorNetConfig, PriorConfigError, type PriorNetConfig } from './config.js';
export { PB_RELAX_ALPHA } from './attention.js';
export { relPositionBucket, rotaryDim } from './layers.js';
