import { inflateRawSync } from 'node:zlib';
import { PthError } from './errors.js';
import type { RandomAccessFile } from './file.js';

/**
 * Minimal read-only zip reader for torch checkpoints: central directory (with zip64), local
 * header lookup to find where an entry's bytes start, and whole-entry reads for small
 * records. Tensor data is never read here; callers read ranges by offset.
 */

export interface ZipEntry {
  name: string;
  /** 0 = stored, 8 = deflate. */
  method: number;
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
  /** Where the next entry's local header (or the central directory) starts: this entry's bytes end before it. */
  limit: number;
}

const EOCD_SIG = 0x06054b50;
const ZIP64_LOCATOR_SIG = 0x07064b50;
const ZIP64_EOCD_SIG = 0x06064b50;
const CDIR_SIG = 0x02014b50;
const LOCAL_SIG = 0x04034b50;
const EOCD_SIZE = 22;
const MAX_COMMENT = 0xffff;
const CDIR_FIXED = 46;
const LOCAL_FIXED = 30;

interface DirectoryLocation {
  entries: number;
  size: number;
  offset: number;
}

/** Reads the central directory into a name -> entry map. */
export async function readZipDirectory(file: RandomAccessFile, maxDirectoryBytes: number): Promise<Map<string, ZipEntry>> {
  const loc = await locateDirectory(file);
  if (loc.size > maxDirectoryBytes) {
    throw new PthError(file.path, `zip central directory is ${loc.size} bytes (limit ${maxDirectoryBytes})`);
  }
  if (loc.entries > loc.size / CDIR_FIXED) {
    throw new PthError(file.path, `zip declares ${loc.entries} entries in a ${loc.size}-byte central directory (corrupt zip)`);
  }
  const buf = await file.read(loc.offset, loc.size, 'zip central directory');
  const dir = parseDirectory(file.path, buf, loc.entries, file.size);
  setLimits(file.path, dir, loc.offset);
  return dir;
}

/**
 * Entries must not overlap: each (local header, name, data) ends before the next local header, the
 * last before the central directory. Without this a crafted directory can point a tensor at the
 * bytes of another entry.
 */
function setLimits(path: string, dir: Map<string, ZipEntry>, directoryOffset: number): void {
  const sorted = [...dir.values()].sort((a, b) => a.localHeaderOffset - b.localHeaderOffset);
  sorted.forEach((e, i) => {
    e.limit = i + 1 < sorted.length ? sorted[i + 1].localHeaderOffset : directoryOffset;
    const minEnd = e.localHeaderOffset + LOCAL_FIXED + utf8Length(e.name) + e.compressedSize;
    if (minEnd > e.limit) {
      const next = i + 1 < sorted.length ? `entry "${sorted[i + 1].name}" at byte ${e.limit}` : `the central directory at byte ${e.limit}`;
      throw new PthError(path, `zip entry "${e.name}" (header at byte ${e.localHeaderOffset}, ${e.compressedSize} bytes) overlaps ${next} (corrupt zip)`);
    }
  });
}

const utf8Length = (s: string): number => new TextEncoder().encode(s).length;

/** Finds the end-of-central-directory record (and its zip64 twin when present). */
async function locateDirectory(file: RandomAccessFile): Promise<DirectoryLocation> {
  if (file.size < EOCD_SIZE) throw new PthError(file.path, `zip too short (${file.size} bytes; truncated?)`);
  const tailLen = Math.min(file.size, EOCD_SIZE + MAX_COMMENT + 20);
  const tailStart = file.size - tailLen;
  const tail = await file.read(tailStart, tailLen, 'zip end records');
  const view = new DataView(tail.buffer);
  let pos = -1;
  for (let i = tailLen - EOCD_SIZE; i >= 0; i--) {
    if (view.getUint32(i, true) === EOCD_SIG && i + EOCD_SIZE + view.getUint16(i + 20, true) <= tailLen) {
      pos = i;
      break;
    }
  }
  if (pos < 0) throw new PthError(file.path, 'zip end-of-central-directory record not found (truncated or not a zip)');
  const loc: DirectoryLocation = {
    entries: view.getUint16(pos + 10, true),
    size: view.getUint32(pos + 12, true),
    offset: view.getUint32(pos + 16, true),
  };
  if (pos >= 20 && view.getUint32(pos - 20, true) === ZIP64_LOCATOR_SIG) {
    const eocd64 = u64(view, pos - 20 + 8, file.path, 'zip64 end record offset');
    return readZip64End(file, eocd64);
  }
  if (loc.offset + loc.size > tailStart + pos) {
    throw new PthError(file.path, `zip central directory [${loc.offset}, ${loc.offset + loc.size}) overlaps its end record (truncated?)`);
  }
  return loc;
}

async function readZip64End(file: RandomAccessFile, offset: number): Promise<DirectoryLocation> {
  const rec = await file.read(offset, 56, 'zip64 end-of-central-directory record');
  const view = new DataView(rec.buffer);
  if (view.getUint32(0, true) !== ZIP64_EOCD_SIG) throw new PthError(file.path, `bad zip64 end record signature at byte ${offset}`);
  const loc: DirectoryLocation = {
    entries: u64(view, 32, file.path, 'zip64 entry count'),
    size: u64(view, 40, file.path, 'zip64 directory size'),
    offset: u64(view, 48, file.path, 'zip64 directory offset'),
  };
  if (loc.offset + loc.size > offset) {
    throw new PthError(file.path, `zip64 central directory [${loc.offset}, ${loc.offset + loc.size}) overlaps its end record (corrupt zip)`);
  }
  return loc;
}

/** Reads a little-endian u64 that must fit a JS safe integer. */
function u64(view: DataView, at: number, file: string, what: string): number {
  const v = view.getBigUint64(at, true);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new PthError(file, `${what} ${v} is too large`);
  return Number(v);
}

function parseDirectory(path: string, buf: Uint8Array, count: number, fileSize: number): Map<string, ZipEntry> {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const names = new TextDecoder('utf-8');
  const out = new Map<string, ZipEntry>();
  let p = 0;
  for (let i = 0; i < count; i++) {
    if (p + CDIR_FIXED > buf.length || view.getUint32(p, true) !== CDIR_SIG) {
      throw new PthError(path, `zip central directory entry ${i} is malformed (corrupt zip)`);
    }
    const flags = view.getUint16(p + 8, true);
    const nameLen = view.getUint16(p + 28, true);
    const extraLen = view.getUint16(p + 30, true);
    const commentLen = view.getUint16(p + 32, true);
    const end = p + CDIR_FIXED + nameLen + extraLen + commentLen;
    if (end > buf.length) throw new PthError(path, `zip central directory entry ${i} runs past the directory (corrupt zip)`);
    const name = names.decode(buf.subarray(p + CDIR_FIXED, p + CDIR_FIXED + nameLen));
    if ((flags & 1) !== 0) throw new PthError(path, `zip entry "${name}" is encrypted`);
    const entry: ZipEntry = {
      name,
      method: view.getUint16(p + 10, true),
      compressedSize: view.getUint32(p + 20, true),
      size: view.getUint32(p + 24, true),
      localHeaderOffset: view.getUint32(p + 42, true),
      limit: fileSize,
    };
    applyZip64Extra(path, entry, new DataView(buf.buffer, buf.byteOffset + p + CDIR_FIXED + nameLen, extraLen));
    if (entry.localHeaderOffset + LOCAL_FIXED + entry.compressedSize > fileSize) {
      throw new PthError(path, `zip entry "${name}" extends past the end of the ${fileSize}-byte file (truncated?)`);
    }
    if (out.has(name)) throw new PthError(path, `zip has two entries named "${name}"`);
    out.set(name, entry);
    p = end;
  }
  return out;
}

/** Replaces 0xffffffff placeholders with the 64-bit values of the zip64 extra field (id 1). */
function applyZip64Extra(path: string, entry: ZipEntry, extra: DataView): void {
  const MAX32 = 0xffffffff;
  const wanted = [entry.size === MAX32, entry.compressedSize === MAX32, entry.localHeaderOffset === MAX32];
  if (!wanted.some(Boolean)) return;
  for (let p = 0; p + 4 <= extra.byteLength; ) {
    const id = extra.getUint16(p, true);
    const len = extra.getUint16(p + 2, true);
    if (id === 1) {
      let q = p + 4;
      const next = (what: string): number => {
        if (q + 8 > p + 4 + len || q + 8 > extra.byteLength) throw new PthError(path, `zip entry "${entry.name}": zip64 field lacks ${what}`);
        const v = u64(extra, q, path, `zip entry "${entry.name}" ${what}`);
        q += 8;
        return v;
      };
      if (wanted[0]) entry.size = next('size');
      if (wanted[1]) entry.compressedSize = next('compressed size');
      if (wanted[2]) entry.localHeaderOffset = next('header offset');
      return;
    }
    p += 4 + len;
  }
  throw new PthError(path, `zip entry "${entry.name}" needs a zip64 extra field but has none`);
}

/**
 * File offset of an entry's first data byte (the local header's extra field varies: torch pads it to
 * align data). The local header must agree with the central directory: same name and method, and the
 * same sizes unless they are deferred to a data descriptor (flag bit 3, as torch writes) or to zip64.
 */
export async function entryDataOffset(file: RandomAccessFile, entry: ZipEntry): Promise<number> {
  const fail = (detail: string): never => {
    throw new PthError(file.path, `zip entry "${entry.name}": ${detail} (corrupt or crafted zip)`);
  };
  if (entry.localHeaderOffset + LOCAL_FIXED > entry.limit) fail(`local header at byte ${entry.localHeaderOffset} runs into the next entry`);
  const head = await file.read(entry.localHeaderOffset, LOCAL_FIXED, `zip local header of "${entry.name}"`);
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  if (view.getUint32(0, true) !== LOCAL_SIG) {
    throw new PthError(file.path, `zip entry "${entry.name}": bad local header signature at byte ${entry.localHeaderOffset}`);
  }
  const flags = view.getUint16(6, true);
  const method = view.getUint16(8, true);
  const nameLen = view.getUint16(26, true);
  if (entry.localHeaderOffset + LOCAL_FIXED + nameLen > entry.limit) fail('local header name runs into the next entry');
  const nameBytes = await file.read(entry.localHeaderOffset + LOCAL_FIXED, nameLen, `zip local header of "${entry.name}"`);
  const localName = new TextDecoder('utf-8').decode(nameBytes);
  if (localName !== entry.name) fail(`local header names it ${JSON.stringify(localName)}`);
  if (method !== entry.method) fail(`local header says compression method ${method}, central directory ${entry.method}`);
  if ((flags & 8) === 0) {
    const sizes: [string, number, number][] = [
      ['compressed size', view.getUint32(18, true), entry.compressedSize],
      ['size', view.getUint32(22, true), entry.size],
    ];
    for (const [what, local, central] of sizes) {
      if (local !== 0xffffffff && local !== central) fail(`local header ${what} ${local} != central directory ${central}`);
    }
  }
  if (entry.method === 0 && entry.size !== entry.compressedSize) {
    fail(`stored (uncompressed) entry declares ${entry.size} bytes but holds ${entry.compressedSize}`);
  }
  const start = entry.localHeaderOffset + LOCAL_FIXED + nameLen + view.getUint16(28, true);
  if (start + entry.compressedSize > file.size) {
    throw new PthError(file.path, `zip entry "${entry.name}" data [${start}, ${start + entry.compressedSize}) runs past the end of the file (truncated?)`);
  }
  if (start + entry.compressedSize > entry.limit) {
    fail(`data [${start}, ${start + entry.compressedSize}) runs into the next entry at byte ${entry.limit}`);
  }
  return start;
}

/** Reads a whole (small) entry, inflating deflate entries; refuses anything over `maxBytes`. */
export async function readZipEntry(file: RandomAccessFile, entry: ZipEntry, maxBytes: number): Promise<Uint8Array> {
  if (entry.size > maxBytes) throw new PthError(file.path, `zip entry "${entry.name}" is ${entry.size} bytes (limit ${maxBytes})`);
  if (entry.method !== 0 && entry.method !== 8) {
    throw new PthError(file.path, `zip entry "${entry.name}" uses unsupported compression method ${entry.method}`);
  }
  const raw = await file.read(await entryDataOffset(file, entry), entry.compressedSize, `zip entry "${entry.name}"`);
  if (entry.method === 0) {
    if (entry.size !== entry.compressedSize) throw new PthError(file.path, `stored zip entry "${entry.name}" has mismatched sizes`);
    return raw;
  }
  let out: Buffer;
  try {
    out = inflateRawSync(raw, { maxOutputLength: Math.max(1, entry.size) });
  } catch (cause) {
    throw new PthError(file.path, `zip entry "${entry.name}": cannot inflate (${cause instanceof Error ? cause.message : String(cause)})`, { cause });
  }
  if (out.length !== entry.size) throw new PthError(file.path, `zip entry "${entry.name}" inflates to ${out.length} bytes, expected ${entry.size}`);
  return new Uint8Array(out.buffer, out.byteOffset, out.length);
}
