// What every CLIP adapter (DALLE2-pytorch 1.1.0 BaseClipAdapter) offers the rest of the engine, whatever
// its make: sizes, text embedding and image embedding.
import type { Tensor } from '@dalle2/tensor';

export type ClipMakeName = 'openai' | 'x-clip' | 'coca';

export interface EmbeddedText {
  /** The adapter's text embedding [B, dim_latent] (l2-normalised except for coca). */
  textEmbed: Tensor;
  /** Per-token encodings [B, L, width] with masked-out positions zeroed. */
  textEncodings: Tensor;
  /** The adapter's keep-mask [B, L] (1 = kept), host side. */
  textMask: Int32Array;
}

export interface ClipAdapter {
  readonly make: ClipMakeName;
  /** Square input size `validate_and_resize_image` resizes to. */
  readonly imageSize: number;
  readonly imageChannels: number;
  /** Tokens beyond this are cut off by `embed_text`. */
  readonly maxTextLen: number;
  /** Width of the text/image embeddings. */
  readonly dimLatent: number;
  /** Width of the text encodings (last dim). */
  readonly textWidth: number;
  /** tokens [batch, L] row-major (any L: cut to maxTextLen). */
  embedText(tokens: Int32Array, batch: number): EmbeddedText;
  /** pixels [B, C, S, S] in [0, 1], S >= imageSize -> image embedding [B, dim_latent]. */
  embedImage(pixels: Tensor): Tensor;
}

/**
 * Receives named intermediates of a forward pass (fidelity checks). The model may dispose them after the
 * call: take a view to hold on to one (`t.reshape(t.shape).keep()`).
 */
export type Trace = (name: string, t: Tensor) => void;

/** tokens [batch, L0] cut to their first min(L0, maxLen) columns (`text[..., :max_text_len]`). */
export function truncateTokens(tokens: Int32Array, batch: number, maxLen: number): { ids: Int32Array; L: number } {
  const L0 = tokens.length / batch;
  if (!Number.isInteger(L0)) throw new Error(`embedText: ${tokens.length} tokens do not split into ${batch} rows`);
  const L = Math.min(L0, maxLen);
  if (L === L0) return { ids: tokens, L };
  return { ids: Int32Array.from({ length: batch * L }, (_, i) => tokens[Math.floor(i / L) * L0 + (i % L)]), L };
}

/** `tokens != pad` as a host i32 mask. */
export function nonPadMask(tokens: Int32Array, pad = 0): Int32Array {
  return tokens.map((t) => (t !== pad ? 1 : 0));
}

/** Throws naming the first token id outside [0, vocab) (row, column), e.g. BPE ids for a small vocabulary. */
export function checkTokenIds(tokens: Int32Array, batch: number, vocab: number, where: string): void {
  const L = tokens.length / batch;
  const i = tokens.findIndex((t) => t < 0 || t >= vocab);
  if (i >= 0) {
    throw new Error(`${where}: token id ${tokens[i]} at [${Math.floor(i / L)}, ${i % L}] is outside the vocabulary of ${vocab} tokens (the model's num_tokens)`);
  }
}
