// A Tensor is a dense, row-major view (shape, dtype, element offset) into a reference-counted GPU buffer.
// Reshape and aligned leading-axis slices are views; everything else is an op that writes a new tensor.
import { bytesPerElement, hostArrayFor, type DType } from './dtype.js';
import { numel, resolveReshape, shapeStr, assertValidShape, type Shape } from './shape.js';
import { f32ToF16Bits, f16BitsToF32 } from './safetensors/halfFloat.js';
import type { Runtime, Binding } from './runtime.js';

class Storage {
  refs = 1;
  constructor(
    readonly rt: Runtime,
    readonly buffer: GPUBuffer,
  ) {}

  release(): void {
    if (--this.refs === 0) this.rt.pool.release(this.buffer, this.rt.currentSerial());
  }
}

export type HostData = Float32Array | Uint16Array | Int32Array | readonly number[];

export class Tensor {
  private _disposed = false;

  private constructor(
    readonly rt: Runtime,
    private readonly storage: Storage,
    readonly shape: readonly number[],
    readonly dtype: DType,
    /** Offset in elements into the storage buffer. */
    readonly offset: number,
  ) {
    rt.scopes.track(this);
  }

  /** Uninitialised tensor for a kernel to write (may reuse a buffer freed in the current stream). */
  static empty(rt: Runtime, shape: Shape, dtype: DType = 'f32'): Tensor {
    assertValidShape(shape, 'empty');
    checkDtype(rt, dtype);
    const buffer = rt.pool.acquire(Math.max(4, numel(shape) * bytesPerElement(dtype)), 'storage', true);
    return new Tensor(rt, new Storage(rt, buffer), [...shape], dtype, 0);
  }

  /** Uploads host data. f16 accepts raw half bits (Uint16Array) or numbers/Float32Array to convert. */
  static from(rt: Runtime, data: HostData, shape: Shape, dtype: DType = 'f32'): Tensor {
    assertValidShape(shape, 'from');
    checkDtype(rt, dtype);
    const n = numel(shape);
    if (data.length !== n) throw new Error(`Tensor.from: ${data.length} values for shape ${shapeStr(shape)} (${n} elements)`);
    const host = toHost(data, dtype);
    const bytes = n * bytesPerElement(dtype);
    const buffer = rt.pool.acquire(Math.max(4, bytes), 'storage', false);
    const padded = Math.ceil(bytes / 4) * 4; // writeBuffer sizes must be multiples of 4
    const src = new Uint8Array(host.buffer, host.byteOffset, bytes);
    if (padded === bytes) rt.device.queue.writeBuffer(buffer, 0, src);
    else {
      const tmp = new Uint8Array(padded);
      tmp.set(src);
      rt.device.queue.writeBuffer(buffer, 0, tmp);
    }
    return new Tensor(rt, new Storage(rt, buffer), [...shape], dtype, 0);
  }

  get size(): number {
    return numel(this.shape);
  }

  get rank(): number {
    return this.shape.length;
  }

  get byteSize(): number {
    return this.size * bytesPerElement(this.dtype);
  }

  get disposed(): boolean {
    return this._disposed;
  }

  /** GPU binding of exactly this view's bytes. */
  binding(): Binding {
    this.assertLive('binding');
    return { buffer: this.storage.buffer, offset: this.offset * bytesPerElement(this.dtype), size: this.byteSize };
  }

  /** Same data, new shape (one -1 allowed); no copy. */
  reshape(shape: Shape): Tensor {
    this.assertLive('reshape');
    const to = resolveReshape(this.shape, shape);
    this.storage.refs++;
    return new Tensor(this.rt, this.storage, to, this.dtype, this.offset);
  }

  /**
   * View of rows [start, start+length) of axis 0 without a copy. Only possible when the byte offset
   * meets the adapter's storage-binding alignment; returns undefined otherwise (use the `slice` op).
   */
  narrowView(start: number, length: number): Tensor | undefined {
    this.assertLive('narrowView');
    const rows = this.shape[0];
    if (!(start >= 0 && length >= 0 && start + length <= rows)) {
      throw new Error(`narrowView: rows [${start}, ${start + length}) out of range for shape ${shapeStr(this.shape)}`);
    }
    const rowElems = numel(this.shape.slice(1));
    const offset = this.offset + start * rowElems;
    const align = this.rt.limits.minStorageBufferOffsetAlignment ?? 256;
    if ((offset * bytesPerElement(this.dtype)) % align !== 0) return undefined;
    this.storage.refs++;
    return new Tensor(this.rt, this.storage, [length, ...this.shape.slice(1)], this.dtype, offset);
  }

  /** Reads the tensor back: Float32Array (f32), Uint16Array of half bits (f16) or Int32Array (i32). */
  async read(): Promise<Float32Array | Uint16Array | Int32Array> {
    this.assertLive('read');
    const buf = await this.rt.readBinding(this.binding(), this.byteSize);
    return hostArrayFor(this.dtype, buf, this.size);
  }

  /** Reads the tensor back as float32 whatever its dtype. */
  async toFloat32(): Promise<Float32Array> {
    const a = await this.read();
    if (a instanceof Float32Array) return a;
    if (a instanceof Uint16Array) return f16BitsToF32(a);
    return Float32Array.from(a);
  }

  /** Keeps this tensor alive past the enclosing tidy() scope. */
  keep(): this {
    this.rt.scopes.keep(this);
    return this;
  }

  dispose(): void {
    if (this._disposed) return;
    this._disposed = true;
    this.storage.release();
  }

  toString(): string {
    return `Tensor(${this.dtype}, ${shapeStr(this.shape)})`;
  }

  private assertLive(what: string): void {
    if (this._disposed) throw new Error(`${what}: ${this} was disposed`);
  }
}

function checkDtype(rt: Runtime, dtype: DType): void {
  if (dtype === 'f16' && !rt.hasF16) throw new Error(`dtype f16 needs the adapter feature shader-f16, which ${rt.describe()} lacks`);
}

function toHost(data: HostData, dtype: DType): Float32Array | Uint16Array | Int32Array {
  switch (dtype) {
    case 'f32':
      return data instanceof Float32Array ? data : Float32Array.from(data);
    case 'i32':
      return data instanceof Int32Array ? data : Int32Array.from(data);
    case 'f16':
      if (data instanceof Uint16Array) return data;
      return f32ToF16Bits(data instanceof Float32Array ? data : Float32Array.from(data));
  }
}

/** Runs `fn`, disposing every tensor it created except those in its result (or kept). */
export function tidy<T>(rt: Runtime, fn: () => T): T {
  return rt.scopes.run(fn, collectTensors);
}

function collectTensors(r: unknown): Tensor[] {
  if (r instanceof Tensor) return [r];
  if (Array.isArray(r)) return r.flatMap(collectTensors);
  if (r && typeof r === 'object') return Object.values(r).flatMap(collectTensors);
  return [];
}
