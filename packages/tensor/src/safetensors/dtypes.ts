import { bf16BitsToF32, f16BitsToF32 } from './halfFloat.js';
import { SafetensorsError } from './errors.js';
import { shortJson } from './jsonScan.js';

export type SafetensorsDType = 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL' | 'F64';

/** Typed array returned by `read()`: F16/BF16 come back as raw Uint16 bits. */
export type SafetensorsTypedArray =
  | Float32Array
  | Float64Array
  | Uint16Array
  | BigInt64Array
  | Int32Array
  | Int16Array
  | Int8Array
  | Uint8Array;

/** Bytes per element. */
export const DTYPE_SIZES: Readonly<Record<SafetensorsDType, number>> = {
  F64: 8,
  I64: 8,
  F32: 4,
  I32: 4,
  F16: 2,
  BF16: 2,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
};

export const SAFETENSORS_DTYPES = Object.keys(DTYPE_SIZES) as readonly SafetensorsDType[];

export function isSafetensorsDType(value: unknown): value is SafetensorsDType {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(DTYPE_SIZES, value);
}

/** Number of elements of a shape (1 for a scalar `[]`). */
export function numElements(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/**
 * Typed array of `dtype` over `bytes`. Copies when `bytes` is not aligned to the element
 * size (safetensors offsets need not be aligned), otherwise shares the memory.
 */
export function bytesToTypedArray(dtype: SafetensorsDType, bytes: Uint8Array): SafetensorsTypedArray {
  const size = DTYPE_SIZES[dtype];
  if (bytes.byteLength % size !== 0) {
    throw new RangeError(`${bytes.byteLength} bytes is not a whole number of ${dtype} elements`);
  }
  const src = bytes.byteOffset % size === 0 ? bytes : bytes.slice();
  const { buffer, byteOffset } = src;
  const n = src.byteLength / size;
  switch (dtype) {
    case 'F32': return new Float32Array(buffer, byteOffset, n);
    case 'F64': return new Float64Array(buffer, byteOffset, n);
    case 'F16':
    case 'BF16': return new Uint16Array(buffer, byteOffset, n);
    case 'I64': return new BigInt64Array(buffer, byteOffset, n);
    case 'I32': return new Int32Array(buffer, byteOffset, n);
    case 'I16': return new Int16Array(buffer, byteOffset, n);
    case 'I8': return new Int8Array(buffer, byteOffset, n);
    case 'U8':
    case 'BOOL': return new Uint8Array(buffer, byteOffset, n);
  }
}

/** Converts data as returned by `bytesToTypedArray(dtype, ...)` to float32 (new array unless already F32). */
export function typedArrayToFloat32(dtype: SafetensorsDType, data: SafetensorsTypedArray): Float32Array {
  if (dtype === 'F32' && data instanceof Float32Array) return data;
  if ((dtype === 'F16' || dtype === 'BF16') && data instanceof Uint16Array) {
    return dtype === 'F16' ? f16BitsToF32(data) : bf16BitsToF32(data);
  }
  if (data instanceof BigInt64Array) {
    const out = new Float32Array(data.length);
    for (let i = 0; i < data.length; i++) out[i] = Number(data[i]);
    return out;
  }
  return new Float32Array(data);
}

/** True on little-endian hosts (all mainstream ones); safetensors data is little-endian. */
export const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Reverses the bytes of each `elementSize`-byte element in place (endianness swap). */
export function swapBytesInPlace(bytes: Uint8Array, elementSize: number): void {
  if (elementSize === 1) return;
  for (let i = 0; i < bytes.length; i += elementSize) {
    for (let a = i, b = i + elementSize - 1; a < b; a++, b--) {
      const t = bytes[a];
      bytes[a] = bytes[b];
      bytes[b] = t;
    }
  }
}

/** Converts freshly copied little-endian file bytes to host order (no-op on LE hosts). */
export function leToHostInPlace(bytes: Uint8Array, dtype: SafetensorsDType): void {
  if (!HOST_IS_LITTLE_ENDIAN) swapBytesInPlace(bytes, DTYPE_SIZES[dtype]);
}

/** Checks a shape: array of non-negative safe integers with a safe element count. */
export function checkShape(shape: unknown, file: string, tensor: string): number[] {
  if (!Array.isArray(shape)) {
    throw new SafetensorsError(file, `shape must be an array of non-negative integers, got ${shortJson(shape)}`, { tensor });
  }
  shape.forEach((d: unknown, i) => {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) {
      throw new SafetensorsError(
        file,
        `shape ${shortJson(shape)} has invalid dimension ${shortJson(d)} at index ${i} (must be a non-negative integer)`,
        { tensor },
      );
    }
  });
  const dims = shape as number[];
  if (!Number.isSafeInteger(numElements(dims))) {
    throw new SafetensorsError(file, `shape ${shortJson(dims)} has too many elements`, { tensor });
  }
  return dims.slice();
}
