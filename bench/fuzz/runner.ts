// Runs fuzz cases one at a time in a worker process with caps: a case over `timeoutMs` is a hang, a
// worker over `rssLimitMb` (polled) or out of V8 heap is an oom; either kills and restarts the worker.
import { fork, type ChildProcess } from 'node:child_process';
import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FORMATS, makeCase, type Corpus, type Format, type FuzzCase } from './cases.js';
import type { WorkerReply, WorkerRequest } from './worker.js';

export const OUTCOMES = ['ok', 'error', 'unnamed', 'accepted', 'slow', 'crash', 'hang', 'oom'] as const;
/** ok: loaded; error: refused with the project's error naming the file. The rest are findings. */
export type Outcome = (typeof OUTCOMES)[number];
export const FINDINGS: readonly Outcome[] = ['unnamed', 'accepted', 'slow', 'crash', 'hang', 'oom'];

export interface FuzzOptions {
  seed: number;
  /** Stop after this many cases ... */
  count?: number;
  /** ... or after this long, whichever comes first. */
  minutes?: number;
  formats?: readonly Format[];
  /** Per-case wall-clock cap (ms); default 10 000. */
  timeoutMs?: number;
  /** A case that ends (ok or refused) after this long is reported as slow; default 5 000. */
  slowMs?: number;
  /** Worker resident-memory cap (MB); default 1024. */
  rssLimitMb?: number;
  /** V8 heap cap of the worker (MB); default 768. */
  heapMb?: number;
  /** Folder for the inputs of findings (plus findings.jsonl); none when undefined. */
  keepDir?: string;
  onResult?: (r: CaseResult) => void;
}

export interface CaseResult {
  index: number;
  format: Format;
  kind: string;
  outcome: Outcome;
  ms: number;
  peakRssMb: number;
  errorName?: string;
  message?: string;
}

export interface FuzzSummary {
  results: CaseResult[];
  /** format -> outcome -> count */
  counts: Record<Format, Record<Outcome, number>>;
  peakRssMb: number;
  seconds: number;
}

const WORKER = fileURLToPath(new URL('./worker.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Resident set size of a process in MB (Linux /proc), 0 when unknown. */
function rssMb(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m === null ? 0 : Number(m[1]) / 1024;
  } catch {
    return 0;
  }
}

class Worker {
  private child: ChildProcess | undefined;
  private stderr = '';

  constructor(private readonly heapMb: number) {}

  private async start(): Promise<ChildProcess> {
    this.stderr = '';
    const child = fork(WORKER, [], {
      cwd: ROOT,
      execArgv: ['--import', 'tsx', '--conditions=source', '--expose-gc', `--max-old-space-size=${this.heapMb}`],
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    child.stderr?.on('data', (d: Buffer) => (this.stderr = (this.stderr + d.toString()).slice(-4000)));
    await new Promise<void>((resolve, reject) => {
      child.once('message', () => resolve());
      child.once('exit', (code) => reject(new Error(`fuzz worker failed to start (exit ${code}): ${this.stderr}`)));
    });
    child.removeAllListeners('exit');
    this.child = child;
    return child;
  }

  /** Runs one case; resolves with the worker's reply or the cap that stopped it. */
  async run(req: WorkerRequest, timeoutMs: number, rssLimitMb: number): Promise<{ reply?: WorkerReply; outcome?: Outcome; detail?: string; peakRssMb: number }> {
    const child = this.child ?? (await this.start());
    const pid = child.pid as number;
    let peak = rssMb(pid);
    return new Promise((resolve) => {
      let done = false;
      const finish = (r: { reply?: WorkerReply; outcome?: Outcome; detail?: string }, kill: boolean) => {
        if (done) return;
        done = true;
        clearInterval(poll);
        clearTimeout(timer);
        child.removeAllListeners('message');
        child.removeAllListeners('exit');
        if (kill) {
          child.kill('SIGKILL');
          this.child = undefined;
        }
        resolve({ ...r, peakRssMb: Math.round(peak) });
      };
      const poll = setInterval(() => {
        peak = Math.max(peak, rssMb(pid));
        if (peak > rssLimitMb) finish({ outcome: 'oom', detail: `worker RSS ${Math.round(peak)} MB > ${rssLimitMb} MB` }, true);
      }, 20);
      const timer = setTimeout(() => finish({ outcome: 'hang', detail: `no result after ${timeoutMs} ms` }, true), timeoutMs);
      child.on('message', (m: WorkerReply) => finish({ reply: m }, false));
      child.on('exit', (code, signal) => {
        this.child = undefined;
        const heap = /heap out of memory|Allocation failed|invalid array length/i.test(this.stderr);
        finish({ outcome: heap ? 'oom' : 'crash', detail: `worker died (exit ${code}, signal ${signal}): ${this.stderr.slice(-300)}` }, false);
      });
      child.send(req);
    });
  }

  stop(): void {
    this.child?.kill('SIGKILL');
    this.child = undefined;
  }
}

function outcomeOf(c: FuzzCase, r: { reply?: WorkerReply; outcome?: Outcome }, slowMs: number): Outcome {
  if (r.outcome !== undefined) return r.outcome;
  const reply = r.reply as WorkerReply;
  if (reply.result === 'ok' && c.mustRefuse) return 'accepted';
  if ((reply.result === 'ok' || reply.result === 'error') && reply.ms > slowMs) return 'slow';
  return reply.result;
}

export async function runFuzz(corpus: Corpus, opts: FuzzOptions): Promise<FuzzSummary> {
  const formats = opts.formats ?? FORMATS;
  const deadline = opts.minutes === undefined ? Infinity : Date.now() + opts.minutes * 60_000;
  const count = opts.count ?? Infinity;
  if (count === Infinity && deadline === Infinity) throw new Error('runFuzz needs count or minutes');
  const counts = Object.fromEntries(formats.map((f) => [f, Object.fromEntries(OUTCOMES.map((o) => [o, 0]))])) as FuzzSummary['counts'];
  const results: CaseResult[] = [];
  const tmp = await mkdtemp(join(tmpdir(), 'dalle2-fuzz-'));
  const worker = new Worker(opts.heapMb ?? 768);
  const t0 = Date.now();
  let peakRssMb = 0;
  if (opts.keepDir !== undefined) mkdirSync(opts.keepDir, { recursive: true });
  try {
    for (let index = 0; index < count && Date.now() < deadline; index++) {
      const c = makeCase(corpus, opts.seed, index, formats);
      const dir = join(tmp, String(index));
      mkdirSync(dir);
      const path = join(dir, c.name);
      writeFileSync(path, c.bytes);
      const r = await worker.run({ index, target: c.target, path }, opts.timeoutMs ?? 10_000, opts.rssLimitMb ?? 1024);
      await rm(dir, { recursive: true, force: true });
      const outcome = outcomeOf(c, r, opts.slowMs ?? 5_000);
      const result: CaseResult = {
        index, format: c.format, kind: c.kind, outcome, ms: r.reply?.ms ?? -1, peakRssMb: r.peakRssMb,
        errorName: r.reply?.errorName, message: r.reply?.message ?? r.detail,
      };
      counts[c.format][outcome]++;
      peakRssMb = Math.max(peakRssMb, r.peakRssMb);
      results.push(result);
      if (opts.keepDir !== undefined && FINDINGS.includes(outcome)) {
        writeFileSync(join(opts.keepDir, `${opts.seed}-${index}-${c.format}-${outcome}-${c.name}`), c.bytes);
        appendFileSync(join(opts.keepDir, 'findings.jsonl'), `${JSON.stringify({ seed: opts.seed, ...result })}\n`);
      }
      opts.onResult?.(result);
    }
  } finally {
    worker.stop();
    await rm(tmp, { recursive: true, force: true });
  }
  return { results, counts, peakRssMb, seconds: (Date.now() - t0) / 1000 };
}

/** Counts per format and outcome as a text table. */
export function formatCounts(s: FuzzSummary): string {
  const formats = Object.keys(s.counts) as Format[];
  const rows = [['format', ...OUTCOMES, 'total']];
  for (const f of formats) {
    const c = s.counts[f];
    rows.push([f, ...OUTCOMES.map((o) => String(c[o])), String(OUTCOMES.reduce((n, o) => n + c[o], 0))]);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((x, i) => (i === 0 ? x.padEnd(widths[i]) : x.padStart(widths[i]))).join('  ')).join('\n');
}
