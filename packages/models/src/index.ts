// @dalle2/models: the networks and their configs (CLIP makes, prior network, unets), tokenizers and the
// weight map. Sampling is @dalle2/sampler's; the DALLE2 compositions are @dalle2/dalle2's pipelines.
export * from './tokenizer/index.js';
export * from './weights.js';
// Config readers shared by the network configs here and the pipeline configs in @dalle2/dalle2.
export { ConfigReader, ConfigFields, isBool, isInt, isObject, joinPath, type ConfigErrorClass, type Json } from './configFields.js';
export * from './clip/index.js';
export * from './xclip/index.js';
export * from './coca/index.js';
export * from './prior/index.js';
export * from './unet/index.js';
