// Just enough zip to take a torch checkpoint apart and put it back together with one entry changed
// (e.g. a new data.pkl): stored entries only, zip64 extras read, a plain zip written.
import { concat } from './bytes.js';

export interface ZipPart {
  name: string;
  data: Uint8Array;
}

/** Entries of a zip whose entries are stored (torch's are); throws on anything else. */
export function readZip(buf: Uint8Array): ZipPart[] {
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let eocd = -1;
  for (let i = buf.length - 22; i >= 0; i--) if (v.getUint32(i, true) === 0x06054b50) { eocd = i; break; }
  if (eocd < 0) throw new Error('no end of central directory');
  let count = v.getUint16(eocd + 10, true);
  let cd = v.getUint32(eocd + 16, true);
  if (cd === 0xffffffff || count === 0xffff) {
    const rec = Number(v.getBigUint64(eocd - 20 + 8, true));
    count = Number(v.getBigUint64(rec + 32, true));
    cd = Number(v.getBigUint64(rec + 48, true));
  }
  const out: ZipPart[] = [];
  for (let i = 0, p = cd; i < count; i++) {
    const nameLen = v.getUint16(p + 28, true);
    const extraLen = v.getUint16(p + 30, true);
    const name = new TextDecoder().decode(buf.subarray(p + 46, p + 46 + nameLen));
    let size = v.getUint32(p + 20, true);
    let local = v.getUint32(p + 42, true);
    const wantSize = size === 0xffffffff;
    const wantLocal = local === 0xffffffff;
    for (let e = p + 46 + nameLen; e < p + 46 + nameLen + extraLen; ) {
      const id = v.getUint16(e, true);
      const len = v.getUint16(e + 2, true);
      if (id === 1) {
        let q = e + 4;
        if (v.getUint32(p + 24, true) === 0xffffffff) q += 8;
        if (wantSize) { size = Number(v.getBigUint64(q, true)); q += 8; }
        if (wantLocal) local = Number(v.getBigUint64(q, true));
      }
      e += 4 + len;
    }
    const start = local + 30 + v.getUint16(local + 26, true) + v.getUint16(local + 28, true);
    out.push({ name, data: buf.subarray(start, start + size) });
    p += 46 + nameLen + extraLen + v.getUint16(p + 32, true);
  }
  return out;
}

/** A plain stored zip (data 64-byte aligned like torch's), CRCs zeroed: our reader does not check them. */
export function writeZip(parts: readonly ZipPart[]): Uint8Array {
  const chunks: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let pos = 0;
  for (const part of parts) {
    const name = new TextEncoder().encode(part.name);
    const pad = (64 - ((pos + 30 + name.length + 4) % 64)) % 64;
    const local = new Uint8Array(30 + name.length + 4 + pad);
    const lv = new DataView(local.buffer);
    lv.setUint32(0, 0x04034b50, true);
    lv.setUint16(4, 20, true);
    lv.setUint32(18, part.data.length, true);
    lv.setUint32(22, part.data.length, true);
    lv.setUint16(26, name.length, true);
    lv.setUint16(28, 4 + pad, true);
    local.set(name, 30);
    lv.setUint16(30 + name.length, 0xffff, true);
    lv.setUint16(32 + name.length, pad, true);
    const c = new Uint8Array(46 + name.length);
    const cv = new DataView(c.buffer);
    cv.setUint32(0, 0x02014b50, true);
    cv.setUint16(4, 20, true);
    cv.setUint16(6, 20, true);
    cv.setUint32(20, part.data.length, true);
    cv.setUint32(24, part.data.length, true);
    cv.setUint16(28, name.length, true);
    cv.setUint32(42, pos, true);
    c.set(name, 46);
    central.push(c);
    chunks.push(local, part.data);
    pos += local.length + part.data.length;
  }
  const cd = concat(central);
  const end = new Uint8Array(22);
  const ev = new DataView(end.buffer);
  ev.setUint32(0, 0x06054b50, true);
  ev.setUint16(8, parts.length, true);
  ev.setUint16(10, parts.length, true);
  ev.setUint32(12, cd.length, true);
  ev.setUint32(16, pos, true);
  return concat([...chunks, cd, end]);
}
