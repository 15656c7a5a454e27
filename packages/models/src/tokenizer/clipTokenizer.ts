// CLIP's byte-level BPE tokenizer (openai/CLIP `clip/simple_tokenizer.py`), which DALLE2-pytorch
// copies unchanged. Vocabulary: 256 byte symbols, the same with `</w>`, 48894 merges, then
// `<|startoftext|>` and `<|endoftext|>`: 49408 ids.
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { ByteCodec, bytesToUnicode } from './byteEncoder.js';
import { END_OF_WORD, bytePairEncode, type MergeRanks } from './bpe.js';
import { basicClean, whitespaceClean } from './textClean.js';
import { clipRows, dalle2Rows, type ClipTokenizeOptions, type Dalle2TokenizeOptions } from './tokenize.js';

export const START_OF_TEXT = '<|startoftext|>';
export const END_OF_TEXT = '<|endoftext|>';
export const CLIP_VOCAB_SIZE = 49408;
export const SOT_TOKEN = 49406;
export const EOT_TOKEN = 49407;

/** Upstream keeps lines 1..48894 of the merges file (line 0 is a version header). */
const MERGE_COUNT = 49152 - 256 - 2;

/** The vocabulary shipped with this package; resolves from both src/ and dist/. */
export const DEFAULT_VOCAB_URL = new URL('../../assets/bpe_simple_vocab_16e6.txt.gz', import.meta.url);

/**
 * Pre-tokeniser of simple_tokenizer.py (`regex` module, IGNORECASE). Its `\s` is Unicode
 * White_Space, which JS `\s` is not (JS adds U+FEFF, lacks U+0085).
 */
const PRE_TOKEN =
  /<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|\p{L}+|\p{N}|[^\p{White_Space}\p{L}\p{N}]+/giu;

/**
 * U+0345 (combining ypogegrammeni) case-folds to a letter: under IGNORECASE Python's `regex`
 * matches it with no branch (it is skipped like a space) while JS `\p{L}/iu` takes it as a
 * letter. It is the one assigned code point where the two engines differ.
 */
const IGNORED_BY_PRE_TOKEN = /\u0345/g;

export interface DecodeOptions {
  /**
   * Drop `<|startoftext|>`, `<|endoftext|>` and 0 (padding), as DALLE2-pytorch's decode does
   * (upstream lists EOT as 40407, a typo; the real EOT id is dropped here). Default false.
   */
  removeStartEnd?: boolean;
}

export class ClipTokenizer {
  readonly vocabSize: number;
  readonly sotToken: number;
  readonly eotToken: number;
  readonly #codec = new ByteCodec();
  readonly #encoder = new Map<string, number>();
  readonly #decoder: string[];
  readonly #ranks: MergeRanks;
  /** Byte-encoded pre-token -> ids. Unbounded, as upstream; prompts reuse few words. */
  readonly #cache = new Map<string, number[]>();

  /** From the text of a merges file (`bpe_simple_vocab_16e6.txt`). */
  constructor(mergesText: string) {
    const merges = parseMerges(mergesText);
    const bytes = bytesToUnicode().map(([, char]) => char);
    const vocab = [...bytes, ...bytes.map((c) => c + END_OF_WORD), ...merges.map(([a, b]) => a + b)];
    vocab.push(START_OF_TEXT, END_OF_TEXT);
    vocab.forEach((symbol, id) => this.#encoder.set(symbol, id));
    this.#decoder = vocab;
    this.#ranks = new Map(merges.map(([a, b], rank) => [`${a} ${b}`, rank]));
    this.vocabSize = vocab.length;
    this.sotToken = this.#idOf(START_OF_TEXT);
    this.eotToken = this.#idOf(END_OF_TEXT);
    for (const special of [START_OF_TEXT, END_OF_TEXT]) this.#cache.set(special, [this.#idOf(special)]);
  }

  /** From the gzipped merges file's bytes. */
  static fromGzip(gz: Uint8Array): ClipTokenizer {
    return new ClipTokenizer(new TextDecoder('utf-8').decode(gunzipSync(gz)));
  }

  /** Reads a `.txt.gz` merges file; defaults to the vocabulary shipped with this package. */
  static load(path: string | URL = DEFAULT_VOCAB_URL): ClipTokenizer {
    return ClipTokenizer.fromGzip(readFileSync(path));
  }

  /** Cleans, lower-cases and BPE-encodes `text`; no SOT/EOT. */
  encode(text: string): number[] {
    const cleaned = whitespaceClean(basicClean(text)).toLowerCase().replace(IGNORED_BY_PRE_TOKEN, ' ');
    const ids: number[] = [];
    for (const [preToken] of cleaned.matchAll(PRE_TOKEN)) ids.push(...this.#encodePreToken(preToken));
    return ids;
  }

  /** `clip.tokenize`: int32 rows [N, contextLength] of [SOT] + bpe + [EOT] (see `clipRows`). */
  clipTokenize(texts: string | readonly string[], options?: ClipTokenizeOptions): Int32Array {
    return clipRows(this, texts, options);
  }

  /** DALLE2-pytorch `tokenizer.tokenize`: int32 rows [N, contextLength] of bpe ids (see `dalle2Rows`). */
  dalle2Tokenize(texts: string | readonly string[], options?: Dalle2TokenizeOptions): Int32Array {
    return dalle2Rows(this, texts, options);
  }

  /** Ids -> text; `</w>` becomes a space, so words come back space-separated (with a trailing one). */
  decode(ids: Iterable<number>, options: DecodeOptions = {}): string {
    let chars = '';
    for (const id of ids) {
      if (options.removeStartEnd && (id === this.sotToken || id === this.eotToken || id === 0)) continue;
      const symbol = this.#decoder[id];
      if (symbol === undefined) throw new RangeError(`ClipTokenizer.decode: id ${id} is outside the vocabulary [0, ${this.vocabSize})`);
      chars += symbol;
    }
    return this.#codec.decode(chars).replaceAll(END_OF_WORD, ' ');
  }

  #encodePreToken(preToken: string): number[] {
    const encoded = this.#codec.encode(preToken);
    let ids = this.#cache.get(encoded);
    if (ids === undefined) {
      ids = bytePairEncode(encoded, this.#ranks).map((symbol) => this.#idOf(symbol));
      this.#cache.set(encoded, ids);
    }
    return ids;
  }

  #idOf(symbol: string): number {
    const id = this.#encoder.get(symbol);
    if (id === undefined) throw new Error(`ClipTokenizer: symbol ${JSON.stringify(symbol)} is not in the vocabulary`);
    return id;
  }
}

/** Merge lines 1..MERGE_COUNT as [first, second] symbol pairs. */
function parseMerges(text: string): Array<[string, string]> {
  const lines = text.split('\n').slice(1, MERGE_COUNT + 1);
  if (lines.length !== MERGE_COUNT) {
    throw new Error(`ClipTokenizer: merges file has ${lines.length} merge lines, expected ${MERGE_COUNT}`);
  }
  return lines.map((line, i) => {
    const parts = line.trim().split(/\s+/);
    if (parts.length !== 2) throw new Error(`ClipTokenizer: merges line ${i + 1} is not two symbols: ${JSON.stringify(line)}`);
    return [parts[0], parts[1]];
  });
}
