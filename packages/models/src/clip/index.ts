export * from './config.js';
export * from './model.js';
export * from './adapter.js';
export * from './load.js';
export { huggingFaceToOpenAI, isHuggingFaceClip } from './hfKeys.js';
