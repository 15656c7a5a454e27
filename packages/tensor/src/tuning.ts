// Per-adapter tuning: kernel variants and tilings chosen by measurement, cached on disk keyed by adapter
// and driver (the idea of TVM's tuning logs for web-stable-diffusion). Ops ask the table synchronously for
// a shape's choice; a miss falls back to the op's built-in heuristic and is remembered, so that `tune()`
// (run by `pnpm bench tune`, or after a first pass over a model) can measure every candidate of the
// shapes actually used and store the winner. A candidate must beat the built-in choice by a margin to
// replace it, so an adapter's defaults stay unless tuning clearly wins.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { cpus, homedir } from 'node:os';
import { join } from 'node:path';
import type { AdapterSummary } from './device.js';
import type { Runtime } from './runtime.js';

/** Bump when the meaning of stored choices changes: older files are then ignored. */
const FORMAT = 1;
/** A candidate replaces the built-in choice only when it is this much faster. */
const WIN_MARGIN = 0.05;

/** One measured shape: the winning choice and what each candidate took. */
export interface TuneEntry {
  choice: unknown;
  /** Median ms per candidate, in candidate order (the first is the built-in choice). */
  ms: number[];
  candidates: unknown[];
}

interface TuningFile {
  format: number;
  adapter: string;
  entries: Record<string, TuneEntry>;
}

/** A shape an op met without a stored choice: enough to rebuild its inputs and measure candidates. */
export interface TuneRequest {
  op: string;
  key: string;
  spec: unknown;
}

/** What an op registers to be tunable. */
export interface Tunable {
  /** Choices to measure for `spec`; the first is the op's built-in choice. */
  candidates(rt: Runtime, spec: unknown): unknown[];
  /** Allocates inputs once; `run(choice)` records one op with that choice; `dispose` frees the inputs. */
  prepare(rt: Runtime, spec: unknown): { run: (choice: unknown) => void; dispose: () => void };
  /** True when a stored choice is still valid for this op (guards against hand-edited files). */
  valid(choice: unknown): boolean;
}

const tunables = new Map<string, Tunable>();

export function registerTunable(op: string, t: Tunable): void {
  tunables.set(op, t);
}

/** Identity of an adapter + driver (+ CPU for software adapters, whose speed is the CPU's). */
export function adapterKey(info: AdapterSummary): string {
  const parts = [info.backend, info.vendor, info.architecture, info.device, info.description, info.subgroupMinSize, info.subgroupMaxSize];
  if (info.isSoftware) parts.push(cpus()[0]?.model ?? 'unknown cpu', cpus().length);
  return parts.map((p) => String(p ?? '')).join('|');
}

/** Where tuning files live: `DALLE2_TUNING_DIR`, else ~/.cache/dalle2-ts/tuning. */
export function defaultTuningDir(): string {
  return process.env.DALLE2_TUNING_DIR || join(homedir(), '.cache', 'dalle2-ts', 'tuning');
}

export class TuningTable {
  readonly adapter: string;
  /** The file this adapter's choices are read from and saved to (undefined: in memory only). */
  readonly file: string | undefined;
  private entries: Record<string, TuneEntry> = {};
  private readonly pending = new Map<string, TuneRequest>();
  /** Lookups answered from the table (tests and reports). */
  hits = 0;

  constructor(info: AdapterSummary, dir: string | undefined) {
    this.adapter = adapterKey(info);
    if (dir === undefined) return;
    const hash = createHash('sha256').update(this.adapter).digest('hex').slice(0, 16);
    this.file = join(dir, `${hash}.json`);
    this.entries = readEntries(this.file, this.adapter);
  }

  /** The stored choice for (op, key), or undefined (the miss is remembered for `tune()`). */
  lookup<C>(op: string, key: string, spec: unknown): C | undefined {
    const id = `${op}|${key}`;
    const e = this.entries[id];
    const t = tunables.get(op);
    if (e && t?.valid(e.choice)) {
      this.hits++;
      return e.choice as C;
    }
    if (!this.pending.has(id)) this.pending.set(id, { op, key, spec });
    return undefined;
  }

  /** Shapes met since the last tune() without a stored choice. */
  misses(): TuneRequest[] {
    return [...this.pending.values()];
  }

  entry(op: string, key: string): TuneEntry | undefined {
    return this.entries[`${op}|${key}`];
  }

  get size(): number {
    return Object.keys(this.entries).length;
  }

  record(req: TuneRequest, entry: TuneEntry): void {
    const id = `${req.op}|${req.key}`;
    this.entries[id] = entry;
    this.pending.delete(id);
  }

  /** Writes the table (temp file + rename, so a crash never leaves half a file). */
  save(): void {
    if (!this.file) return;
    const data: TuningFile = { format: FORMAT, adapter: this.adapter, entries: this.entries };
    mkdirSync(join(this.file, '..'), { recursive: true });
    const tmp = `${this.file}.${process.pid}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(data, null, 1)}\n`);
    renameSync(tmp, this.file);
  }
}

/** Reads a tuning file; anything unreadable, of another format or of another adapter counts as empty. */
function readEntries(file: string, adapter: string): Record<string, TuneEntry> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return {};
  }
  const f = parsed as Partial<TuningFile> | null;
  if (!f || f.format !== FORMAT || f.adapter !== adapter || typeof f.entries !== 'object' || f.entries === null) return {};
  return f.entries;
}

export interface TuneOptions {
  /** Timed runs per candidate (median taken); default 3. */
  reps?: number;
  /** Progress lines. */
  log?: (line: string) => void;
}

/**
 * Measures every candidate of each pending shape (default: the table's misses), records the winners and
 * saves the table. Returns the new entries.
 */
export async function tune(rt: Runtime, requests: TuneRequest[] = rt.tuning.misses(), opts: TuneOptions = {}): Promise<(TuneRequest & TuneEntry)[]> {
  const reps = opts.reps ?? 3;
  const out: (TuneRequest & TuneEntry)[] = [];
  for (const req of requests) {
    const t = tunables.get(req.op);
    if (!t) continue;
    const candidates = t.candidates(rt, req.spec);
    const job = t.prepare(rt, req.spec);
    const ms: number[] = [];
    try {
      for (const c of candidates) {
        job.run(c); // warm-up: pipeline compilation
        await rt.sync();
        const times: number[] = [];
        for (let i = 0; i < reps; i++) {
          const t0 = performance.now();
          job.run(c);
          await rt.sync();
          times.push(performance.now() - t0);
        }
        ms.push(times.sort((a, b) => a - b)[times.length >> 1]);
      }
    } finally {
      job.dispose();
      await rt.sync();
    }
    let best = 0;
    ms.forEach((v, i) => {
      if (v < ms[best]) best = i;
    });
    if (best !== 0 && ms[best] > ms[0] * (1 - WIN_MARGIN)) best = 0;
    const entry: TuneEntry = { choice: candidates[best], ms, candidates };
    rt.tuning.record(req, entry);
    out.push({ ...req, ...entry });
    opts.log?.(`${req.op} ${req.key}: ${JSON.stringify(candidates[best])} (${ms.map((v) => v.toFixed(2)).join(' / ')} ms)`);
  }
  rt.tuning.save();
  return out;
}
