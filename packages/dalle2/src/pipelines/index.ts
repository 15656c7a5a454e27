// The DALLE2 pipelines (as diffusers' UnCLIP pipeline composes them): the diffusion prior with
// repeat-and-rerank, and the decoder cascade. Networks come from @dalle2/models, sampling from
// @dalle2/sampler; function names follow DALLE2-pytorch (p_sample_loop -> pSampleLoop).
export * from './prior/index.js';
export * from './decoder/index.js';
