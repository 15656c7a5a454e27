// @dalle2/sampler: DALLE2-pytorch 1.1.0 noise schedules, DDPM/DDIM step math and noise sources.
export * from './linspace.js';
export * from './schedules.js';
export * from './coef.js';
export * from './steps.js';
export * from './ddim.js';
export * from './noise.js';
