// DALLE2-pytorch 1.1.0 `CoCaAdapter` over CoCaModel, with image_size / image_channels / max_text_len
// as its overrides (see config.ts). Images from pixels are refused: a config-built CoCa has no img_encoder.
import { tidy, type Tensor } from '@dalle2/tensor';
import { nonPadMask, truncateTokens, type ClipAdapter, type EmbeddedText, type Trace } from '../clip/types.js';
import { validateAndResizeImage, zeroMasked } from '../clip/adapter.js';
import type { CoCaImage, CoCaModel } from './model.js';

export class CoCaImageError extends Error {
  override name = 'CoCaImageError';
}

export const COCA_NO_IMAGE_ENCODER =
  'clip make "coca" cannot embed images: CoCa.embed_image(images) needs the img_encoder module passed to ' +
  'CoCa(img_encoder=...), which a config cannot provide and the CoCa state dict does not hold (no img_encoder.* keys). ' +
  'Upstream fails the same way ("img_encoder must be passed in for automatic image encoding"). Image variations and ' +
  'image-conditioned decoding need CLIP image embeddings: use an "openai" or "x-clip" CLIP, or give image embeddings directly; ' +
  'CoCa can only pool precomputed image tokens (embedImageTokens)';

export class CoCaAdapter implements ClipAdapter {
  readonly make = 'coca';

  constructor(readonly clip: CoCaModel) {}

  get imageSize(): number {
    return this.clip.config.imageSize;
  }

  get imageChannels(): number {
    return this.clip.config.imageChannels;
  }

  get maxTextLen(): number {
    return this.clip.config.maxTextLen;
  }

  get dimLatent(): number {
    return this.clip.config.dim;
  }

  get textWidth(): number {
    return this.clip.config.dim;
  }

  /** Tokens cut to max_text_len; text_embed is NOT l2-normalised; encodings zeroed where the token is 0. */
  embedText(tokens: Int32Array, batch: number, trace?: Trace): EmbeddedText {
    const { ids } = truncateTokens(tokens, batch, this.maxTextLen);
    const textMask = nonPadMask(ids);
    const out = tidy(this.clip.rt, () => {
      const { textEmbed, textTokens } = this.clip.embedText(ids, batch, trace);
      return { textEmbed, textEncodings: zeroMasked(textTokens, textMask) };
    });
    return { ...out, textMask };
  }

  /** validate_and_resize_image: what the adapter does to pixels before CoCa refuses them. */
  validateAndResizeImage(pixels: Tensor): Tensor {
    return validateAndResizeImage(pixels, this.imageSize);
  }

  embedImage(_pixels: Tensor): Tensor {
    throw new CoCaImageError(COCA_NO_IMAGE_ENCODER);
  }

  /** CoCa.embed_image(image_tokens=...) as the adapter returns it (no l2norm). */
  embedImageTokens(imageTokens: Tensor, trace?: Trace): CoCaImage {
    return this.clip.embedImageTokens(imageTokens, trace);
  }
}
