// dalle2-laion's inference scripts: text-to-image, image variations, inpainting.
export {
  InferenceScript,
  repeatAndBatch,
  type DecodedImage,
  type SampleDecoderOptions,
  type SamplePriorOptions,
  type SamplingProgress,
  type ScriptOptions,
} from './inferenceScript.js';
export { BasicInference, type BasicInferenceOptions, type PromptImages } from './basicInference.js';
export { ImageVariation, type ImageVariationOptions } from './imageVariation.js';
export { BasicInpainting, type BasicInpaintingOptions, type InpaintMask } from './basicInpainting.js';
export { sampleDecoder, type SampleDecoderArgs, type DecoderStepEvent, type DecoderStepTensors } from './decoderSampling.js';
export { previewImages, wantsPreview, type DecoderPreview, type PreviewOptions } from './preview.js';
