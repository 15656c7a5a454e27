// GPT-2/CLIP reversible byte <-> unicode mapping: each UTF-8 byte becomes one printable
// character, so BPE runs on strings without whitespace or control characters.

const UTF8_ENCODER = new TextEncoder();
/** Not fatal: invalid sequences decode to U+FFFD, as Python's `errors="replace"`. */
const UTF8_DECODER = new TextDecoder('utf-8');

/** Bytes that are printable Latin-1 and map to themselves: `!`..`~`, `¡`..`¬`, `®`..`ÿ`. */
function isPrintableByte(b: number): boolean {
  return (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
}

/**
 * CLIP `bytes_to_unicode`, as an ordered list of [byte, char]: printable bytes first (as
 * themselves), then the rest shifted to U+0100 upwards in byte order. The list order is
 * the order of the first 256 vocabulary entries.
 */
export function bytesToUnicode(): Array<[number, string]> {
  const printable: Array<[number, string]> = [];
  const shifted: Array<[number, string]> = [];
  for (let b = 0; b < 256; b++) {
    if (isPrintableByte(b)) printable.push([b, String.fromCharCode(b)]);
    else shifted.push([b, String.fromCharCode(256 + shifted.length)]);
  }
  return [...printable, ...shifted];
}

/** Byte -> char and char -> byte lookups. */
export class ByteCodec {
  readonly #toChar: string[] = new Array<string>(256);
  readonly #toByte = new Map<string, number>();

  constructor() {
    for (const [byte, char] of bytesToUnicode()) {
      this.#toChar[byte] = char;
      this.#toByte.set(char, byte);
    }
  }

  /** UTF-8 bytes of `text`, one char per byte. */
  encode(text: string): string {
    let out = '';
    for (const byte of UTF8_ENCODER.encode(text)) out += this.#toChar[byte];
    return out;
  }

  /** Inverse of `encode`; invalid UTF-8 becomes U+FFFD (Python's `errors="replace"`). */
  decode(chars: string): string {
    const bytes = new Uint8Array(chars.length);
    for (let i = 0; i < chars.length; i++) {
      const byte = this.#toByte.get(chars[i]);
      if (byte === undefined) throw new RangeError(`byte decoder: no byte for character U+${chars.charCodeAt(i).toString(16)}`);
      bytes[i] = byte;
    }
    return UTF8_DECODER.decode(bytes);
  }
}
