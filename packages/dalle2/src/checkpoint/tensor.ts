import { bf16BitsToF32, bytesToTypedArray, f16BitsToF32, typedArrayToFloat32, type SafetensorsTypedArray } from '@dalle2/tensor';
import { PickleFault } from './cursor.js';
import { PthError } from './errors.js';
import type { RandomAccessFile } from './file.js';
import { PTH_DTYPE_SIZES, type PthDType, type PthStorage } from './values.js';

/** Where one storage's bytes live in the file. */
export interface StorageEntry {
  byteLength: number;
  /** Absolute file offset of the first byte (zip: needs the local header, so async and lazy). */
  dataOffset(): Promise<number>;
  /** Set when the bytes cannot be read directly (e.g. a compressed zip entry). */
  unsupported?: string;
}

/** Storage key -> location; the legacy loader fills it after the main pickle. */
export type StorageTable = Map<string, StorageEntry>;

/** Shared by all tensors of one checkpoint: the open file and its storage table. */
export class TensorSource {
  readonly table: StorageTable = new Map();
  /** Storages named by the pickle (the legacy loader needs their element sizes). */
  readonly storages = new Map<string, PthStorage>();

  constructor(readonly file: RandomAccessFile) {}

  /** Records a storage from a persistent id; one key must always have one dtype. */
  register(storage: PthStorage): PthStorage {
    const seen = this.storages.get(storage.key);
    if (seen === undefined) this.storages.set(storage.key, storage);
    else if (seen.dtype !== storage.dtype) {
      throw new PickleFault(`storage "${storage.key}" is used as both ${seen.dtype} and ${storage.dtype}`);
    }
    return storage;
  }

  /** Bytes [byteOffset, byteOffset + byteLength) of storage `key`. */
  async read(key: string, byteOffset: number, byteLength: number, what: string): Promise<Uint8Array> {
    const entry = this.table.get(key);
    if (entry === undefined) throw new PthError(this.file.path, `${what}: storage "${key}" not found`);
    if (entry.unsupported !== undefined) throw new PthError(this.file.path, `${what}: ${entry.unsupported}`);
    if (byteOffset + byteLength > entry.byteLength) {
      throw new PthError(this.file.path, `${what}: bytes [${byteOffset}, ${byteOffset + byteLength}) extend past storage "${key}" (${entry.byteLength} bytes)`);
    }
    return this.file.read((await entry.dataOffset()) + byteOffset, byteLength, what);
  }
}

const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * A tensor of a checkpoint whose data stays in the file until read. Reads return
 * contiguous row-major data in a fresh buffer, materialising non-standard strides.
 */
export class PthTensor {
  readonly dtype: PthDType;
  readonly shape: readonly number[];
  readonly stride: readonly number[];
  /** Offset (elements) into the storage. */
  readonly storageOffset: number;
  readonly storage: PthStorage;
  readonly numel: number;
  #name: string | undefined;
  readonly #source: TensorSource;

  constructor(source: TensorSource, storage: PthStorage, storageOffset: number, shape: number[], stride: number[]) {
    this.#source = source;
    this.storage = storage;
    this.dtype = storage.dtype;
    this.storageOffset = storageOffset;
    this.shape = Object.freeze(shape.slice());
    this.stride = Object.freeze(stride.slice());
    this.numel = shape.reduce((a, b) => a * b, 1);
  }

  /** First key path at which the tensor appears in the checkpoint (set when loading). */
  get name(): string | undefined {
    return this.#name;
  }

  static setName(t: PthTensor, name: string): void {
    t.#name ??= name;
  }

  /** True when the strides are the standard row-major ones (size-1 dims may have any stride). */
  get isContiguous(): boolean {
    let expected = 1;
    for (let d = this.shape.length - 1; d >= 0; d--) {
      if (this.shape[d] !== 1 && this.stride[d] !== expected) return false;
      expected *= this.shape[d];
    }
    return true;
  }

  /** Storage element range [first, end) the tensor touches, counted from the storage start. */
  span(): { first: number; end: number } {
    const first = this.storage.baseOffset + this.storageOffset;
    if (this.numel === 0) return { first, end: first };
    let end = first + 1;
    for (let d = 0; d < this.shape.length; d++) end += (this.shape[d] - 1) * this.stride[d];
    return { first, end };
  }

  get byteLength(): number {
    return this.numel * PTH_DTYPE_SIZES[this.dtype];
  }

  /** Raw little-endian bytes, contiguous row-major, in a fresh buffer at offset 0. */
  async readBytes(): Promise<Uint8Array> {
    if (this.numel === 0) return new Uint8Array(0);
    const size = PTH_DTYPE_SIZES[this.dtype];
    const { first, end } = this.span();
    const what = this.#name === undefined ? `tensor in storage "${this.storage.key}"` : `tensor "${this.#name}"`;
    const bytes = await this.#source.read(this.storage.key, first * size, (end - first) * size, what);
    if (this.isContiguous) return bytes;
    return gather(bytes, size, this.shape, this.stride, this.numel);
  }

  /** Data as a typed array (F16/BF16 as raw Uint16 bits, I64 as BigInt64Array, BOOL/U8 as Uint8Array). */
  async read(): Promise<SafetensorsTypedArray> {
    const bytes = await this.readBytes();
    if (!HOST_IS_LITTLE_ENDIAN) swapBytes(bytes, PTH_DTYPE_SIZES[this.dtype]);
    return bytesToTypedArray(this.dtype, bytes);
  }

  /** Data converted to float32 (F16/BF16 exactly; F64 and I64 rounded; BOOL as 0/1). */
  async readFloat32(): Promise<Float32Array> {
    const data = await this.read();
    if (this.dtype === 'F16' && data instanceof Uint16Array) return f16BitsToF32(data);
    if (this.dtype === 'BF16' && data instanceof Uint16Array) return bf16BitsToF32(data);
    return typedArrayToFloat32(this.dtype, data);
  }
}

/** Copies a strided view (starting at element 0 of `src`) into contiguous row-major order. */
function gather(src: Uint8Array, size: number, shape: readonly number[], stride: readonly number[], numel: number): Uint8Array {
  const out = new Uint8Array(numel * size);
  const rank = shape.length;
  const idx = new Array<number>(rank).fill(0);
  let at = 0;
  for (let o = 0; o < numel; o++) {
    const s = at * size;
    for (let b = 0; b < size; b++) out[o * size + b] = src[s + b];
    // Odometer step: bump the last dim, carrying into earlier dims.
    for (let d = rank - 1; d >= 0; d--) {
      idx[d]++;
      at += stride[d];
      if (idx[d] < shape[d]) break;
      at -= stride[d] * shape[d];
      idx[d] = 0;
    }
  }
  return out;
}

function swapBytes(bytes: Uint8Array, size: number): void {
  for (let i = 0; i < bytes.length; i += size) bytes.subarray(i, i + size).reverse();
}
