// inpaint(): dalle2-laion's BasicInpainting as a library call (CLI `inpaint` and the web UI's Inpaint
// tab). Inputs are checked here, once: image and mask center-cropped to squares (as upstream's app),
// the mask read from the red channel (>= 128 keeps the pixel), a mask that keeps everything refused.
import { centerCropToSquare, maskFromImage, type RgbImage } from '../image/index.js';
import { OptionError, checkPrompts, resolvePlan } from '../plan.js';
import { BasicInpainting, type InpaintMask } from '../scripts/index.js';
import { batchOf, checkCounts, imageParameters, jobPlanRequest, sampledImage, scriptPreview, type ImageJobOptions, type SampledImage } from './common.js';

export interface InpaintInput {
  image: RgbImage;
  /** Mask image: red >= 128 keeps the original pixel, the rest is regenerated. */
  mask: RgbImage;
  prompt: string;
  /** File names recorded in the parameters and used in messages. */
  name?: string;
  maskName?: string;
}

/** The cropped image and its mask; notes (via warn) when cropping changes the image. */
export function inpaintInputs(inputs: readonly InpaintInput[], warn: (m: string) => void): { images: RgbImage[]; masks: InpaintMask[] } {
  const images: RgbImage[] = [];
  const masks: InpaintMask[] = [];
  for (const [i, input] of inputs.entries()) {
    const name = input.name ?? `image ${i + 1}`;
    const maskName = input.maskName ?? `mask ${i + 1}`;
    const img = centerCropToSquare(input.image);
    if (img.width !== input.image.width || img.height !== input.image.height) warn(`note: ${name} is ${input.image.width}x${input.image.height}: center-cropped to ${img.width}x${img.height}`);
    const m = centerCropToSquare(input.mask);
    if (m.width !== img.width) throw new OptionError('mask', `${maskName}: ${m.width}x${m.height} after cropping, but the image is ${img.width}x${img.height}`);
    const mask = maskFromImage(m);
    if (mask.every((v) => v === 1)) throw new OptionError('mask', `${maskName} keeps every pixel (red >= 128 everywhere): nothing to inpaint`);
    images.push(img);
    masks.push({ mask, width: m.width, height: m.height });
  }
  return { images, masks };
}

/** `samples` inpaintings of each input; images reach `onImage` as they finish. */
export async function inpaint(inputs: readonly InpaintInput[], options: ImageJobOptions): Promise<SampledImage[]> {
  if (inputs.length === 0) throw new Error('inpaint: no input images');
  const { samples, seed } = checkCounts(options);
  const warn = options.warn ?? console.warn;
  const prompts = inputs.map((i) => i.prompt);
  checkPrompts(prompts, options.truncate ?? false);
  const { images, masks } = inpaintInputs(inputs, warn);
  const manager = options.manager;
  const plan = await resolvePlan(manager, jobPlanRequest(options), true);
  const size = (await manager.decoder()).config.imageSizes.at(-1)!;
  images.forEach((img, i) => {
    if (img.width !== size) warn(`note: ${inputs[i].name ?? `image ${i + 1}`} is resized from ${img.width}x${img.height} to ${size}x${size}, the decoder's output size`);
  });
  const out: SampledImage[] = [];
  const script = new BasicInpainting(manager, {
    seed, verbose: options.verbose, log: options.log, onProgress: options.onProgress, signal: options.signal, truncateText: options.truncate,
    // the decoder's rows are the prior's embeddings, input-major, sample-minor: row e is output e
    preview: scriptPreview(options.preview, (k) => k.input),
  });
  await script.run(images, masks, prompts, {
    sampleCount: samples, decoderCondScale: plan.decoderCondScale, priorCondScale: plan.priorCondScale,
    priorBatchSize: batchOf(options, 'prior'), decoderBatchSize: batchOf(options, 'decoder'),
    priorTimesteps: plan.priorSteps, decoderTimesteps: plan.decoderSteps,
    onImage: async (d, at) => {
      const input = inputs[at.input];
      const parameters = imageParameters(manager, { kind: 'inpaint', plan, runSeed: seed, sample: at.sample, modelConfig: options.modelConfig }, { image: input.name, mask: input.maskName, prompt: input.prompt });
      const image = await sampledImage(d, { input: at.input, sample: at.sample, samples, seed }, parameters);
      out.push(image);
      await options.onImage?.(image);
    },
  });
  return out.sort((a, b) => a.index - b.index);
}
