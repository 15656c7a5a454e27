// GPU buffer pool keyed by (usage class, bucketed size). A released buffer is recycled only once
// the GPU is known to be past every submit that touched it, with one exception: a kernel output may
// take a buffer freed earlier in the *same* command stream, because the queue executes dispatches in
// order (Dawn inserts the read->write barrier). CPU writes (uploads, uniforms) never take such a buffer.

export type UsageClass = 'storage' | 'uniform' | 'readback';

const USAGE_FLAGS: Record<UsageClass, () => number> = {
  storage: () => GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
  uniform: () => GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
  readback: () => GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
};

/** Size classes: powers of two below 64 KiB, then 4 steps per octave (<= 19% waste). */
export function bucketSize(bytes: number): number {
  const b = Math.max(16, Math.ceil(bytes / 16) * 16);
  if (b <= 65536) return 2 ** Math.ceil(Math.log2(b));
  const octave = 2 ** Math.floor(Math.log2(b));
  const step = octave / 4;
  return Math.ceil(b / step) * step;
}

interface Released {
  buffer: GPUBuffer;
  /** Submit serial after whose completion the buffer is idle. */
  serial: number;
}

export interface MemoryStats {
  /** Bytes held by live tensors (and other acquired buffers). */
  inUse: number;
  peakInUse: number;
  /** Bytes of every GPUBuffer the pool owns, free ones included. */
  allocated: number;
  peakAllocated: number;
  buffers: number;
}

export class BufferPool {
  private readonly free = new Map<string, GPUBuffer[]>();
  private readonly pending = new Map<string, Released[]>();
  private readonly sizes = new WeakMap<GPUBuffer, { key: string; size: number }>();
  private stats: MemoryStats = { inUse: 0, peakInUse: 0, allocated: 0, peakAllocated: 0, buffers: 0 };

  constructor(
    private readonly device: GPUDevice,
    /** Highest submit serial known complete. */
    private readonly completedSerial: () => number,
    private readonly onAllocFailure: (bytes: number, err: unknown) => never,
  ) {}

  /**
   * @param gpuOnlyWrite true when only GPU commands recorded after this call write the buffer, which
   *   allows reusing buffers released in the current, not yet completed command stream.
   */
  acquire(bytes: number, usage: UsageClass, gpuOnlyWrite: boolean): GPUBuffer {
    const size = bucketSize(bytes);
    const key = `${usage}:${size}`;
    const buf = this.takeFree(key) ?? (gpuOnlyWrite ? this.takePending(key) : undefined) ?? this.create(size, key, usage);
    this.stats.inUse += size;
    this.stats.peakInUse = Math.max(this.stats.peakInUse, this.stats.inUse);
    return buf;
  }

  release(buffer: GPUBuffer, serial: number): void {
    const meta = this.sizes.get(buffer);
    if (!meta) throw new Error('BufferPool.release: buffer not owned by this pool');
    this.stats.inUse -= meta.size;
    let list = this.pending.get(meta.key);
    if (!list) this.pending.set(meta.key, (list = []));
    list.push({ buffer, serial });
  }

  /** Destroys every idle buffer (e.g. between pipeline stages, or on allocation failure). */
  trim(): void {
    this.retire();
    for (const list of this.free.values()) for (const b of list) this.destroy(b);
    this.free.clear();
  }

  memory(): MemoryStats {
    return { ...this.stats };
  }

  resetPeak(): void {
    this.stats.peakInUse = this.stats.inUse;
    this.stats.peakAllocated = this.stats.allocated;
  }

  destroyAll(): void {
    this.trim();
    for (const list of this.pending.values()) for (const r of list) this.destroy(r.buffer);
    this.pending.clear();
  }

  /** Moves released buffers whose submits have completed into the free lists. */
  private retire(): void {
    const done = this.completedSerial();
    for (const [key, list] of this.pending) {
      const keep: Released[] = [];
      for (const r of list) {
        if (r.serial <= done) this.pushFree(key, r.buffer);
        else keep.push(r);
      }
      if (keep.length) this.pending.set(key, keep);
      else this.pending.delete(key);
    }
  }

  private takeFree(key: string): GPUBuffer | undefined {
    const hit = this.free.get(key)?.pop();
    if (hit) return hit;
    this.retire();
    return this.free.get(key)?.pop();
  }

  private takePending(key: string): GPUBuffer | undefined {
    return this.pending.get(key)?.shift()?.buffer;
  }

  private pushFree(key: string, b: GPUBuffer): void {
    let list = this.free.get(key);
    if (!list) this.free.set(key, (list = []));
    list.push(b);
  }

  private create(size: number, key: string, usage: UsageClass): GPUBuffer {
    let buffer: GPUBuffer;
    try {
      buffer = this.device.createBuffer({ size, usage: USAGE_FLAGS[usage](), label: key });
    } catch (err) {
      // Free idle memory and retry once before giving up.
      this.trim();
      try {
        buffer = this.device.createBuffer({ size, usage: USAGE_FLAGS[usage](), label: key });
      } catch (err2) {
        return this.onAllocFailure(size, err2 ?? err);
      }
    }
    this.sizes.set(buffer, { key, size });
    this.stats.allocated += size;
    this.stats.buffers++;
    this.stats.peakAllocated = Math.max(this.stats.peakAllocated, this.stats.allocated);
    return buffer;
  }

  private destroy(b: GPUBuffer): void {
    const meta = this.sizes.get(b);
    if (meta) {
      this.stats.allocated -= meta.size;
      this.stats.buffers--;
    }
    b.destroy();
  }
}
