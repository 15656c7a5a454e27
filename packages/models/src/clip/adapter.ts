// DALLE2-pytorch 1.1.0 `OpenAIClipAdapter` semantics over our CLIP model.
import { Tensor, tidy, sub, div, mul, sqrt, sum, maximumScalar, resize2d, maskedFill } from '@dalle2/tensor';
import type { ClipModel } from './model.js';
import { truncateTokens, type ClipAdapter, type EmbeddedText } from './types.js';

/** torchvision Normalize constants CLIP's preprocess ends with. */
export const CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073] as const;
export const CLIP_STD = [0.26862954, 0.26130258, 0.27577711] as const;
const EOT = 49407;

/** F.normalize(x, dim=-1): x / max(||x||, 1e-12). */
export function l2norm(x: Tensor): Tensor {
  return tidy(x.rt, () => div(x, maximumScalar(sqrt(sum(mul(x, x), -1, true)), 1e-12)));
}

/**
 * 1.1.0 mask: keep positions up to and including the first EOT (`F.pad(cumsum(tok == eot) == 0, (1, -1), True)`);
 * rows without an EOT (DALLE2 tokenizer output) keep every position.
 */
export function adapterTextMask(tokens: Int32Array, batch: number, L: number): Int32Array {
  const mask = new Int32Array(batch * L);
  for (let b = 0; b < batch; b++) {
    let seenEot = false;
    for (let j = 0; j < L; j++) {
      mask[b * L + j] = j === 0 || !seenEot ? 1 : 0;
      if (tokens[b * L + j] === EOT) seenEot = true;
    }
  }
  return mask;
}

/** textEncodings are the ln_final outputs, positions after the first EOT zeroed (as 1.1.0 masks them). */
/** BaseClipAdapter.validate_and_resize_image: the size check, then ResizeRight (cubic, antialias) when needed. */
export function validateAndResizeImage(pixels: Tensor, imageSize: number): Tensor {
  const S = pixels.shape[pixels.rank - 1];
  if (S < imageSize) {
    throw new Error(`embedImage: you are passing in an image of size ${S} but CLIP requires the image size to be at least ${imageSize}`);
  }
  return S === imageSize ? pixels : resize2d(pixels, [imageSize, imageSize], 'cubic_aa');
}

/** Zeroes the positions whose mask is 0: enc [B, L, W], mask [B, L] host. */
export function zeroMasked(enc: Tensor, mask: Int32Array): Tensor {
  const [B, L] = enc.shape;
  return maskedFill(enc, Tensor.from(enc.rt, mask.map((m) => 1 - m), [B, L, 1], 'i32'), 0);
}

export class OpenAIClipAdapter implements ClipAdapter {
  readonly make = 'openai';
  readonly imageChannels = 3;

  constructor(readonly clip: ClipModel) {}

  get dimLatent(): number {
    return this.clip.config.embedDim;
  }

  get textWidth(): number {
    return this.clip.config.textWidth;
  }

  get imageSize(): number {
    return this.clip.config.imageResolution;
  }

  get maxTextLen(): number {
    return this.clip.config.contextLength;
  }

  /** tokens [B, L] (any L: truncated to the context length, as the adapter does). */
  embedText(tokens: Int32Array, batch: number): EmbeddedText {
    const { ids: cut, L } = truncateTokens(tokens, batch, this.maxTextLen);
    const textMask = adapterTextMask(cut, batch, L);
    const rt = this.clip.rt;
    const out = tidy(rt, () => {
      const { pooled, lnFinal } = this.clip.encodeText(cut, batch);
      return { textEmbed: l2norm(pooled), textEncodings: zeroMasked(lnFinal, textMask) };
    });
    return { ...out, textMask };
  }

  /** pixels [B, 3, S, S] in [0, 1], S >= image size -> l2-normalised image embedding [B, embed]. */
  embedImage(pixels: Tensor): Tensor {
    return tidy(this.clip.rt, () => l2norm(this.clip.encodeImage(normalizeClipPixels(validateAndResizeImage(pixels, this.imageSize)))));
  }
}

/** (x - mean) / std per RGB channel of [B, 3, H, W]. */
export function normalizeClipPixels(x: Tensor): Tensor {
  const rt = x.rt;
  return tidy(rt, () => {
    const mean = Tensor.from(rt, CLIP_MEAN, [1, 3, 1, 1]);
    const std = Tensor.from(rt, CLIP_STD, [1, 3, 1, 1]);
    return div(sub(x, mean), std);
  });
}
