// Text cleaning of CLIP's simple_tokenizer: `ftfy.fix_text`, `html.unescape` twice, strip, then
// whitespace collapse. ftfy has no JS port; `fixText` is the subset of ftfy 6.1.1's default
// fixers that real prompts meet. Not ported: mojibake repair (`fix_encoding`, with its
// `restore_byte_a0`, `replace_lossy_sequences`, `decode_inconsistent_utf8`), so text that is
// already mis-decoded UTF-8 ("cafÃ©") keeps its mojibake here where ftfy would repair it.
import { CP1252_C1 } from './htmlEntities.js';
import { ftfyUnescapeHtml, htmlUnescape } from './htmlUnescape.js';

/** CLIP `basic_clean`: ftfy, HTML unescape twice (so `&amp;amp;` -> `&`), strip. */
export function basicClean(text: string): string {
  return pyStrip(htmlUnescape(htmlUnescape(fixText(text))));
}

/** CLIP `whitespace_clean`: the `regex` module's `\s` is Unicode White_Space. */
export function whitespaceClean(text: string): string {
  return pyStrip(text.replace(/\p{White_Space}+/gu, ' '));
}

/** Python `str.strip()`: White_Space plus the separators U+001C..U+001F (not JS trim's U+FEFF). */
function pyStrip(text: string): string {
  return text.replace(/^[\p{White_Space}\x1c-\x1f]+|[\p{White_Space}\x1c-\x1f]+$/gu, '');
}

/**
 * ftfy `fix_text` with default settings, minus mojibake repair. Like ftfy it works line by
 * line; once a line contains `<` the text is taken to be HTML and entities are left alone.
 */
export function fixText(text: string): string {
  let unescape = true;
  let out = '';
  for (const line of text.split(/(?<=\n)/)) {
    if (line.includes('<')) unescape = false;
    out += fixSegment(line, unescape);
  }
  return out;
}

/** ftfy `fix_and_explain`: apply the fixers in ftfy's order until nothing changes. */
function fixSegment(text: string, unescape: boolean): string {
  for (;;) {
    const before = text;
    if (unescape) text = ftfyUnescapeHtml(text);
    text = fixC1Controls(text);
    text = fixLatinLigatures(text);
    text = fixCharacterWidth(text);
    text = uncurlQuotes(text);
    text = fixLineBreaks(text);
    text = fixSurrogates(text);
    text = removeTerminalEscapes(text);
    text = removeControlChars(text);
    text = text.normalize('NFC');
    if (text === before) return text;
  }
}

/** C1 controls are nearly always Windows-1252 bytes decoded as Latin-1. */
function fixC1Controls(text: string): string {
  return text.replace(/[\x80-\x9f]/g, (c) => CP1252_C1[c.charCodeAt(0) - 0x80]);
}

/** ftfy `LIGATURES`: typographic and digraph ligatures that NFC leaves alone. */
const LIGATURES: Readonly<Record<string, string>> = {
  '\u0132': 'IJ', '\u0133': 'ij', '\u0149': '\u02bcn',
  '\u01c4': 'D\u017d', '\u01c5': 'D\u017e', '\u01c6': 'd\u017e',
  '\u01c7': 'LJ', '\u01c8': 'Lj', '\u01c9': 'lj',
  '\u01ca': 'NJ', '\u01cb': 'Nj', '\u01cc': 'nj',
  '\u01f1': 'DZ', '\u01f2': 'Dz', '\u01f3': 'dz',
  '\ufb00': 'ff', '\ufb01': 'fi', '\ufb02': 'fl', '\ufb03': 'ffi', '\ufb04': 'ffl',
  '\ufb05': '\u017ft', '\ufb06': 'st',
};

function fixLatinLigatures(text: string): string {
  return text.replace(/[\u0132\u0133\u0149\u01c4-\u01cc\u01f1-\u01f3\ufb00-\ufb06]/g, (c) => LIGATURES[c] ?? c);
}

/** Fullwidth ASCII and halfwidth kana (U+FF01..U+FFEF) and the ideographic space, by NFKC. */
function fixCharacterWidth(text: string): string {
  return text.replace(/[\u3000\uff01-\uffef]/g, (c) => (c === '\u3000' ? ' ' : c.normalize('NFKC')));
}

/** ftfy `uncurl_quotes`: U+02BC, U+2018..U+201B -> `'`; U+201C..U+201F -> `"`. */
function uncurlQuotes(text: string): string {
  return text.replace(/[\u201c-\u201f]/g, '"').replace(/[\u02bc\u2018-\u201b]/g, "'");
}

function fixLineBreaks(text: string): string {
  return text.replace(/\r\n?|[\u2028\u2029\x85]/g, '\n');
}

/** JS strings hold surrogate pairs as one character already; lone halves become U+FFFD. */
function fixSurrogates(text: string): string {
  return text.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd');
}

/** ANSI colour and cursor sequences, e.g. `ESC[1;31m`. */
function removeTerminalEscapes(text: string): string {
  return text.replace(/\x1b\[(?:\p{Nd}|;)*[a-zA-Z]/gu, '');
}

/** ftfy `CONTROL_CHARS`: C0 controls except tab/newline/FF/CR, DEL, deprecated format chars, BOM, interlinear annotation. */
function removeControlChars(text: string): string {
  return text.replace(/[\x00-\x08\x0b\x0e-\x1f\x7f\u206a-\u206f\ufeff\ufff9-\ufffc]/g, '');
}
