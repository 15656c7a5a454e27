// Plain TypeScript references for every op: the ground truth the kernel tests compare against.
export * from './unary.js';
export * from './elementwise.js';
export * from './reduce.js';
export * from './layout.js';
export * from './matmul.js';
export * from './conv2d.js';
export * from './norm.js';
export * from './rotary.js';
export * from './pixelShuffle.js';
export * from './attention.js';
export * from './resample.js';
