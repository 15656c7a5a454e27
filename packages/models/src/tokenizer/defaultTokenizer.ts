// Free-function entry points over the vocabulary shipped with this package.
import { ClipTokenizer } from './clipTokenizer.js';
import type { ClipTokenizeOptions, Dalle2TokenizeOptions } from './tokenize.js';

let shared: ClipTokenizer | undefined;

/** The tokenizer over the shipped vocabulary, loaded once on first use. */
export function defaultClipTokenizer(): ClipTokenizer {
  shared ??= ClipTokenizer.load();
  return shared;
}

/** Options of the free functions: a tokenizer other than the shipped one may be passed. */
export interface WithTokenizer {
  tokenizer?: ClipTokenizer;
}

/**
 * `clip.tokenize`: int32 rows [N, contextLength] (default 77) of [SOT] + bpe + [EOT], zero
 * padded. Over-long prompts throw unless `truncate`, which keeps `contextLength` ids ending in EOT.
 */
export function clipTokenize(texts: string | readonly string[], options: ClipTokenizeOptions & WithTokenizer = {}): Int32Array {
  return (options.tokenizer ?? defaultClipTokenizer()).clipTokenize(texts, options);
}

/**
 * DALLE2-pytorch `tokenizer.tokenize`: int32 rows [N, contextLength] (default 256) of bpe ids,
 * no SOT/EOT, zero padded. Over-long prompts throw unless `truncateText` (first ids kept).
 */
export function dalle2Tokenize(texts: string | readonly string[], options: Dalle2TokenizeOptions & WithTokenizer = {}): Int32Array {
  return (options.tokenizer ?? defaultClipTokenizer()).dalle2Tokenize(texts, options);
}
