// Intermediate decoder images ("previews"): every N decoder steps the batch's current x_t is read back
// and mapped from the unets' [-1, 1] to 8-bit RGB. Opt-in, because each preview is a GPU readback that
// stalls the step pipeline; N bounds the cost (a preview at most every N network calls).
import type { Tensor } from '@dalle2/tensor';
import { chwToImage, type RgbImage } from '../image/index.js';
import type { DecoderStepEvent } from './decoderSampling.js';

/** One preview: the images of a decoder batch as they stand after a step. */
export interface DecoderPreview {
  /** 1-based unet number, unets in the decoder, and the 0-based step within this unet's loop. */
  unet: number;
  unets: number;
  step: number;
  steps: number;
  batch: number;
  batches: number;
  /** One per batch row: the input index and sample number it belongs to, and the (noisy) image. */
  images: { input: number; sample: number; image: RgbImage }[];
}

export interface PreviewOptions {
  /** A preview after every `every`-th network call of each unet (>= 1). */
  every: number;
  onPreview: (p: DecoderPreview) => void | Promise<void>;
}

/** Whether this step gets a preview: every N-th call, never the very last one (the image itself follows). */
export function wantsPreview(e: DecoderStepEvent, every: number): boolean {
  const last = e.unet === e.unets && e.step + 1 === e.steps;
  return !last && (e.step + 1) % Math.max(1, Math.floor(every)) === 0;
}

/** Reads `x` ([B, 3, S, S] in [-1, 1]) back and converts each row to RGB. */
export async function previewImages(x: Tensor, keys: readonly { input: number; sample: number }[]): Promise<DecoderPreview['images']> {
  const host = await x.toFloat32();
  const [B, C, H, W] = x.shape;
  const per = C * H * W;
  const out: DecoderPreview['images'] = [];
  for (let b = 0; b < Math.min(B, keys.length); b++) {
    const chw = new Float32Array(3 * H * W);
    // only the first three channels are the image (learned-variance unets output more, but `next` is x)
    for (let i = 0; i < chw.length; i++) chw[i] = (host[b * per + i] + 1) / 2;
    out.push({ input: keys[b].input, sample: keys[b].sample, image: chwToImage(chw, W, H) });
  }
  return out;
}
