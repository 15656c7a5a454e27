// Library calls for the image-input jobs (generate() is in ../generate.ts).
export * from './common.js';
export { variation, type VariationInput, type VariationOptions } from './variation.js';
export { inpaint, inpaintInputs, type InpaintInput } from './inpaint.js';
