/**
 * Bounded byte cursor for the unpickler. Every declared length is checked against the
 * bytes that really exist before anything is sliced or allocated.
 */

/** A malformed or refused pickle; the unpickler adds file, pickle and byte position. */
export class PickleFault extends Error {}

/**
 * The buffer holds only a prefix of the bytes available (legacy files are read in growing
 * chunks); the caller should retry with at least `wanted` bytes.
 */
export class NeedMoreData extends Error {
  constructor(readonly wanted: number) {
    super(`need ${wanted} bytes`);
  }
}

/** Longest GLOBAL module/name line we accept. */
const MAX_LINE = 1024;

export class Cursor {
  pos = 0;

  constructor(
    private readonly buf: Uint8Array,
    /** Bytes that exist from buf[0] on (>= buf.length); bounds declared lengths. */
    private readonly available: number,
  ) {}

  /** A view of the next `n` bytes (copy it if it must outlive the buffer). */
  take(n: number, what: string): Uint8Array {
    const remaining = this.available - this.pos;
    if (!Number.isSafeInteger(n) || n < 0 || n > remaining) {
      throw new PickleFault(`${what} declares ${n} bytes but only ${remaining} remain (truncated or corrupt pickle)`);
    }
    if (this.pos + n > this.buf.length) throw new NeedMoreData(this.pos + n);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  private view(n: number, what: string): DataView {
    const b = this.take(n, what);
    return new DataView(b.buffer, b.byteOffset, n);
  }

  u8(what: string): number {
    return this.take(1, what)[0];
  }

  u16(what: string): number {
    return this.view(2, what).getUint16(0, true);
  }

  u32(what: string): number {
    return this.view(4, what).getUint32(0, true);
  }

  i32(what: string): number {
    return this.view(4, what).getInt32(0, true);
  }

  /** Unsigned 64-bit length; values past 2^53 cannot fit any file, so they are faults. */
  u64(what: string): number {
    const v = this.view(8, what).getBigUint64(0, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new PickleFault(`${what} declares ${v} bytes, more than any file holds`);
    return Number(v);
  }

  /** Big-endian IEEE double (BINFLOAT). */
  f64be(what: string): number {
    return this.view(8, what).getFloat64(0, false);
  }

  /** A newline-terminated ASCII line (GLOBAL operands), without the newline. */
  line(what: string): string {
    const limit = Math.min(this.available, this.pos + MAX_LINE + 1);
    for (let p = this.pos; p < limit; p++) {
      if (p >= this.buf.length) throw new NeedMoreData(Math.min(this.available, this.pos + MAX_LINE + 1));
      if (this.buf[p] === 0x0a) {
        const text = new TextDecoder('latin1').decode(this.buf.subarray(this.pos, p));
        this.pos = p + 1;
        return text;
      }
    }
    throw new PickleFault(`${what}: no newline within ${MAX_LINE} bytes`);
  }
}

/** Python's two's-complement little-endian LONG1/LONG4 payload; a number when it is safe. */
export function decodeLong(bytes: Uint8Array): number | bigint {
  if (bytes.length === 0) return 0;
  let v = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[i]);
  if ((bytes[bytes.length - 1] & 0x80) !== 0) v -= 1n << BigInt(8 * bytes.length);
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}
