// PNG text chunks: write iTXt (UTF-8, uncompressed) entries before IEND, read tEXt/iTXt/zTXt back.
// Used to store the parameters an image was generated with inside the image itself.
import { inflateSync } from 'node:zlib';

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, crc]);
}

/** A PNG keyword: 1-79 Latin-1 printable characters, no leading/trailing/double spaces. */
function checkKeyword(key: string): void {
  if (!/^[\x21-\x7e\xa1-\xff](?:[\x21-\x7e\xa1-\xff]| (?! ))*$/.test(key) || key.length > 79 || key.endsWith(' ')) {
    throw new Error(`PNG text keyword "${key}" is not 1-79 printable Latin-1 characters`);
  }
}

interface RawChunk {
  type: string;
  data: Buffer;
  /** Offset of the chunk's length field. */
  at: number;
}

function* chunks(png: Buffer): Generator<RawChunk> {
  if (png.length < 8 || !png.subarray(0, 8).equals(SIGNATURE)) throw new Error('not a PNG file (bad signature)');
  let at = 8;
  while (at + 12 <= png.length) {
    const len = png.readUInt32BE(at);
    const type = png.toString('latin1', at + 4, at + 8);
    if (at + 12 + len > png.length) throw new Error(`PNG chunk ${type} at byte ${at} runs past the end of the file`);
    yield { type, data: png.subarray(at + 8, at + 8 + len), at };
    at += 12 + len;
    if (type === 'IEND') return;
  }
  throw new Error('PNG file has no IEND chunk (truncated?)');
}

/** The PNG with one iTXt chunk per entry inserted before IEND (existing chunks kept). */
export function withPngText(png: Buffer, entries: Readonly<Record<string, string>>): Buffer {
  let iend = -1;
  for (const c of chunks(png)) if (c.type === 'IEND') iend = c.at;
  const added = Object.entries(entries).map(([key, value]) => {
    checkKeyword(key);
    // keyword \0, compression flag 0, method 0, empty language tag \0, empty translated keyword \0, text
    return chunk('iTXt', Buffer.concat([Buffer.from(key, 'latin1'), Buffer.from([0, 0, 0, 0, 0]), Buffer.from(value, 'utf8')]));
  });
  return Buffer.concat([png.subarray(0, iend), ...added, png.subarray(iend)]);
}

/** Text entries of a PNG (tEXt, zTXt and iTXt), keyword -> text; a repeated keyword keeps the first. */
export function readPngText(png: Buffer): Record<string, string> {
  const out: Record<string, string> = Object.create(null) as Record<string, string>;
  const set = (k: string, v: string) => {
    if (!(k in out)) out[k] = v;
  };
  for (const c of chunks(png)) {
    const nul = c.data.indexOf(0);
    if (nul < 0 || !['tEXt', 'zTXt', 'iTXt'].includes(c.type)) continue;
    const key = c.data.toString('latin1', 0, nul);
    if (c.type === 'tEXt') set(key, c.data.toString('latin1', nul + 1));
    else if (c.type === 'zTXt') set(key, inflateBounded(c.data.subarray(nul + 2)).toString('latin1'));
    else {
      const compressed = c.data[nul + 1] === 1;
      const lang = c.data.indexOf(0, nul + 3);
      const trans = lang < 0 ? -1 : c.data.indexOf(0, lang + 1);
      if (trans < 0) continue;
      const body = c.data.subarray(trans + 1);
      set(key, (compressed ? inflateBounded(body) : body).toString('utf8'));
    }
  }
  return out;
}

/** Inflates a text chunk, refusing more than 1 MiB (a tiny chunk must not expand into gigabytes). */
function inflateBounded(data: Buffer): Buffer {
  return inflateSync(data, { maxOutputLength: 1 << 20 });
}
