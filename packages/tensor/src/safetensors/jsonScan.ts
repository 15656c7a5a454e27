import { SafetensorsError } from './errors.js';

/**
 * A valid header nests 3 levels (header object -> entry object -> shape/offsets array); anything much
 * deeper is hostile, and V8's recursive JSON.stringify (used for error messages) overflows on it.
 */
export const MAX_HEADER_DEPTH = 8;

/**
 * Most tensors per file. Real checkpoints hold a few thousand (sharded LLMs ~1-3k per file); a 100 MB
 * header of empty entries would otherwise take ~30 s to validate.
 */
export const MAX_HEADER_TENSORS = 100_000;

/**
 * One pass over the header text, before JSON.parse: refuses nesting deeper than `MAX_HEADER_DEPTH`,
 * more than `MAX_HEADER_TENSORS` entries, and a top-level key given twice (JSON.parse would silently keep the last tensor of that name).
 * Iterative, so no input can exhaust the stack; it only tracks brackets and strings, leaving syntax
 * errors to JSON.parse.
 */
export function scanHeaderJson(text: string, fileName: string): void {
  const keys = new Set<string>();
  let depth = 0;
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      const end = stringEnd(text, i);
      if (depth === 1 && expectKey) {
        const literal = text.slice(i, end + 1);
        const key = literal.includes('\\') ? decodeKey(literal) : literal.slice(1, -1);
        if (key !== undefined && keys.has(key)) throw new SafetensorsError(fileName, 'listed twice in the header', { tensor: key });
        if (key !== undefined) keys.add(key);
        if (keys.size > MAX_HEADER_TENSORS + 1) { // + 1: __metadata__
          throw new SafetensorsError(fileName, `header lists more than ${MAX_HEADER_TENSORS} tensors`);
        }
        expectKey = false;
      }
      i = end;
    } else if (c === 0x7b || c === 0x5b) {
      depth++;
      if (depth > MAX_HEADER_DEPTH) {
        throw new SafetensorsError(fileName, `header JSON nests deeper than ${MAX_HEADER_DEPTH} levels at byte ${i} (a valid header nests 3)`);
      }
      expectKey = depth === 1 && c === 0x7b;
    } else if (c === 0x7d || c === 0x5d) {
      depth--;
    } else if (c === 0x2c && depth === 1) {
      expectKey = true;
    }
  }
}

/** Index of the closing quote of the string opening at `start` (or the text's end if unterminated). */
function stringEnd(text: string, start: number): number {
  for (let i = start + 1; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x5c) i++;
    else if (c === 0x22) return i;
  }
  return text.length - 1;
}

function decodeKey(literal: string): string | undefined {
  try {
    const v: unknown = JSON.parse(literal);
    return typeof v === 'string' ? v : undefined;
  } catch {
    return undefined; // malformed: JSON.parse of the whole header reports it
  }
}

/** JSON text of a value for an error message, cut to `max` characters; never throws. */
export function shortJson(value: unknown, max = 120): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = Array.isArray(value) ? '[...]' : String(value);
  }
  return text.length > max ? `${text.slice(0, max - 3)}...` : text;
}
