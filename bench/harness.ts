// Shared benchmark plumbing: options, timing statistics, the results table and the JSON record.
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export interface BenchOptions {
  /** Short run: fewer cases and repetitions (smoke-testing the suite). */
  quick: boolean;
  /** Only cases whose label contains this substring. */
  filter?: string;
}

/** One row of a suite's results. */
export interface BenchRow {
  kernel: string;
  shape: string;
  dtype: string;
  /** Median wall time of one run, GPU work included (timed around `await rt.sync()`). */
  ms: number;
  gflops: number;
  gbps: number;
  /** Peak bytes held by tensors while the case ran (inputs included). */
  peakBytes: number;
  reps: number;
  error?: string;
}

/** Parses the arguments after the script path; returns an error message for bad input. */
export function parseBenchArgs(argv: readonly string[], suites: readonly string[]): { suite: string; opts: BenchOptions } | { error: string } {
  const opts: BenchOptions = { quick: false };
  let suite: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--quick') opts.quick = true;
    else if (arg === '--filter') {
      const v = argv[++i];
      if (v === undefined) return { error: '--filter needs a substring' };
      opts.filter = v;
    } else if (arg.startsWith('--filter=')) opts.filter = arg.slice('--filter='.length);
    else if (arg.startsWith('-')) return { error: `unknown option ${arg}` };
    else if (suite === undefined) suite = arg;
    else return { error: `unexpected argument ${arg}` };
  }
  if (suite === undefined) return { error: 'no suite given' };
  if (!suites.includes(suite)) return { error: `unknown suite '${suite}'` };
  return { suite, opts };
}

/** Median of the samples (mean of the middle two for an even count). */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** Repetition policy: at least `min`, at most `max`, and stop once `budgetMs` is spent. */
export interface RepPolicy {
  min: number;
  max: number;
  budgetMs: number;
}

/** Full runs: 3..25 repetitions within ~1 s per case; --quick: 1..3 within 150 ms. */
export function repPolicy(opts: BenchOptions): RepPolicy {
  return opts.quick ? { min: 1, max: 3, budgetMs: 150 } : { min: 3, max: 25, budgetMs: 1000 };
}

/** Times `once` (which must include its own GPU sync) under the repetition policy; returns the samples. */
export async function sample(once: () => Promise<void>, policy: RepPolicy): Promise<number[]> {
  const times: number[] = [];
  const start = performance.now();
  while (times.length < policy.max && (times.length < policy.min || performance.now() - start < policy.budgetMs)) {
    const t0 = performance.now();
    await once();
    times.push(performance.now() - t0);
  }
  return times;
}

const fmt = (x: number, digits: number) => (Number.isFinite(x) ? x.toFixed(digits) : '-');

/** Fixed-width text table of the rows. */
export function formatTable(rows: readonly BenchRow[]): string {
  const head = ['kernel', 'shape', 'dtype', 'ms', 'GFLOP/s', 'GB/s', 'peak MiB', 'reps'];
  const body = rows.map((r) =>
    r.error
      ? [r.kernel, r.shape, r.dtype, 'error', r.error, '', '', '']
      : [r.kernel, r.shape, r.dtype, fmt(r.ms, 2), fmt(r.gflops, 2), fmt(r.gbps, 2), fmt(r.peakBytes / 2 ** 20, 1), String(r.reps)],
  );
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i < 3 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}

/** Writes bench/results/<suite>-<timestamp>.json and returns its path. */
export function writeResults(suite: string, record: Record<string, unknown>): string {
  const dir = fileURLToPath(new URL('./results/', import.meta.url));
  mkdirSync(dir, { recursive: true });
  const stamp = new Date().toISOString().replace(/:/g, '-').replace(/\..*$/, '');
  const path = `${dir}${suite}-${stamp}.json`;
  writeFileSync(path, `${JSON.stringify(record, null, 2)}\n`);
  return path;
}
