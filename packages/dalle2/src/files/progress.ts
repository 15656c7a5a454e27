// Download progress: a meter that computes rate and ETA, and a one-line renderer for a TTY. Small enough
// that a dependency would not pay for itself.

export interface DownloadProgress {
  url: string;
  /** Final cache path being written. */
  file: string;
  /** Bytes on disk so far, including bytes kept from an earlier, resumed attempt. */
  received: number;
  /** Full size, when the server told us. */
  total: number | undefined;
  /** Recent transfer rate (bytes/s) over the last few seconds. */
  bytesPerSecond: number;
  /** Seconds left at the current rate, when both total and rate are known. */
  etaSeconds: number | undefined;
  done: boolean;
}

export type ProgressListener = (progress: DownloadProgress) => void;

const WINDOW_MS = 5000;
const EMIT_EVERY_MS = 100;

/** Tracks bytes over time and calls the listener at most every 100 ms (plus once when done). */
export class ProgressMeter {
  private samples: { t: number; bytes: number }[] = [];
  private lastEmit = -Infinity;
  private received = 0;

  constructor(
    private readonly listener: ProgressListener,
    private readonly url: string,
    private readonly file: string,
    private readonly total: number | undefined,
    private readonly now: () => number = Date.now,
  ) {}

  update(received: number): void {
    this.received = received;
    const t = this.now();
    this.samples.push({ t, bytes: received });
    while (this.samples.length > 2 && t - this.samples[0].t > WINDOW_MS) this.samples.shift();
    if (t - this.lastEmit >= EMIT_EVERY_MS) {
      this.lastEmit = t;
      this.listener(this.snapshot(false));
    }
  }

  finish(): void {
    this.listener(this.snapshot(true));
  }

  private snapshot(done: boolean): DownloadProgress {
    const first = this.samples[0];
    const last = this.samples[this.samples.length - 1];
    const span = first && last ? (last.t - first.t) / 1000 : 0;
    const rate = span > 0 ? (last.bytes - first.bytes) / span : 0;
    const left = this.total !== undefined ? Math.max(0, this.total - this.received) : undefined;
    const eta = left !== undefined && rate > 0 ? left / rate : undefined;
    const base = { url: this.url, file: this.file, received: this.received, total: this.total };
    return { ...base, bytesPerSecond: rate, etaSeconds: done ? 0 : eta, done };
  }
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${v} B` : `${v.toFixed(1)} ${units[u]}`;
}

export function formatDuration(seconds: number): string {
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const pad = (x: number) => String(x).padStart(2, '0');
  return h > 0 ? `${h}:${pad(m)}:${pad(s % 60)}` : `${m}:${pad(s % 60)}`;
}

/** `latest.pth  1.2 GiB / 3.4 GiB (35%)  41.0 MiB/s  ETA 0:55` */
export function formatProgress(p: DownloadProgress): string {
  const name = p.file.split(/[/\\]/).pop() ?? p.file;
  const size = p.total !== undefined
    ? `${formatBytes(p.received)} / ${formatBytes(p.total)} (${Math.floor((100 * p.received) / Math.max(1, p.total))}%)`
    : formatBytes(p.received);
  const rate = `${formatBytes(Math.round(p.bytesPerSecond))}/s`;
  const eta = p.done ? 'done' : p.etaSeconds !== undefined ? `ETA ${formatDuration(p.etaSeconds)}` : 'ETA ?';
  return `${name}  ${size}  ${rate}  ${eta}`;
}

/** Redraws one stderr line in place; returns undefined when stderr is not a TTY (logs stay clean). */
export function ttyProgressRenderer(stream: NodeJS.WriteStream = process.stderr): ProgressListener | undefined {
  if (!stream.isTTY) return undefined;
  return (p) => {
    const width = Math.max(20, (stream.columns ?? 80) - 1);
    stream.write(`\r${formatProgress(p).slice(0, width).padEnd(width)}${p.done ? '\n' : ''}`);
  };
}
