// @dalle2/tensor: WebGPU tensor engine (device, memory, kernels) and safetensors I/O.
export * from './dtype.js';
export * from './shape.js';
export * from './device.js';
export * from './runtime.js';
export * from './pool.js';
export * from './tensor.js';
export * from './kernelSource.js';
export * from './tuning.js';
export type { KernelTiming } from './profiler.js';
export * from './ops/index.js';
export * as cpu from './cpu/index.js';
export * from './safetensors/index.js';
