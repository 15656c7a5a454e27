// Batch tokenisation into fixed-length, zero-padded rows: CLIP's `clip.tokenize` and
// DALLE2-pytorch's `tokenizer.tokenize` (which adds no SOT/EOT and uses 256 columns).

/** What batching needs from a tokenizer (ClipTokenizer). */
export interface BpeEncoder {
  readonly sotToken: number;
  readonly eotToken: number;
  encode(text: string): number[];
}

export interface ClipTokenizeOptions {
  /** Row length; every CLIP model uses 77. */
  contextLength?: number;
  /** Cut over-long prompts to `contextLength` ids ending in EOT instead of throwing. */
  truncate?: boolean;
}

export interface Dalle2TokenizeOptions {
  /** Row length; DALLE2-pytorch's default is 256. */
  contextLength?: number;
  /** Keep the first `contextLength` ids of over-long prompts (no EOT) instead of throwing. */
  truncateText?: boolean;
}

/**
 * `clip.tokenize`: rows [N, contextLength] of [SOT] + bpe + [EOT], zero padded, row-major
 * int32. With `truncate`, an over-long row keeps its first `contextLength` ids and the last
 * becomes EOT; without, it throws naming the prompt.
 */
export function clipRows(
  tokenizer: BpeEncoder,
  texts: string | readonly string[],
  { contextLength = 77, truncate = false }: ClipTokenizeOptions = {},
): Int32Array {
  checkContextLength('clipTokenize', contextLength);
  const rows = toList(texts).map((text, i) => {
    const ids = [tokenizer.sotToken, ...tokenizer.encode(text), tokenizer.eotToken];
    if (ids.length <= contextLength) return ids;
    if (!truncate) throw tooLong('clipTokenize', i, text, ids.length, contextLength, 'truncate');
    const cut = ids.slice(0, contextLength);
    cut[contextLength - 1] = tokenizer.eotToken;
    return cut;
  });
  return packRows(rows, contextLength);
}

/**
 * DALLE2-pytorch `tokenizer.tokenize`: rows [N, contextLength] of bpe ids only (no SOT/EOT),
 * zero padded, row-major. Upstream returns int64; ids are < 49408, so int32 holds them.
 * With `truncateText`, an over-long row keeps its first `contextLength` ids.
 */
export function dalle2Rows(
  tokenizer: BpeEncoder,
  texts: string | readonly string[],
  { contextLength = 256, truncateText = false }: Dalle2TokenizeOptions = {},
): Int32Array {
  checkContextLength('dalle2Tokenize', contextLength);
  const rows = toList(texts).map((text, i) => {
    const ids = tokenizer.encode(text);
    if (ids.length <= contextLength) return ids;
    if (!truncateText) throw tooLong('dalle2Tokenize', i, text, ids.length, contextLength, 'truncateText');
    return ids.slice(0, contextLength);
  });
  return packRows(rows, contextLength);
}

function toList(texts: string | readonly string[]): readonly string[] {
  return typeof texts === 'string' ? [texts] : texts;
}

function checkContextLength(op: string, contextLength: number): void {
  if (!Number.isInteger(contextLength) || contextLength < 1) {
    throw new RangeError(`${op}: contextLength must be a positive integer, got ${contextLength}`);
  }
}

/** Zero-padded row-major [rows, contextLength]; rows are already at most contextLength long. */
function packRows(rows: readonly number[][], contextLength: number): Int32Array {
  const out = new Int32Array(rows.length * contextLength);
  rows.forEach((ids, i) => out.set(ids, i * contextLength));
  return out;
}

/** Upstream raises `Input {text} is too long for context length {n}`; this adds index and count. */
function tooLong(op: string, index: number, text: string, count: number, contextLength: number, flag: string): Error {
  const preview = text.length > 60 ? `${text.slice(0, 57)}...` : text;
  return new Error(
    `${op}: input ${index} (${JSON.stringify(preview)}) has ${count} tokens, too long for context length ` +
      `${contextLength}; pass { ${flag}: true } to cut it`,
  );
}
