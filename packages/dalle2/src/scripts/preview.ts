// Intermediate decoder images ("previews"): every N decoder steps, the image the unet currently predicts
// (x_0 from x_t and its output: the noise-free estimate, far more telling than the noisy x_t) is read
// back and mapped from the unets' [-1, 1] to 8-bit RGB. Opt-in, because each preview is a GPU readback
// that stalls the step pipeline; N bounds the cost (a preview at most every N network calls).
import type { Decoder } from '../pipelines/index.js';
import { chwToImage, type RgbImage } from '../image/index.js';
import type { DecoderStepEvent, DecoderStepTensors } from './decoderSampling.js';

/** One preview: the images of a decoder batch as they stand after a step. */
export interface DecoderPreview {
  /** 1-based unet number, unets in the decoder, and the 0-based step within this unet's loop. */
  unet: number;
  unets: number;
  step: number;
  steps: number;
  batch: number;
  batches: number;
  /** One per batch row: the input index and sample number it belongs to, and the predicted image. */
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

/**
 * The predicted x_0 of each batch row as RGB: the unet's output itself for x_0-predicting unets, else
 * (x_t - sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_bar_t), clamped to [-1, 1] as the samplers do.
 */
export async function previewImages(decoder: Decoder, unet: number, t: DecoderStepTensors, keys: readonly { input: number; sample: number }[]): Promise<DecoderPreview['images']> {
  const [B, C, H, W] = t.x.shape;
  const outC = t.modelOutput.shape[1]; // learned-variance unets append C variance channels
  const out = await t.modelOutput.toFloat32();
  const predictsStart = decoder.config.predictXStart[unet];
  const x = predictsStart ? undefined : await t.x.toFloat32();
  const ab = decoder.schedules[unet].at('alphas_cumprod', t.time);
  const [sa, sb] = [Math.sqrt(ab), Math.sqrt(1 - ab)];
  const n = 3 * H * W;
  const images: DecoderPreview['images'] = [];
  for (let b = 0; b < Math.min(B, keys.length); b++) {
    const chw = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const pred = out[b * outC * H * W + i];
      const x0 = predictsStart ? pred : (x![b * C * H * W + i] - sb * pred) / sa;
      chw[i] = (Math.min(1, Math.max(-1, x0)) + 1) / 2;
    }
    images.push({ input: keys[b].input, sample: keys[b].sample, image: chwToImage(chw, W, H) });
  }
  return images;
}
