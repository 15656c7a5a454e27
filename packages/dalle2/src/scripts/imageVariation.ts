// dalle2-laion `ImageVariation`: image in, similar images out (CLIP image embedding -> decoder, no prior).
import type { RgbImage } from '../image/index.js';
import { InferenceScript, type DecodedImage } from './inferenceScript.js';

export interface ImageVariationOptions {
  /** Prompts per image, for text-conditioned decoders. */
  text?: readonly string[];
  /** Upstream's default is 1.0 for every unet (not the load config's scales). */
  condScale?: number | readonly number[];
  sampleCount?: number;
  batchSize?: number;
  timesteps?: number | readonly (number | undefined)[];
  /** Called as each image is decoded (input image index and sample number). */
  onImage?: (image: DecodedImage, at: { input: number; sample: number }) => void | Promise<void>;
}

export class ImageVariation extends InferenceScript {
  /** image index -> its variations. Images are resized to CLIP's input size (Lanczos), as upstream. */
  async run(images: readonly RgbImage[], opts: ImageVariationOptions = {}): Promise<Map<number, DecodedImage[]>> {
    if (images.length === 0) throw new Error('ImageVariation.run: no images');
    this.print('Running decoder...');
    const out = await this.sampleDecoder({
      images,
      text: opts.text,
      condScale: opts.condScale ?? 1,
      sampleCount: opts.sampleCount ?? 1,
      batchSize: opts.batchSize ?? 10,
      timesteps: opts.timesteps,
      onDecoded: opts.onImage ? (input, sample, image) => opts.onImage!(image, { input, sample }) : undefined,
    });
    this.print('Finished running decoder.');
    return out;
  }
}
