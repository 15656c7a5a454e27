// dalle2-laion `BasicInpainting`: images + masks + text in; the masked-out parts are generated
// (mask true = keep the original pixel), conditioned on a prior embedding of the text.
import type { RgbImage } from '../image/index.js';
import { InferenceScript, type DecodedImage, type ImageKey } from './inferenceScript.js';

export interface InpaintMask {
  /** width * height values, 1 = keep the original pixel, 0 = generate. */
  mask: Uint8Array;
  width: number;
  height: number;
}

export interface BasicInpaintingOptions {
  priorCondScale?: number;
  decoderCondScale?: number | readonly number[];
  /** Images per input (default 1). */
  sampleCount?: number;
  priorBatchSize?: number;
  decoderBatchSize?: number;
  priorTimesteps?: number;
  decoderTimesteps?: number | readonly (number | undefined)[];
  /** Called as each image is decoded (input image index and sample number). */
  onImage?: (image: DecodedImage, at: { input: number; sample: number }) => void | Promise<void>;
}

export class BasicInpainting extends InferenceScript {
  /** image index -> inpainted images. One text and one mask per image. */
  async run(images: readonly RgbImage[], masks: readonly InpaintMask[], text: string | readonly string[], opts: BasicInpaintingOptions = {}): Promise<Map<number, DecodedImage[]>> {
    const prompts = typeof text === 'string' ? [text] : [...text];
    if (images.length === 0) throw new Error('BasicInpainting.run: no images');
    if (masks.length !== images.length) throw new Error(`BasicInpainting.run: ${masks.length} masks for ${images.length} images`);
    if (prompts.length !== images.length) throw new Error(`BasicInpainting.run: ${prompts.length} prompts for ${images.length} images (one each)`);
    this.print('Generating prior embeddings...');
    const embeddingMap = await this.samplePrior(prompts, {
      condScale: opts.priorCondScale,
      sampleCount: opts.sampleCount ?? 1,
      batchSize: opts.priorBatchSize ?? 100,
      numSamplesPerBatch: 2,
      timesteps: opts.priorTimesteps,
    });
    this.print('Finished generating prior embeddings.');
    const embeddings: Float32Array[] = [];
    const owner: number[] = [];
    const streams: ImageKey[] = [];
    prompts.forEach((_, i) => {
      for (const [sample, e] of (embeddingMap.get(i) ?? []).entries()) {
        embeddings.push(e);
        owner.push(i);
        streams.push({ input: i, sample });
      }
    });
    this.print(`Grouped ${prompts.length} texts into ${embeddings.length} embeddings.`);
    this.print('Sampling from decoder...');
    const imageMap = await this.sampleDecoder({
      imageEmbed: embeddings,
      text: owner.map((i) => prompts[i]),
      inpaintImages: owner.map((i) => images[i]),
      inpaintMasks: owner.map((i) => masks[i]),
      condScale: opts.decoderCondScale,
      sampleCount: 1,
      batchSize: opts.decoderBatchSize ?? 10,
      timesteps: opts.decoderTimesteps,
      streams,
      onDecoded: opts.onImage ? (e, _decoderSample, image) => opts.onImage!(image, streams[e]) : undefined,
    });
    this.print('Finished sampling from decoder.');
    const out = new Map<number, DecodedImage[]>();
    images.forEach((_, i) => out.set(i, []));
    owner.forEach((i, e) => out.get(i)!.push(...(imageMap.get(e) ?? [])));
    return out;
  }
}
