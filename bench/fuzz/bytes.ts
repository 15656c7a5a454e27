import type { Rng } from './rng.js';

/** Values that tend to break length and offset arithmetic. */
const INTERESTING_32 = [0, 1, 0x7f, 0x80, 0xff, 0x7fff, 0xffff, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff, 4096, 65536, 1 << 24];
const INTERESTING_64 = [0n, 1n, 0xffffffffn, 0x100000000n, 1n << 40n, (1n << 53n) + 1n, (1n << 63n) - 1n, (1n << 64n) - 1n];

/** Byte-level mutations (flips, interesting values, cuts, splices) at offsets inside [from, to). */
export function mutateBytes(rng: Rng, input: Uint8Array, from = 0, to = input.length, rounds = rng.int(1, 6)): Uint8Array {
  let buf: Uint8Array = input.slice();
  let end = Math.min(to, buf.length);
  for (let r = 0; r < rounds && end > from; r++) {
    const at = rng.int(from, end);
    switch (rng.int(0, 8)) {
      case 0: buf[at] ^= 1 << rng.int(0, 8); break;
      case 1: buf[at] = rng.pick([0, 1, 0x7f, 0x80, 0xff]); break;
      case 2: writeU32(buf, at, rng.pick(INTERESTING_32)); break;
      case 3: writeU64(buf, at, rng.pick(INTERESTING_64)); break;
      case 4: { // delete a range
        const n = Math.min(rng.int(1, 65), buf.length - at);
        buf = concat([buf.subarray(0, at), buf.subarray(at + n)]);
        end -= n;
        break;
      }
      case 5: { // duplicate a range in place (repeats structure)
        const n = Math.min(rng.int(1, 257), end - at);
        const copies = rng.int(1, 9);
        buf = concat([buf.subarray(0, at + n), ...Array.from({ length: copies }, () => buf.subarray(at, at + n)), buf.subarray(at + n)]);
        end += n * copies;
        break;
      }
      case 6: { // insert random bytes
        const extra = Uint8Array.from({ length: rng.int(1, 33) }, () => rng.int(0, 256));
        buf = concat([buf.subarray(0, at), extra, buf.subarray(at)]);
        end += extra.length;
        break;
      }
      default: // random byte
        buf[at] = rng.int(0, 256);
    }
  }
  return buf;
}

/** The first `at` bytes (a truncated file). */
export function truncate(rng: Rng, buf: Uint8Array): Uint8Array {
  return buf.slice(0, rng.int(0, buf.length));
}

export function writeU32(buf: Uint8Array, at: number, v: number): void {
  for (let i = 0; i < 4 && at + i < buf.length; i++) buf[at + i] = (v >>> (8 * i)) & 0xff;
}

export function writeU64(buf: Uint8Array, at: number, v: bigint): void {
  for (let i = 0; i < 8 && at + i < buf.length; i++) buf[at + i] = Number((v >> BigInt(8 * i)) & 0xffn);
}

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
