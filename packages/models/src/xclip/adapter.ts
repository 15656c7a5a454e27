// DALLE2-pytorch 1.1.0 `XClipAdapter` over XClipModel.
import { sliceAxis, tidy, type Tensor } from '@dalle2/tensor';
import { l2norm, validateAndResizeImage, zeroMasked } from '../clip/adapter.js';
import { nonPadMask, truncateTokens, type ClipAdapter, type EmbeddedText, type Trace } from '../clip/types.js';
import type { XClipModel } from './model.js';

export interface EmbeddedImage {
  /** l2norm(to_visual_latent(cls)) [B, dim_latent]. */
  imageEmbed: Tensor;
  /** Patch outputs [B, n, dim_image]. */
  imageEncodings: Tensor;
}

export class XClipAdapter implements ClipAdapter {
  readonly make = 'x-clip';

  constructor(readonly clip: XClipModel) {}

  get imageSize(): number {
    return this.clip.config.visualImageSize;
  }

  get imageChannels(): number {
    return this.clip.config.channels;
  }

  get maxTextLen(): number {
    return this.clip.config.textSeqLen;
  }

  get dimLatent(): number {
    return this.clip.config.dimLatent;
  }

  get textWidth(): number {
    return this.clip.config.dimText;
  }

  /** Tokens cut to text_seq_len; the transformer runs unmasked; encodings zeroed where the token is 0. */
  embedText(tokens: Int32Array, batch: number, trace?: Trace): EmbeddedText {
    const { ids, L } = truncateTokens(tokens, batch, this.maxTextLen);
    const textMask = nonPadMask(ids);
    const out = tidy(this.clip.rt, () => {
      const enc = this.clip.textTransformer(ids, batch, trace);
      trace?.('encoder_output', enc);
      const latent = this.clip.toTextLatent(sliceAxis(enc, 1, 0, 1).reshape([batch, this.textWidth]));
      trace?.('text_latent', latent);
      return { textEmbed: l2norm(latent), textEncodings: zeroMasked(sliceAxis(enc, 1, 1, L + 1), textMask) };
    });
    return { ...out, textMask };
  }

  /** Image embedding and encodings of pixels [B, C, S, S] in [0, 1] (not mean/std normalised, as upstream). */
  embedImageDetailed(pixels: Tensor, trace?: Trace): EmbeddedImage {
    return tidy(this.clip.rt, () => {
      const resized = validateAndResizeImage(pixels, this.imageSize);
      trace?.('resized', resized);
      const enc = this.clip.visualTransformer(resized, trace);
      trace?.('encoder_output', enc);
      const [B, n1, D] = enc.shape;
      const latent = this.clip.toVisualLatent(sliceAxis(enc, 1, 0, 1).reshape([B, D]));
      trace?.('image_latent', latent);
      return { imageEmbed: l2norm(latent), imageEncodings: sliceAxis(enc, 1, 1, n1) };
    });
  }

  embedImage(pixels: Tensor): Tensor {
    return tidy(this.clip.rt, () => this.embedImageDetailed(pixels).imageEmbed);
  }
}
