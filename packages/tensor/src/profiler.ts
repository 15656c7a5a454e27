// Optional per-kernel GPU timing with timestamp queries: each profiled dispatch gets its own compute
// pass whose begin/end timestamps land in a query set, resolved at every submit and read at sync().
export interface KernelTiming {
  kernel: string;
  calls: number;
  totalMs: number;
}

const CAPACITY = 2048; // queries per submit: 1024 dispatches

export class Profiler {
  private readonly querySet: GPUQuerySet;
  private labels: string[] = [];
  private readonly pendingReads: { buffer: GPUBuffer; labels: string[] }[] = [];
  private resolveBuf: GPUBuffer | undefined;
  private readonly totals = new Map<string, KernelTiming>();

  constructor(private readonly device: GPUDevice) {
    this.querySet = device.createQuerySet({ type: 'timestamp', count: CAPACITY, label: 'profiler' });
  }

  full(): boolean {
    return this.labels.length * 2 >= CAPACITY;
  }

  nextWrites(label: string): GPUComputePassTimestampWrites {
    const i = this.labels.length * 2;
    this.labels.push(label);
    return { querySet: this.querySet, beginningOfPassWriteIndex: i, endOfPassWriteIndex: i + 1 };
  }

  /** Records the query resolve into the encoder about to be submitted. */
  resolve(encoder: GPUCommandEncoder): void {
    const n = this.labels.length * 2;
    if (n === 0) return;
    this.resolveBuf ??= this.device.createBuffer({
      size: CAPACITY * 8,
      usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
    });
    const read = this.device.createBuffer({ size: n * 8, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    encoder.resolveQuerySet(this.querySet, 0, n, this.resolveBuf, 0);
    encoder.copyBufferToBuffer(this.resolveBuf, 0, read, 0, n * 8);
    this.pendingReads.push({ buffer: read, labels: this.labels });
  }

  afterSubmit(): void {
    this.labels = [];
  }

  async collect(): Promise<void> {
    const reads = this.pendingReads.splice(0);
    for (const { buffer, labels } of reads) {
      await buffer.mapAsync(GPUMapMode.READ);
      const t = new BigInt64Array(buffer.getMappedRange());
      labels.forEach((label, i) => {
        const ms = Number(t[2 * i + 1] - t[2 * i]) / 1e6;
        const e = this.totals.get(label) ?? { kernel: label, calls: 0, totalMs: 0 };
        e.calls++;
        e.totalMs += Math.max(0, ms);
        this.totals.set(label, e);
      });
      buffer.unmap();
      buffer.destroy();
    }
  }

  timings(): KernelTiming[] {
    return [...this.totals.values()].sort((a, b) => b.totalMs - a.totalMs);
  }

  reset(): void {
    this.totals.clear();
  }
}
