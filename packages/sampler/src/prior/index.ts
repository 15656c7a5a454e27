// DALLE2-pytorch 1.1.0 DiffusionPrior sampling (DDPM/DDIM loops, reranking) and its config section.
export * from './config.js';
export * from './diffusionPrior.js';
