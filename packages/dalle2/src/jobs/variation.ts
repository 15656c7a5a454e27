// variation(): dalle2-laion's ImageVariation as a library call (the CLI's `variation` command and the
// web UI's Variation tab both run it): CLIP image embedding -> decoder, no prior. Upstream guides
// every unet with 1.0 unless told otherwise (not the load config's scales).
import { centerCropToSquare, type RgbImage } from '../image/index.js';
import { checkPrompts, resolvePlan } from '../plan.js';
import { ImageVariation } from '../scripts/index.js';
import { batchOf, checkCounts, imageParameters, jobPlanRequest, sampledImage, scriptPreview, type ImageJobOptions, type SampledImage } from './common.js';

export interface VariationInput {
  image: RgbImage;
  /** File name recorded in the parameters (and the decoder text when none is given). */
  name?: string;
  /** Prompt for text-conditioned decoders (ignored, with a note, by others). */
  text?: string;
}

export interface VariationOptions extends ImageJobOptions {
  /** Center-crop each input to a square first (as the web UI does); default false (CLIP resizes as is). */
  centerCrop?: boolean;
}

/** A file name without directories and extension (the decoder text of an input without one, as upstream). */
function stem(name: string): string {
  return name.replace(/^.*[\\/]/, '').replace(/\.[^.]*$/, '');
}

/** `samples` variations of each input image; images reach `onImage` as they finish. */
export async function variation(inputs: readonly VariationInput[], options: VariationOptions): Promise<SampledImage[]> {
  if (inputs.length === 0) throw new Error('variation: no input images');
  const { samples, seed } = checkCounts(options);
  const warn = options.warn ?? console.warn;
  const given = inputs.filter((i) => i.text !== undefined).map((i) => i.text!);
  if (given.length > 0) checkPrompts(given, options.truncate ?? false);
  const manager = options.manager;
  const decoder = await manager.decoder();
  if (given.length > 0 && !decoder.condOnText) warn('note: the text is ignored: this decoder is not conditioned on text');
  const text = decoder.condOnText ? inputs.map((i, k) => i.text ?? (i.name ? stem(i.name) : `image ${k + 1}`)) : undefined;
  const req = jobPlanRequest(options);
  const plan = await resolvePlan(manager, { ...req, decoderCondScale: req.decoderCondScale ?? 1 }, false);
  const images = inputs.map((input, k) => {
    if (!options.centerCrop) return input.image;
    const img = centerCropToSquare(input.image);
    if (img.width !== input.image.width || img.height !== input.image.height) warn(`note: ${input.name ?? `image ${k + 1}`} is ${input.image.width}x${input.image.height}: center-cropped to ${img.width}x${img.height}`);
    return img;
  });
  const out: SampledImage[] = [];
  const script = new ImageVariation(manager, {
    seed, verbose: options.verbose, log: options.log, onProgress: options.onProgress, signal: options.signal, truncateText: options.truncate,
    preview: scriptPreview(options.preview, (k) => k.input * samples + k.sample),
  });
  await script.run(images, {
    text, condScale: plan.decoderCondScale, sampleCount: samples, batchSize: batchOf(options, 'decoder'), timesteps: plan.decoderSteps,
    onImage: async (d, at) => {
      const parameters = imageParameters(manager, { kind: 'variation', plan, runSeed: seed, sample: at.sample, modelConfig: options.modelConfig }, { image: inputs[at.input].name, prompt: text?.[at.input] });
      const image = await sampledImage(d, { input: at.input, sample: at.sample, samples, seed }, parameters);
      out.push(image);
      await options.onImage?.(image);
    },
  });
  return out.sort((a, b) => a.index - b.index);
}
