import { open as openFile, type FileHandle } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import {
  bytesToTypedArray,
  leToHostInPlace,
  typedArrayToFloat32,
  type SafetensorsTypedArray,
} from './dtypes.js';
import { SafetensorsError } from './errors.js';
import { HEADER_PREFIX_BYTES, parseHeaderJson, readHeaderLength, type TensorInfo } from './header.js';

/**
 * A safetensors file opened for lazy, per-tensor reads. Opening reads and validates only
 * the header; each read fetches one tensor's bytes at its offset into a fresh buffer
 * (so alignment never matters). Reads may run concurrently. Call `close()` when done.
 */
export class SafetensorsFile {
  readonly path: string;
  readonly metadata: Record<string, string>;
  /** Size of the file when it was opened. */
  readonly fileSize: number;
  #handle: FileHandle | null;
  readonly #tensors: Map<string, TensorInfo>;

  private constructor(path: string, handle: FileHandle, fileSize: number, tensors: TensorInfo[], metadata: Record<string, string>) {
    this.path = path;
    this.#handle = handle;
    this.fileSize = fileSize;
    this.metadata = metadata;
    this.#tensors = new Map(tensors.map((t) => [t.name, t]));
  }

  static async open(path: string | URL): Promise<SafetensorsFile> {
    const name = typeof path === 'string' ? path : fileURLToPath(path);
    let handle: FileHandle;
    try {
      handle = await openFile(name, 'r');
    } catch (cause) {
      throw new SafetensorsError(name, `cannot open: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    }
    try {
      const { size } = await handle.stat();
      const prefix = await readExact(handle, name, 0, Math.min(size, HEADER_PREFIX_BYTES));
      const headerLength = readHeaderLength(prefix, size, name);
      const json = await readExact(handle, name, HEADER_PREFIX_BYTES, headerLength);
      const header = parseHeaderJson(json, size, name);
      return new SafetensorsFile(name, handle, size, header.tensors, header.metadata);
    } catch (err) {
      await handle.close();
      throw err;
    }
  }

  /** Tensor names in file (data offset) order. */
  keys(): string[] {
    return [...this.#tensors.keys()];
  }

  has(name: string): boolean {
    return this.#tensors.has(name);
  }

  /** Info of one tensor; throws a SafetensorsError naming file and tensor if absent. */
  info(name: string): TensorInfo {
    const t = this.#tensors.get(name);
    if (t === undefined) {
      throw new SafetensorsError(this.path, `no such tensor (file has ${this.#tensors.size} tensors)`, { tensor: name });
    }
    return { ...t, shape: t.shape.slice() };
  }

  /** Raw little-endian bytes of one tensor, in a fresh buffer at offset 0. */
  async readBytes(name: string): Promise<Uint8Array> {
    const t = this.info(name);
    const handle = this.#handle;
    if (handle === null) throw new SafetensorsError(this.path, 'file is closed', { tensor: name });
    return readExact(handle, this.path, t.byteOffset, t.byteLength, name);
  }

  /**
   * One tensor as a typed array: F32 Float32Array, F64 Float64Array, F16/BF16 Uint16Array
   * (raw bits), I64 BigInt64Array, I32/I16/I8 Int32/16/8Array, U8/BOOL Uint8Array.
   */
  async read(name: string): Promise<SafetensorsTypedArray> {
    const { dtype } = this.info(name);
    const bytes = await this.readBytes(name);
    leToHostInPlace(bytes, dtype);
    return bytesToTypedArray(dtype, bytes);
  }

  /** One tensor converted to float32 (F16/BF16 exactly; F64 and I64 rounded; BOOL as 0/1). */
  async readFloat32(name: string): Promise<Float32Array> {
    const { dtype } = this.info(name);
    return typedArrayToFloat32(dtype, await this.read(name));
  }

  /** Closes the file; later reads throw. Safe to call twice. */
  async close(): Promise<void> {
    const handle = this.#handle;
    this.#handle = null;
    if (handle !== null) await handle.close();
  }
}

/** Node caps a single read at 2 GiB - 1; larger tensors are read in chunks. */
const MAX_READ_CHUNK = 1 << 30;

/** Reads exactly `length` bytes at `position` into a fresh buffer. */
async function readExact(
  handle: FileHandle,
  file: string,
  position: number,
  length: number,
  tensor?: string,
): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  let done = 0;
  while (done < length) {
    const chunk = Math.min(length - done, MAX_READ_CHUNK);
    const { bytesRead } = await handle.read(out, done, chunk, position + done);
    if (bytesRead === 0) {
      const detail = `unexpected end of file at byte ${position + done} (file changed since it was opened?)`;
      throw new SafetensorsError(file, detail, tensor === undefined ? {} : { tensor });
    }
    done += bytesRead;
  }
  return out;
}
