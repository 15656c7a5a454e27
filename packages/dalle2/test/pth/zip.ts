import { open } from 'node:fs/promises';
import { deflateRawSync } from 'node:zlib';

/**
 * Zip writer for crafted checkpoints. Entries may be "sparse" (a declared size of zeros
 * followed by a small tail) so multi-GB zip64 files can be written as sparse files.
 */
export interface ZipSpec {
  name: string;
  data?: Uint8Array;
  /** Sparse entry: total size in bytes; zeros except `tail` at the end. */
  size?: number;
  tail?: Uint8Array;
  /** 8 = deflate (only for `data` entries). */
  method?: 0 | 8;
}

export interface ZipOptions {
  /** Always write zip64 records and extra fields (torch writes the zip64 end records anyway). */
  zip64?: boolean;
  /** Pad each local header so data starts on this alignment (torch uses 64). */
  align?: number;
}

export interface Chunk {
  pos: number;
  bytes: Uint8Array;
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(b: Uint8Array): number {
  let c = 0xffffffff;
  for (const x of b) c = CRC_TABLE[(c ^ x) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

class Bytes {
  readonly a: number[] = [];
  u16(n: number): this {
    this.a.push(n & 0xff, (n >>> 8) & 0xff);
    return this;
  }
  u32(n: number): this {
    return this.u16(n & 0xffff).u16(Math.floor(n / 65536) & 0xffff);
  }
  u64(n: number): this {
    return this.u32(n % 2 ** 32).u32(Math.floor(n / 2 ** 32));
  }
  raw(b: Uint8Array | number[]): this {
    for (const x of b) this.a.push(x);
    return this;
  }
  get(): Uint8Array {
    return Uint8Array.from(this.a);
  }
}

/** Lays out a zip as positioned chunks (gaps are zero bytes). */
export function buildZip(specs: ZipSpec[], opts: ZipOptions = {}): { chunks: Chunk[]; size: number } {
  const chunks: Chunk[] = [];
  const central = new Bytes();
  const enc = new TextEncoder();
  const MAX = 0xffffffff;
  let pos = 0;
  for (const s of specs) {
    const name = enc.encode(s.name);
    const payload = s.data === undefined ? undefined : s.method === 8 ? deflateRawSync(s.data) : s.data;
    const size = s.data?.length ?? s.size ?? 0;
    const csize = payload?.length ?? size;
    const crc = s.data === undefined ? 0 : crc32(s.data);
    const big = opts.zip64 === true || size >= MAX || pos >= MAX;
    const headerLen = 30 + name.length + (big ? 20 : 0);
    const pad = opts.align === undefined ? 0 : (opts.align - ((pos + headerLen + 4) % opts.align)) % opts.align;
    const local = new Bytes().u32(0x04034b50).u16(45).u16(0).u16(s.method ?? 0).u16(0).u16(0).u32(crc);
    local.u32(big ? MAX : csize).u32(big ? MAX : size).u16(name.length).u16((big ? 20 : 0) + 4 + pad).raw(name);
    if (big) local.u16(1).u16(16).u64(size).u64(csize);
    local.u16(0xffff).u16(pad).raw(new Array<number>(pad).fill(0x5a)); // padding extra field, like torch's "FB"
    chunks.push({ pos, bytes: local.get() });
    const dataPos = pos + local.a.length;
    if (payload !== undefined) chunks.push({ pos: dataPos, bytes: payload });
    else if (s.tail !== undefined) chunks.push({ pos: dataPos + size - s.tail.length, bytes: s.tail });
    central.u32(0x02014b50).u16(45).u16(45).u16(0).u16(s.method ?? 0).u16(0).u16(0).u32(crc);
    central.u32(big ? MAX : csize).u32(big ? MAX : size).u16(name.length).u16(big ? 28 : 0).u16(0).u16(0).u16(0).u32(0);
    central.u32(big ? MAX : pos).raw(name);
    if (big) central.u16(1).u16(24).u64(size).u64(csize).u64(pos);
    pos = dataPos + csize;
  }
  const cd = central.get();
  chunks.push({ pos, bytes: cd });
  const cdPos = pos;
  pos += cd.length;
  const end = new Bytes();
  const big = opts.zip64 === true || cdPos >= MAX;
  if (big) {
    end.u32(0x06064b50).u64(44).u16(45).u16(45).u32(0).u32(0).u64(specs.length).u64(specs.length).u64(cd.length).u64(cdPos);
    end.u32(0x07064b50).u32(0).u64(pos).u32(1);
  }
  end.u32(0x06054b50).u16(0).u16(0).u16(big ? 0xffff : specs.length).u16(big ? 0xffff : specs.length);
  end.u32(big ? MAX : cd.length).u32(big ? MAX : cdPos).u16(0);
  chunks.push({ pos, bytes: end.get() });
  return { chunks, size: pos + end.a.length };
}

/** The zip as one buffer (small, non-sparse archives). */
export function zipBytes(specs: ZipSpec[], opts: ZipOptions = {}): Uint8Array {
  const { chunks, size } = buildZip(specs, opts);
  const out = new Uint8Array(size);
  for (const c of chunks) out.set(c.bytes, c.pos);
  return out;
}

/** Writes positioned chunks to a (sparse) file of `size` bytes. */
export async function writeChunks(path: string, built: { chunks: Chunk[]; size: number }): Promise<void> {
  const fh = await open(path, 'w');
  try {
    await fh.truncate(built.size);
    for (const c of built.chunks) await fh.write(c.bytes, 0, c.bytes.length, c.pos);
  } finally {
    await fh.close();
  }
}
