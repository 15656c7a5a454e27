// CLIP / DALLE2 tokenizers against token ids dumped from openai/CLIP and DALLE2-pytorch 1.1.0,
// plus the cleaning, truncation and decoding rules.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { SafetensorsFile } from '@dalle2/tensor';
import {
  CLIP_VOCAB_SIZE,
  ClipTokenizer,
  DEFAULT_VOCAB_URL,
  EOT_TOKEN,
  SOT_TOKEN,
  basicClean,
  clipTokenize,
  dalle2Tokenize,
  defaultClipTokenizer,
  htmlUnescape,
  whitespaceClean,
} from '../src/index.js';

const FIXTURES = new URL('../../../../shared/fixtures/', import.meta.url);

interface PromptFixture {
  prompts: string[];
  bpe_token_counts_without_sot_eot: number[];
}

/** Every fixture set that has prompts and their dumped tokens. */
function fixtureSets(): string[] {
  const root = fileURLToPath(FIXTURES);
  if (!existsSync(root)) return [];
  return readdirSync(root, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .filter((name) => existsSync(new URL(`${name}/prompts.json`, FIXTURES)) && existsSync(new URL(`${name}/text.safetensors`, FIXTURES)));
}

/** Row-major [rows, cols] as nested arrays, so a failing row prints as a diff. */
function rowsOf(data: ArrayLike<number | bigint>, cols: number): number[][] {
  const rows: number[][] = [];
  for (let r = 0; r * cols < data.length; r++) rows.push(Array.from({ length: cols }, (_, c) => Number(data[r * cols + c])));
  return rows;
}

const tokenizer = defaultClipTokenizer();
const sets = fixtureSets();

describe('fixture prompts', () => {
  it('finds at least one fixture set', () => {
    expect(sets.length).toBeGreaterThan(0);
  });

  for (const set of sets) {
    describe(set, () => {
      const fixture = JSON.parse(readFileSync(new URL(`${set}/prompts.json`, FIXTURES), 'utf8')) as PromptFixture;

      it('bpe token counts (no SOT/EOT) match', () => {
        const counts = fixture.prompts.map((p) => tokenizer.encode(p).length);
        expect(counts).toEqual(fixture.bpe_token_counts_without_sot_eot);
      });

      it('clip_tokens match clip.tokenize(truncate=True) for every prompt', async () => {
        const file = await SafetensorsFile.open(new URL(`${set}/text.safetensors`, FIXTURES));
        const [n, cols] = file.info('clip_tokens').shape;
        const expected = await file.read('clip_tokens');
        await file.close();
        expect(expected).toBeInstanceOf(Int32Array);
        expect(n).toBe(fixture.prompts.length);
        const got = clipTokenize(fixture.prompts, { contextLength: cols, truncate: true });
        expect(rowsOf(got, cols)).toEqual(rowsOf(expected as Int32Array, cols));
      });

      it('dalle2_tokens match dalle2_pytorch tokenizer.tokenize for every prompt', async () => {
        const file = await SafetensorsFile.open(new URL(`${set}/text.safetensors`, FIXTURES));
        const [n, cols] = file.info('dalle2_tokens').shape;
        const expected = await file.read('dalle2_tokens');
        await file.close();
        expect(expected).toBeInstanceOf(BigInt64Array);
        expect(n).toBe(fixture.prompts.length);
        const got = dalle2Tokenize(fixture.prompts, { contextLength: cols });
        expect(rowsOf(got, cols)).toEqual(rowsOf(expected as BigInt64Array, cols));
      });
    });
  }
});

describe('vocabulary', () => {
  it('ships the project vocabulary file', () => {
    expect(readFileSync(DEFAULT_VOCAB_URL).equals(readFileSync(new URL('clip/bpe_simple_vocab_16e6.txt.gz', FIXTURES)))).toBe(true);
  });

  it('has 49408 ids with SOT 49406 and EOT 49407', () => {
    expect(tokenizer.vocabSize).toBe(CLIP_VOCAB_SIZE);
    expect([tokenizer.sotToken, tokenizer.eotToken]).toEqual([SOT_TOKEN, EOT_TOKEN]);
    expect(tokenizer.encode('<|startoftext|> <|endoftext|>')).toEqual([SOT_TOKEN, EOT_TOKEN]);
  });

  it('loads from an explicit path', () => {
    const other = ClipTokenizer.load(fileURLToPath(DEFAULT_VOCAB_URL));
    expect(other.encode('a corgi')).toEqual(tokenizer.encode('a corgi'));
    expect(other.clipTokenize(['a corgi'], { truncate: true })).toEqual(clipTokenize('a corgi', { tokenizer: other }));
    expect(other.dalle2Tokenize('a corgi')).toEqual(dalle2Tokenize('a corgi'));
  });

  it('rejects a truncated merges file', () => {
    expect(() => new ClipTokenizer('#version\na b\n')).toThrow(/expected 48894/);
  });
});

describe('text cleaning', () => {
  it('unescapes HTML like Python html.unescape', () => {
    expect(htmlUnescape('fish &amp; chips &lt;3 &quot;x&quot; &apos;y&apos;')).toBe(`fish & chips <3 "x" 'y'`);
    expect(htmlUnescape('&amp &ampx &eacute; &eacute &copy2 &notit; &nbsp;')).toBe('& &x é é ©2 ¬it; \u00a0');
    expect(htmlUnescape('&#65;&#x42;&#X43 &#128; &#0; &#x110000; &#x7f;|')).toBe('ABC € \ufffd \ufffd |');
    expect(htmlUnescape('&bogus; & &;')).toBe('&bogus; & &;');
  });

  it('unescapes: ftfy to a fixed point, then html.unescape twice', () => {
    expect(basicClean('&amp;amp;amp;amp;lt;')).toBe('<');
    expect(basicClean('&EACUTE;t&Eacute;')).toBe('ÉtÉ');
    // ftfy leaves entities alone once a line looks like HTML; html.unescape still decodes two levels.
    expect(basicClean('<b>&amp;amp;amp;</b>')).toBe('<b>&amp;</b>');
    expect(tokenizer.encode('fish &amp; chips')).toEqual(tokenizer.encode('fish & chips'));
  });

  it('applies the ported ftfy fixers', () => {
    expect(basicClean('ＦＵＬＬ\u3000ｗｉｄｔｈ ｶﾞ')).toBe('FULL width ガ');
    expect(basicClean('\ufb01sh \ufb02ow \u0133s')).toBe('fish flow ijs');
    expect(basicClean('\u201cquoted\u201d it\u2019s &#x2019;')).toBe(`"quoted" it's '`);
    expect(basicClean('e\u0301t\u00e9')).toBe('\u00e9t\u00e9');
    expect(basicClean('a\u0000b\u0007c\ufeffd\x1b[31me\x1b[0m\x85')).toBe('abcde…');
  });

  it('collapses Unicode whitespace and strips', () => {
    expect(whitespaceClean('  a\t\n b\u00a0c\u2003d\u2028e  ')).toBe('a b c d e');
    // U+FEFF is not White_Space for Python's regex, unlike JS \s.
    expect(whitespaceClean('a\ufeffb')).toBe('a\ufeffb');
    expect(tokenizer.encode('  MULTIPLE   spaces\tand\nnew lines  ')).toEqual(tokenizer.encode('multiple spaces and new lines'));
  });

  it('matches the regex module where JS /iu differs (U+0345 is skipped)', () => {
    expect(tokenizer.encode('!\u0345x')).toEqual(tokenizer.encode('! x'));
  });
});

describe('clipTokenize', () => {
  const long = 'corgi '.repeat(100);
  const longIds = tokenizer.encode(long);

  it('pads [SOT] + bpe + [EOT] with zeros; a string is one row', () => {
    const row = Array.from(clipTokenize('a corgi'));
    expect(row).toHaveLength(77);
    expect(row.slice(0, 4)).toEqual([SOT_TOKEN, ...tokenizer.encode('a corgi'), EOT_TOKEN]);
    expect(row.slice(4).every((id) => id === 0)).toBe(true);
  });

  it('truncates to contextLength with EOT last', () => {
    const rows = rowsOf(clipTokenize(['a corgi', long], { truncate: true }), 77);
    expect(rows[1]).toEqual([SOT_TOKEN, ...longIds.slice(0, 75), EOT_TOKEN]);
    expect(rows[1][76]).toBe(EOT_TOKEN);
  });

  it('accepts exactly contextLength tokens without truncating', () => {
    const ids = tokenizer.encode('corgi '.repeat(75));
    expect(ids).toHaveLength(75);
    expect(Array.from(clipTokenize('corgi '.repeat(75)))).toEqual([SOT_TOKEN, ...ids, EOT_TOKEN]);
  });

  it('throws naming the prompt index and token count', () => {
    expect(() => clipTokenize(['a corgi', long])).toThrow(
      /clipTokenize: input 1 \("corgi corgi .*\.\.\."\) has 102 tokens, too long for context length 77/,
    );
  });

  it('tokenizes the empty prompt as SOT, EOT', () => {
    expect(Array.from(clipTokenize(['', '   ']).filter((id) => id !== 0))).toEqual([SOT_TOKEN, EOT_TOKEN, SOT_TOKEN, EOT_TOKEN]);
    expect(clipTokenize([])).toHaveLength(0);
  });

  it('rejects a bad contextLength', () => {
    expect(() => clipTokenize('x', { contextLength: 0 })).toThrow(/positive integer/);
  });
});

describe('dalle2Tokenize', () => {
  const long = 'corgi '.repeat(300);

  it('has no SOT/EOT, 256 columns, zero padding', () => {
    const row = Array.from(dalle2Tokenize('a corgi'));
    expect(row).toHaveLength(256);
    expect(row.slice(0, 2)).toEqual(tokenizer.encode('a corgi'));
    expect(row.slice(2).every((id) => id === 0)).toBe(true);
    expect(Array.from(dalle2Tokenize('')).every((id) => id === 0)).toBe(true);
  });

  it('truncateText keeps the first contextLength ids without EOT', () => {
    expect(Array.from(dalle2Tokenize(long, { truncateText: true }))).toEqual(tokenizer.encode(long).slice(0, 256));
  });

  it('throws when too long without truncateText', () => {
    expect(() => dalle2Tokenize(['x', 'y', long])).toThrow(/dalle2Tokenize: input 2 .* has 300 tokens, too long for context length 256/);
  });
});

describe('decode', () => {
  it('round-trips words, punctuation and multi-byte text', () => {
    expect(tokenizer.decode(tokenizer.encode('A Corgi wearing sunglasses!'))).toBe('a corgi wearing sunglasses ! ');
    expect(tokenizer.decode(tokenizer.encode('東京の夜景 🌃 naïve'))).toBe('東京の夜景 🌃 naïve ');
    const ids = tokenizer.encode('an extremely long and detailed prompt');
    expect(tokenizer.encode(tokenizer.decode(ids))).toEqual(ids);
  });

  it('keeps or removes SOT/EOT/padding', () => {
    const row = clipTokenize('a corgi', { contextLength: 6 });
    expect(tokenizer.decode(row.subarray(0, 4))).toBe('<|startoftext|>a corgi <|endoftext|>');
    expect(tokenizer.decode(row, { removeStartEnd: true })).toBe('a corgi ');
  });

  it('rejects ids outside the vocabulary', () => {
    expect(() => tokenizer.decode([CLIP_VOCAB_SIZE])).toThrow(/id 49408 is outside the vocabulary/);
  });
});
