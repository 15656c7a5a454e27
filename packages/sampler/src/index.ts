// @dalle2/sampler: DALLE2-pytorch 1.1.0 sampling: noise schedules, DDPM/DDIM step math, noise sources,
// time plans, the one sampling loop (with step pacing), classifier-free guidance and reranking.
// Written against small interfaces (a denoiser, a noise source); it never imports the models.
export * from './linspace.js';
export * from './schedules.js';
export * from './coef.js';
export * from './steps.js';
export * from './ddim.js';
export * from './noise.js';
export * from './plan.js';
export * from './pacing.js';
export * from './loop.js';
export * from './guidance.js';
export * from './rerank.js';
