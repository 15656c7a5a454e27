export * from './config.js';
export * from './model.js';
export * from './adapter.js';
export * from './load.js';
export { huggingFaceToOpenAI, isHuggingFaceClip } from './hfKeys.js';
export * from './types.js';
export * from './strict.js';
export * from './rotaryHalves.js';
export * from './makes.js';
