// Ports of Python's `html.unescape` and of ftfy's (stricter) `unescape_html`. Both decode numeric
// references exactly; named ones only from the table in htmlEntities.ts.
import { CP1252_C1, NAMED_ENTITIES, isLegacyEntity } from './htmlEntities.js';

/** Python `html._charref`; the `u` flag makes `{1,32}` count code points as Python does. */
const PY_CHARREF = /&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)/gu;

/** Python `html.unescape`: numeric references, then named ones, with HTML5's error handling. */
export function htmlUnescape(text: string): string {
  if (!text.includes('&')) return text;
  return text.replace(PY_CHARREF, (_match: string, ref: string) =>
    ref.startsWith('#') ? numericReference(ref) : namedReference(ref));
}

/** `#65`, `#x41;`: HTML5 maps NUL, CR and the C1 range specially and drops non-characters. */
function numericReference(ref: string): string {
  const hex = ref[1] === 'x' || ref[1] === 'X';
  const digits = ref.slice(hex ? 2 : 1).replace(/;$/, '');
  const code = Number.parseInt(digits, hex ? 16 : 10);
  if (code === 0) return '\ufffd';
  if (code === 0x0d) return '\r';
  if (code >= 0x80 && code <= 0x9f) return CP1252_C1[code - 0x80];
  if ((code >= 0xd800 && code <= 0xdfff) || code > 0x10ffff) return '\ufffd';
  if (isInvalidCodepoint(code)) return '';
  return String.fromCodePoint(code);
}

/** Python's `html._invalid_codepoints` (controls and non-characters), C1 handled above. */
function isInvalidCodepoint(code: number): boolean {
  if ((code >= 0x01 && code <= 0x08) || code === 0x0b) return true;
  if ((code >= 0x0e && code <= 0x1f) || code === 0x7f) return true;
  if (code >= 0xfdd0 && code <= 0xfdef) return true;
  return (code & 0xfffe) === 0xfffe;
}

/** `amp;`, `ampx`, `notit;`: exact name, else the longest legacy (semicolon-free) prefix. */
function namedReference(ref: string): string {
  if (ref.endsWith(';')) {
    const exact = NAMED_ENTITIES.get(ref.slice(0, -1));
    if (exact !== undefined) return exact;
  } else if (isLegacyEntity(ref)) {
    return NAMED_ENTITIES.get(ref) ?? '';
  }
  const chars = Array.from(ref);
  for (let n = chars.length - 1; n > 1; n--) {
    const prefix = chars.slice(0, n).join('');
    if (isLegacyEntity(prefix)) return (NAMED_ENTITIES.get(prefix) ?? '') + chars.slice(n).join('');
  }
  return `&${ref}`;
}

/** ftfy `HTML_ENTITY_RE`: only references closed by `;`. */
const FTFY_ENTITY = /&#?[0-9A-Za-z]{1,24};/g;

/**
 * ftfy `unescape_html`: semicolon-terminated references only, plus upper-cased names
 * (`&EACUTE;` -> `É`) that are not themselves entities.
 */
export function ftfyUnescapeHtml(text: string): string {
  return text.replace(FTFY_ENTITY, ftfyEntity);
}

function ftfyEntity(entity: string): string {
  const name = entity.slice(1, -1);
  const exact = NAMED_ENTITIES.get(name);
  if (exact !== undefined) return exact;
  if (name.startsWith('#')) {
    // A partial decode (the `;` survived) is rejected, as ftfy does.
    const decoded = htmlUnescape(entity);
    return decoded.includes(';') ? entity : decoded;
  }
  const lower = name.toLowerCase();
  const upperOf = name === lower ? undefined : NAMED_ENTITIES.get(lower);
  if (upperOf !== undefined && name === lower.toUpperCase() && htmlUnescape(entity) === entity) {
    return upperOf.toUpperCase();
  }
  return entity;
}
