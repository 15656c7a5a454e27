// @dalle2/models: tokenizers, the weight map, and the models (CLIP, prior, UNets, decoder).
export * from './tokenizer/index.js';
export * from './weights.js';
export * from './clip/index.js';
export * from './xclip/index.js';
export * from './coca/index.js';
export * from './prior/index.js';
export * from './unet/index.js';
export * from './decoder/index.js';
