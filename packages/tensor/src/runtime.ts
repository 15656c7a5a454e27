// The execution engine: one device, one command stream. Ops call `run()` to record a dispatch; dispatches
// accumulate in one command encoder (one compute pass) until `flush()` submits them. Pipelines and
// bind-group layouts are cached by kernel + specialisation; uniforms go to a per-submit arena.
import { requestGpu, describeAdapter, type DeviceOptions, type GpuHandle, type AdapterSummary } from './device.js';
import { BufferPool, type MemoryStats } from './pool.js';
import { specialise, pipelineKey, type Defines } from './kernelSource.js';
import { Profiler, type KernelTiming } from './profiler.js';
import { ScopeStack } from './scope.js';
import type { Tensor } from './tensor.js';
import { TuningTable, defaultTuningDir } from './tuning.js';

export interface RuntimeOptions extends DeviceOptions {
  /** Validate each dispatch in its own error scope so failures name the kernel (slow; env DALLE2_VALIDATE=1). */
  validate?: boolean;
  /** Record GPU timestamps per kernel when the adapter supports it (env DALLE2_PROFILE=1). */
  profile?: boolean;
  /** Submit automatically after this many dispatches (keeps drivers responsive, lets buffers recycle). */
  maxDispatchesPerSubmit?: number;
  /**
   * Folder of per-adapter tuning files (see tuning.ts); false keeps choices in memory only. Default
   * `DALLE2_TUNING_DIR`, else ~/.cache/dalle2-ts/tuning; `DALLE2_TUNING=0` turns the file off.
   */
  tuningDir?: string | false;
}

/** Something a kernel can bind as a storage buffer. */
export interface Binding {
  buffer: GPUBuffer;
  /** Byte offset into the buffer. */
  offset: number;
  /** Byte size of the binding (rounded up to 4 by the runtime). */
  size: number;
}

export interface DispatchSpec {
  kernel: string;
  defines?: Defines;
  /** Bound read-only at bindings 0..n-1. */
  inputs: (Tensor | Binding)[];
  /** Bound read-write after the inputs. */
  outputs: (Tensor | Binding)[];
  /** Packed uniform words, bound last (omit when the kernel has no uniforms). */
  uniforms?: ArrayBuffer;
  workgroups: readonly [number, number?, number?];
  entryPoint?: string;
}

export class GpuError extends Error {
  override name = 'GpuError';
}

const UNIFORM_ARENA_BYTES = 1 << 16;

export class Runtime {
  readonly device: GPUDevice;
  readonly info: AdapterSummary;
  readonly limits: Record<string, number>;
  readonly hasF16: boolean;
  readonly pool: BufferPool;
  readonly scopes = new ScopeStack();
  readonly profiler: Profiler | undefined;
  /** Tuned kernel choices for this adapter (read at creation; `tune()` fills and saves it). */
  readonly tuning: TuningTable;
  private readonly validate: boolean;
  private readonly maxDispatches: number;
  private readonly pipelines = new Map<string, GPUComputePipeline>();
  private readonly layouts = new Map<string, GPUBindGroupLayout>();
  private encoder: GPUCommandEncoder | undefined;
  private pass: GPUComputePassEncoder | undefined;
  private dispatches = 0;
  /** Serial of the command stream being recorded; submitted streams have smaller serials. */
  private serial = 1;
  private completed = 0;
  private arena: { buffer: GPUBuffer; data: Uint8Array; used: number } | undefined;
  private arenaBuffers: GPUBuffer[] = [];
  private errors: string[] = [];
  private lost: string | undefined;
  private destroyed = false;

  private constructor(private readonly gpu: GpuHandle, opts: RuntimeOptions) {
    this.device = gpu.device;
    this.info = gpu.info;
    this.limits = gpu.info.limits;
    this.hasF16 = gpu.hasF16;
    this.validate = opts.validate ?? process.env.DALLE2_VALIDATE === '1';
    this.maxDispatches = opts.maxDispatchesPerSubmit ?? 2048;
    this.pool = new BufferPool(this.device, () => this.completed, (bytes, err) => {
      throw new GpuError(`out of GPU memory allocating ${bytes} bytes (${this.memoryLine()}): ${String(err)}`);
    });
    const dir = opts.tuningDir ?? (process.env.DALLE2_TUNING === '0' ? false : defaultTuningDir());
    this.tuning = new TuningTable(gpu.info, dir === false ? undefined : dir);
    const profile = opts.profile ?? process.env.DALLE2_PROFILE === '1';
    this.profiler = profile && gpu.hasTimestamps ? new Profiler(this.device) : undefined;
    this.device.onuncapturederror = (ev) => {
      this.errors.push(ev.error.message);
    };
    void this.device.lost.then((info) => {
      if (!this.destroyed) this.lost = `${info.reason}: ${info.message}`;
    });
  }

  static async create(opts: RuntimeOptions = {}): Promise<Runtime> {
    return new Runtime(await requestGpu(opts), opts);
  }

  describe(): string {
    return describeAdapter(this.info);
  }

  // ---------------------------------------------------------------- dispatch

  run(spec: DispatchSpec): void {
    this.checkHealthy();
    const defines = spec.defines ?? {};
    const label = pipelineKey(spec.kernel, defines);
    const [x, y = 1, z = 1] = spec.workgroups;
    const maxWg = this.limits.maxComputeWorkgroupsPerDimension;
    if (x > maxWg || y > maxWg || z > maxWg) {
      throw new GpuError(`${label}: dispatch [${x}, ${y}, ${z}] exceeds maxComputeWorkgroupsPerDimension ${maxWg}`);
    }
    if (x === 0 || y === 0 || z === 0) return;
    const nIn = spec.inputs.length;
    const nOut = spec.outputs.length;
    const hasU = spec.uniforms !== undefined;
    if (this.validate) this.device.pushErrorScope('validation');
    const pipeline = this.pipeline(spec.kernel, defines, label, nIn, nOut, hasU, spec.entryPoint ?? 'main');
    const entries: GPUBindGroupEntry[] = [];
    [...spec.inputs, ...spec.outputs].forEach((b, i) => entries.push({ binding: i, resource: this.resource(b, label) }));
    if (hasU) entries.push({ binding: nIn + nOut, resource: this.uniformSlot(spec.uniforms!) });
    const bindGroup = this.device.createBindGroup({ layout: this.layout(nIn, nOut, hasU), entries, label });
    const pass = this.beginPass(label);
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(x, y, z);
    this.dispatches++;
    if (this.profiler || this.validate) this.endPass();
    if (this.validate) {
      this.flush();
      void this.device.popErrorScope().then((e) => {
        if (e) this.errors.push(`${label}: ${e.message}`);
      });
    } else if (this.dispatches >= this.maxDispatches || this.profiler?.full()) {
      this.flush();
    }
  }

  /** Records a buffer-to-buffer copy in the command stream. */
  copy(src: Binding, dst: Binding, bytes: number): void {
    this.checkHealthy();
    this.endPass();
    this.enc().copyBufferToBuffer(src.buffer, src.offset, dst.buffer, dst.offset, bytes);
  }

  /** Submits everything recorded so far. */
  flush(): void {
    if (!this.encoder) return;
    this.endPass();
    this.profiler?.resolve(this.encoder);
    if (this.arena) this.device.queue.writeBuffer(this.arena.buffer, 0, this.arena.data, 0, this.arena.used);
    this.device.queue.submit([this.encoder.finish()]);
    this.encoder = undefined;
    this.dispatches = 0;
    this.arena = undefined;
    const serial = this.serial++;
    for (const b of this.arenaBuffers) this.pool.release(b, serial);
    this.arenaBuffers = [];
    this.profiler?.afterSubmit();
    void this.device.queue.onSubmittedWorkDone().then(() => {
      this.completed = Math.max(this.completed, serial);
    });
  }

  /** Submits and waits for the GPU; throws any error the device reported meanwhile. */
  async sync(): Promise<void> {
    this.flush();
    await this.device.queue.onSubmittedWorkDone();
    this.completed = this.serial - 1;
    await this.profiler?.collect();
    this.checkHealthy();
  }

  /** Copies `bytes` from a binding back to the host. */
  async readBinding(src: Binding, bytes: number): Promise<ArrayBuffer> {
    const size = Math.ceil(bytes / 4) * 4;
    const staging = this.pool.acquire(size, 'readback', true);
    this.copy(src, { buffer: staging, offset: 0, size }, size);
    this.flush();
    try {
      await staging.mapAsync(GPUMapMode.READ, 0, size);
    } catch (e) {
      this.checkHealthy();
      throw e;
    }
    const out = staging.getMappedRange(0, size).slice(0, bytes);
    staging.unmap();
    this.pool.release(staging, this.serial - 1);
    this.checkHealthy();
    return out;
  }

  /** Serial to tag released buffers with: the stream currently being recorded. */
  currentSerial(): number {
    return this.serial;
  }

  /**
   * Pipelines created so far. Their compile time is not measurable here: drivers may compile at first
   * dispatch (lavapipe does), so benches report a case's first run next to its warmed runs instead.
   */
  pipelineCount(): number {
    return this.pipelines.size;
  }

  timings(): KernelTiming[] {
    return this.profiler?.timings() ?? [];
  }

  memory(): MemoryStats {
    return this.pool.memory();
  }

  memoryLine(): string {
    const m = this.pool.memory();
    const mib = (n: number) => (n / 2 ** 20).toFixed(1);
    return `in use ${mib(m.inUse)} MiB, peak ${mib(m.peakInUse)} MiB, allocated ${mib(m.allocated)} MiB`;
  }

  async destroy(): Promise<void> {
    if (this.destroyed) return;
    try {
      await this.sync();
    } finally {
      this.destroyed = true;
      this.pool.destroyAll();
      this.device.destroy();
    }
  }

  /** Throws the first error the device reported (with the kernel label Dawn puts in its messages). */
  checkHealthy(): void {
    if (this.destroyed) throw new GpuError('runtime used after destroy()');
    if (this.lost) throw new GpuError(`GPU device lost (${this.lost})`);
    if (this.errors.length) {
      const [first, ...rest] = this.errors;
      this.errors = [];
      throw new GpuError(rest.length ? `${first}\n(+${rest.length} more GPU errors)` : first);
    }
  }

  // ---------------------------------------------------------------- internals

  private enc(): GPUCommandEncoder {
    return (this.encoder ??= this.device.createCommandEncoder());
  }

  private beginPass(label: string): GPUComputePassEncoder {
    if (this.pass) return this.pass;
    const timestampWrites = this.profiler?.nextWrites(label);
    this.pass = this.enc().beginComputePass(timestampWrites ? { timestampWrites } : {});
    return this.pass;
  }

  private endPass(): void {
    this.pass?.end();
    this.pass = undefined;
  }

  private resource(b: Tensor | Binding, label: string): GPUBufferBinding {
    const r = 'binding' in b ? b.binding() : b;
    const size = Math.max(4, Math.ceil(r.size / 4) * 4);
    const max = this.limits.maxStorageBufferBindingSize;
    if (size > max) {
      throw new GpuError(`${label}: a ${size}-byte operand exceeds maxStorageBufferBindingSize ${max}; this op has no chunked path`);
    }
    if (r.offset + size > r.buffer.size) throw new GpuError(`${label}: binding [${r.offset}, +${size}) past buffer end ${r.buffer.size}`);
    return { buffer: r.buffer, offset: r.offset, size };
  }

  private uniformSlot(data: ArrayBuffer): GPUBufferBinding {
    const align = this.limits.minUniformBufferOffsetAlignment ?? 256;
    const size = Math.max(16, Math.ceil(data.byteLength / 16) * 16);
    if (!this.arena || this.arena.used + size > this.arena.data.byteLength) {
      if (this.arena) this.device.queue.writeBuffer(this.arena.buffer, 0, this.arena.data, 0, this.arena.used);
      // Validation mode submits every dispatch: a full arena per submit would only waste memory.
      const bytes = this.validate ? Math.max(256, size) : Math.max(UNIFORM_ARENA_BYTES, size);
      const buffer = this.pool.acquire(bytes, 'uniform', false);
      this.arenaBuffers.push(buffer);
      this.arena = { buffer, data: new Uint8Array(bytes), used: 0 };
    }
    const offset = this.arena.used;
    this.arena.data.set(new Uint8Array(data), offset);
    this.arena.used = Math.ceil((offset + size) / align) * align;
    return { buffer: this.arena.buffer, offset, size };
  }

  private layout(nIn: number, nOut: number, hasU: boolean): GPUBindGroupLayout {
    const key = `${nIn}:${nOut}:${hasU}`;
    let l = this.layouts.get(key);
    if (!l) {
      const entries: GPUBindGroupLayoutEntry[] = [];
      const vis = GPUShaderStage.COMPUTE;
      for (let i = 0; i < nIn; i++) entries.push({ binding: i, visibility: vis, buffer: { type: 'read-only-storage' } });
      for (let i = 0; i < nOut; i++) entries.push({ binding: nIn + i, visibility: vis, buffer: { type: 'storage' } });
      if (hasU) entries.push({ binding: nIn + nOut, visibility: vis, buffer: { type: 'uniform' } });
      l = this.device.createBindGroupLayout({ entries, label: `layout ${key}` });
      this.layouts.set(key, l);
    }
    return l;
  }

  private pipeline(kernel: string, defines: Defines, label: string, nIn: number, nOut: number, hasU: boolean, entry: string): GPUComputePipeline {
    const key = `${label}#${entry}`;
    let p = this.pipelines.get(key);
    if (!p) {
      const module = this.device.createShaderModule({ code: specialise(kernel, defines), label });
      const layout = this.device.createPipelineLayout({ bindGroupLayouts: [this.layout(nIn, nOut, hasU)], label });
      p = this.device.createComputePipeline({ layout, compute: { module, entryPoint: entry }, label });
      this.pipelines.set(key, p);
    }
    return p;
  }
}
