/** Test helpers: hand-built (possibly malformed) safetensors byte images and sample data. */
import type { SafetensorsDType } from '../../src/safetensors/index.js';

export interface CraftOptions {
  /** Header length written in the prefix instead of the real one. */
  lengthOverride?: bigint;
  /** Bytes of the data section (zero-filled). */
  dataBytes?: number;
}

/** 8-byte prefix + header (object is JSON-encoded, string used as is) + zero data. */
export function craft(header: unknown, options: CraftOptions = {}): Uint8Array {
  const text = typeof header === 'string' ? header : JSON.stringify(header);
  const json = new TextEncoder().encode(text);
  const data = options.dataBytes ?? 0;
  const out = new Uint8Array(8 + json.byteLength + data);
  new DataView(out.buffer).setBigUint64(0, options.lengthOverride ?? BigInt(json.byteLength), true);
  out.set(json, 8);
  return out;
}

/** Shorthand for a header entry. */
export function entry(dtype: unknown, shape: unknown, offsets: unknown): Record<string, unknown> {
  return { dtype, shape, data_offsets: offsets };
}

/** Deterministic sample data of `n` elements for each dtype (includes extremes). */
export function sample(dtype: SafetensorsDType, n: number): ArrayBufferView {
  const idx = Array.from({ length: n }, (_, i) => i);
  switch (dtype) {
    case 'F32': return Float32Array.from(idx, (i) => [-0, 1.5, Infinity, NaN, -3.25e-30][i % 5] * (i + 1));
    case 'F64': return Float64Array.from(idx, (i) => Math.PI * (i - 3) * 1e100);
    case 'F16':
    case 'BF16': return Uint16Array.from(idx, (i) => (i * 40503) & 0xffff);
    case 'I64': return BigInt64Array.from(idx, (i) => [-(2n ** 63n), 2n ** 63n - 1n, BigInt(i)][i % 3]);
    case 'I32': return Int32Array.from(idx, (i) => (i % 2 === 0 ? -(2 ** 31) : 2 ** 31 - 1 - i));
    case 'I16': return Int16Array.from(idx, (i) => (i * 7919) % 32768 - 16384);
    case 'I8': return Int8Array.from(idx, (i) => (i * 37) % 256 - 128);
    case 'U8': return Uint8Array.from(idx, (i) => (i * 37) % 256);
    case 'BOOL': return Uint8Array.from(idx, (i) => i % 3 === 0 ? 1 : 0);
  }
}

export function asBytes(v: ArrayBufferView): Uint8Array {
  return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}
