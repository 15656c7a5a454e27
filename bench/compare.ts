// The `compare` suite: our kernels against plain PyTorch ops on the same shapes. The PyTorch side is
// bench/torch_ops.py, one long-lived python3 process speaking line-delimited JSON (see its docstring).
// Cases run interleaved (ours, then torch's, case by case) so machine noise hits both sides alike.
// Without a python3 that imports torch the suite prints how to get one and times our side only.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Runtime, conv2d, linear, type DType } from '@dalle2/tensor';
import { matmulCase, rand, runCase, type KernelCase } from './kernels.js';
import { attentionCase, convCase, groupNormCase, layerNormCase } from './nnKernels.js';
import { writeResults, type BenchOptions } from './harness.js';

// ------------------------------------------------------------------ protocol (pure)

/** One PyTorch op at one shape; field names are those bench/torch_ops.py reads. */
export type TorchOp =
  | { op: 'matmul'; M: number; K: number; N: number }
  | { op: 'linear'; M: number; in: number; out: number }
  | { op: 'conv2d'; N: number; C: number; H: number; W: number; Cout: number; k: number; pad: number; stride: number }
  | { op: 'attention'; B: number; H: number; L: number; D: number }
  | { op: 'group_norm_silu'; shape: number[]; groups: number }
  | { op: 'layer_norm'; rows: number; d: number };

export type TorchRequest = TorchOp & { dtype: DType; quick?: boolean; id?: number };

/** The first line torch_ops.py prints. */
export interface TorchInfo {
  torch: string;
  /** `cpu` or `cuda:<device name>`. */
  device: string;
  threads: number;
  /** The BLAS library torch loaded (CPU): the reference BLAS is 10x slower than OpenBLAS. */
  blas?: string;
}

export interface TorchTiming {
  ms: number;
  reps: number;
  device: string;
  threads: number;
  id?: number;
}

export type TorchReply = TorchTiming | { error: string; id?: number };

export function torchRequestLine(req: TorchRequest): string {
  return `${JSON.stringify(req)}\n`;
}

function parseObject(line: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return { error: `not JSON: ${line.slice(0, 80)}` };
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return { error: `not a JSON object: ${line.slice(0, 80)}` };
  return v as Record<string, unknown>;
}

const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/** Parses torch_ops.py's first line: its version, device and thread count, or the error it exited with. */
export function parseTorchHeader(line: string): TorchInfo | { error: string } {
  const o = parseObject(line);
  if (typeof o.error === 'string') return { error: o.error };
  if (typeof o.torch === 'string' && typeof o.device === 'string' && isNum(o.threads)) {
    return { torch: o.torch, device: o.device, threads: o.threads, ...(typeof o.blas === 'string' ? { blas: o.blas } : {}) };
  }
  return { error: `unexpected header: ${line.slice(0, 80)}` };
}

/** Parses one reply line: a timing (`ms` > 0) or an error; the request id is kept when present. */
export function parseTorchReply(line: string): TorchReply {
  const o = parseObject(line);
  const id = isNum(o.id) ? { id: o.id } : {};
  if (typeof o.error === 'string') return { error: o.error, ...id };
  if (isNum(o.ms) && o.ms >= 0 && isNum(o.reps) && o.reps >= 1 && typeof o.device === 'string' && isNum(o.threads)) {
    return { ms: o.ms, reps: o.reps, device: o.device, threads: o.threads, ...id };
  }
  return { error: `unexpected reply: ${line.slice(0, 80)}`, ...id };
}

// ------------------------------------------------------------------ rows and table (pure)

export interface SideResult {
  ms: number;
  reps: number;
  gflops: number;
  error?: string;
}

export interface CompareRow {
  case: string;
  shape: string;
  dtype: string;
  flops: number;
  ours: SideResult;
  torch: SideResult & { device?: string; threads?: number };
  /** ours ms / torch ms: above 1 means ours is slower. NaN when either side has no time. */
  ratio: number;
}

/** ours / torch, NaN unless both are positive finite times. */
export function ratio(oursMs: number, torchMs: number): number {
  return Number.isFinite(oursMs) && Number.isFinite(torchMs) && oursMs > 0 && torchMs > 0 ? oursMs / torchMs : NaN;
}

/** Builds a row from our result (BenchRow-like) and the torch reply. */
export function compareRow(
  c: { name: string; shape: string; dtype: string; flops: number },
  ours: { ms: number; reps: number; error?: string },
  torch: TorchReply,
): CompareRow {
  const side = (ms: number, reps: number, error?: string): SideResult =>
    error !== undefined ? { ms: NaN, reps: 0, gflops: NaN, error } : { ms, reps, gflops: c.flops > 0 && ms > 0 ? c.flops / ms / 1e6 : NaN };
  const t = 'error' in torch ? side(NaN, 0, torch.error) : { ...side(torch.ms, torch.reps), device: torch.device, threads: torch.threads };
  const o = side(ours.ms, ours.reps, ours.error);
  return { case: c.name, shape: c.shape, dtype: c.dtype, flops: c.flops, ours: o, torch: t, ratio: ratio(o.ms, t.ms) };
}

/** Milliseconds with about three significant digits. */
export function fmtMs(ms: number): string {
  if (!Number.isFinite(ms)) return '-';
  return ms >= 100 ? ms.toFixed(1) : ms >= 1 ? ms.toFixed(2) : ms.toFixed(3);
}

const fmtRate = (x: number) => (!Number.isFinite(x) ? '-' : x >= 10 ? x.toFixed(1) : x.toFixed(2));
const fmtRatio = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : '-');
const cell = (s: string) => s.replace(/\|/g, '\\|');

/**
 * Markdown table | case | shape | dtype | ours ms | torch ms | ours/torch | ours GFLOP/s | torch GFLOP/s |,
 * padded to fixed widths; a side's error shows as `n/a [i]` with its message in a numbered note below.
 */
export function formatCompareTable(rows: readonly CompareRow[]): string {
  const notes: string[] = [];
  const note = (side: string, msg: string) => {
    const text = `${side}: ${msg}`;
    let i = notes.indexOf(text);
    if (i < 0) i = notes.push(text) - 1;
    return `n/a [${i + 1}]`;
  };
  const head = ['case', 'shape', 'dtype', 'ours ms', 'torch ms', 'ours/torch', 'ours GFLOP/s', 'torch GFLOP/s'];
  const body = rows.map((r) => [
    r.case,
    r.shape,
    r.dtype,
    r.ours.error !== undefined ? note('ours', r.ours.error) : fmtMs(r.ours.ms),
    r.torch.error !== undefined ? note('torch', r.torch.error) : fmtMs(r.torch.ms),
    fmtRatio(r.ratio),
    fmtRate(r.ours.gflops),
    fmtRate(r.torch.gflops),
  ].map(cell));
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const numeric = (i: number) => i >= 3;
  const line = (cells: string[]) => `| ${cells.map((c, i) => (numeric(i) ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => (numeric(i) ? `${'-'.repeat(w + 1)}:` : '-'.repeat(w + 2))).join('|')}|`;
  const table = [line(head), rule, ...body.map(line)];
  if (notes.length) table.push('', ...notes.map((n, i) => `[${i + 1}] ${cell(n)}`));
  return table.join('\n');
}

/** Geometric mean of the finite ratios (NaN when there are none). */
export function geomean(xs: readonly number[]): number {
  const ok = xs.filter((x) => Number.isFinite(x) && x > 0);
  return ok.length ? Math.exp(ok.reduce((s, x) => s + Math.log(x), 0) / ok.length) : NaN;
}

// ------------------------------------------------------------------ the python process

const SCRIPT = fileURLToPath(new URL('./torch_ops.py', import.meta.url));
/** torch import (cold page cache) plus CUDA initialisation. */
const START_TIMEOUT_MS = 120_000;
/** One case: build inputs, warm up, time up to 25 repetitions. */
const REQUEST_TIMEOUT_MS = 300_000;

/** Interpreters to try in order: $TORCH_PYTHON alone when set, else python3 on PATH, then the system one (Debian's python3-torch). */
export function pythonCandidates(env: NodeJS.ProcessEnv = process.env): string[] {
  return env.TORCH_PYTHON ? [env.TORCH_PYTHON] : ['python3', '/usr/bin/python3'];
}

/** Lines of a stream, awaited one at a time; rejects on end of stream or timeout. */
class LineReader {
  private readonly lines: string[] = [];
  private waiter: { resolve: (l: string) => void; reject: (e: Error) => void } | undefined;
  private ended: string | undefined;

  constructor(stream: NodeJS.ReadableStream) {
    const rl = createInterface({ input: stream, crlfDelay: Infinity });
    rl.on('line', (l) => {
      if (this.waiter) {
        const w = this.waiter;
        this.waiter = undefined;
        w.resolve(l);
      } else this.lines.push(l);
    });
    rl.on('close', () => this.end('end of output'));
  }

  end(why: string): void {
    this.ended ??= why;
    const w = this.waiter;
    this.waiter = undefined;
    w?.reject(new Error(this.ended));
  }

  next(timeoutMs: number): Promise<string> {
    const queued = this.lines.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    if (this.ended !== undefined) return Promise.reject(new Error(this.ended));
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = undefined;
        reject(new Error(`no reply within ${timeoutMs / 1000} s`));
      }, timeoutMs);
      this.waiter = {
        resolve: (l) => (clearTimeout(timer), resolve(l)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      };
    });
  }
}

/** A running bench/torch_ops.py. */
export class TorchProcess {
  private dead: string | undefined;
  private nextId = 1;

  private constructor(
    private readonly child: ChildProcessWithoutNullStreams,
    private readonly reader: LineReader,
    private readonly stderrTail: () => string,
    readonly python: string,
    readonly info: TorchInfo,
  ) {
    child.once('exit', (code, signal) => {
      const tail = this.stderrTail();
      this.dead ??= `torch_ops.py exited (${signal ?? `code ${code}`})${tail ? `: ${tail}` : ''}`;
      reader.end(this.dead);
    });
  }

  /** Starts torch_ops.py under the first interpreter that imports torch; otherwise the reason for each. */
  static async start(candidates: readonly string[] = pythonCandidates(), script = SCRIPT): Promise<TorchProcess | { error: string; tried: string[] }> {
    const tried: string[] = [];
    for (const python of candidates) {
      const r = await TorchProcess.tryStart(python, script);
      if (r instanceof TorchProcess) return r;
      tried.push(`${python}: ${r}`);
    }
    return { error: 'no python3 with an importable torch', tried };
  }

  private static async tryStart(python: string, script: string): Promise<TorchProcess | string> {
    const child = spawn(python, [script], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => {
      stderr = (stderr + d).slice(-2000);
    });
    const tail = () => stderr.trim().split('\n').slice(-1)[0] ?? '';
    const reader = new LineReader(child.stdout);
    child.once('error', (e) => reader.end(e.message)); // ENOENT: no such interpreter
    child.stdin.on('error', () => undefined); // EPIPE when it exits early; the reader reports that
    let header: TorchInfo | { error: string };
    try {
      header = parseTorchHeader(await reader.next(START_TIMEOUT_MS));
    } catch (e) {
      header = { error: `${e instanceof Error ? e.message : String(e)}${tail() ? ` (${tail()})` : ''}` };
    }
    if ('error' in header) {
      if (child.exitCode === null && child.signalCode === null) child.kill();
      return header.error;
    }
    return new TorchProcess(child, reader, tail, python, header);
  }

  /** Times one op; never throws (failures come back as `{ error }`). */
  async request(op: TorchOp, dtype: DType, quick: boolean): Promise<TorchReply> {
    if (this.dead !== undefined) return { error: this.dead };
    const id = this.nextId++;
    this.child.stdin.write(torchRequestLine({ ...op, dtype, quick, id }));
    const deadline = performance.now() + REQUEST_TIMEOUT_MS;
    try {
      for (;;) {
        const reply = parseTorchReply(await this.reader.next(Math.max(1, deadline - performance.now())));
        if (reply.id === id) return reply; // anything else is stray output (warnings printed to stdout)
      }
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      if (this.dead === undefined) {
        this.dead = `torch_ops.py: ${msg}`;
        this.child.kill();
      }
      return { error: this.dead };
    }
  }

  /** Closes stdin and waits (briefly) for the process to exit. */
  async close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.dead ??= 'closed';
    this.child.stdin.end();
    const timer = setTimeout(() => this.child.kill(), 5000);
    await exited;
    clearTimeout(timer);
  }
}

export function describeTorch(t: TorchProcess): string {
  const blas = t.info.blas && t.info.blas !== 'cuda' ? `, BLAS ${t.info.blas}${/openblas|mkl|blis/i.test(t.info.blas) ? '' : ' (reference BLAS: install libopenblas0-pthread for a fair matmul baseline)'}` : '';
  return `torch ${t.info.torch} on ${t.info.device}, ${t.info.threads} thread${t.info.threads === 1 ? '' : 's'}${blas} (${t.python})`;
}

export const TORCH_INSTALL_HINT =
  'to compare against PyTorch, install it: `apt-get install python3-torch` (Debian) or `pip install torch`, ' +
  'or point TORCH_PYTHON at a python3 that imports torch';

// ------------------------------------------------------------------ cases

export interface CompareCase {
  ours: KernelCase;
  torch: TorchOp;
}

const bpe = (d: DType) => (d === 'f16' ? 2 : 4);

/** F.linear: x [M, in] times W [out, in] transposed, plus bias [out] (our `linear`, fused bias). */
function linearCase(M: number, inF: number, outF: number, dtype: DType): KernelCase {
  return {
    name: 'linear', shape: `[${M},${inF}]x[${outF},${inF}]ᵀ+b`, dtype,
    flops: 2 * M * inF * outF + M * outF,
    bytes: bpe(dtype) * (M * inF + outF * inF + outF + M * outF),
    setup: (rt) => ({ x: rand(rt, [M, inF], dtype, 1), w: rand(rt, [outF, inF], dtype, 2), b: rand(rt, [outF], dtype, 3) }),
    run: ({ x, w, b }) => linear(x, w, b),
  };
}

/** Pointwise (1x1, unpadded) conv2d with its own output width. */
function conv1x1Case(n: number, c: number, hw: number, cout: number, dtype: DType): KernelCase {
  const x = [n, c, hw, hw];
  const w = [cout, c, 1, 1];
  return {
    name: 'conv2d', shape: `[${x}] * [${w}] pad 0`, dtype,
    flops: 2 * n * cout * hw * hw * c,
    bytes: bpe(dtype) * (n * c * hw * hw + cout * c + cout + n * cout * hw * hw),
    setup: (rt) => ({ x: rand(rt, x, dtype, 1), w: rand(rt, w, dtype, 2), bias: rand(rt, [cout], dtype, 3) }),
    run: ({ x: xt, w: wt, bias }) => conv2d(xt, wt, bias),
  };
}

interface CaseSpec {
  make: (dtype: DType) => KernelCase;
  torch: TorchOp;
  /** dtypes kept by --quick. */
  quick?: readonly DType[];
}

const conv3x3 = (n: number, c: number, hw: number): CaseSpec => ({
  make: (dt) => convCase(rand, n, c, hw, 3, dt),
  torch: { op: 'conv2d', N: n, C: c, H: hw, W: hw, Cout: c, k: 3, pad: 1, stride: 1 },
});

const SPECS: readonly CaseSpec[] = [
  { make: (dt) => matmulCase(256, 256, 256, dt), torch: { op: 'matmul', M: 256, K: 256, N: 256 }, quick: ['f32', 'f16'] },
  { make: (dt) => matmulCase(1024, 1024, 1024, dt), torch: { op: 'matmul', M: 1024, K: 1024, N: 1024 } },
  { make: (dt) => linearCase(77, 768, 3072, dt), torch: { op: 'linear', M: 77, in: 768, out: 3072 } },
  { make: (dt) => linearCase(1, 768, 768, dt), torch: { op: 'linear', M: 1, in: 768, out: 768 }, quick: ['f32'] },
  { make: (dt) => linearCase(2, 1280, 2560, dt), torch: { op: 'linear', M: 2, in: 1280, out: 2560 } },
  { ...conv3x3(1, 320, 32), quick: ['f32'] },
  conv3x3(2, 320, 64),
  conv3x3(2, 640, 32),
  conv3x3(2, 1280, 8),
  { make: (dt) => conv1x1Case(1, 320, 32, 1536, dt), torch: { op: 'conv2d', N: 1, C: 320, H: 32, W: 32, Cout: 1536, k: 1, pad: 0, stride: 1 } },
  { make: (dt) => attentionCase(rand, 256, dt), torch: { op: 'attention', B: 1, H: 8, L: 256, D: 64 }, quick: ['f32'] },
  { make: (dt) => attentionCase(rand, 1024, dt), torch: { op: 'attention', B: 1, H: 8, L: 1024, D: 64 } },
  { make: (dt) => groupNormCase(rand, [2, 320, 64, 64], dt), torch: { op: 'group_norm_silu', shape: [2, 320, 64, 64], groups: 32 } },
  { make: (dt) => layerNormCase(rand, 8192, 320, dt), torch: { op: 'layer_norm', rows: 8192, d: 320 } },
];

/** The suite's cases in table order: each shape f32, then f16 where the adapter has shader-f16. */
export function compareCases(hasF16: boolean, opts: BenchOptions): CompareCase[] {
  const out: CompareCase[] = [];
  for (const spec of SPECS) {
    for (const dtype of hasF16 ? (['f32', 'f16'] as const) : (['f32'] as const)) {
      if (opts.quick && !spec.quick?.includes(dtype)) continue;
      const ours = spec.make(dtype);
      if (opts.filter && !`${ours.name} ${ours.shape} ${ours.dtype}`.includes(opts.filter)) continue;
      out.push({ ours, torch: spec.torch });
    }
  }
  return out;
}

// ------------------------------------------------------------------ the suite

/** `pnpm bench compare`: prints adapter, torch and a markdown table; writes bench/results/compare-<date>.{json,md}. */
export async function runCompareSuite(opts: BenchOptions): Promise<void> {
  const [rt, torch] = await Promise.all([Runtime.create(), TorchProcess.start()]);
  try {
    const head = [`adapter: ${rt.describe()}`];
    if (torch instanceof TorchProcess) head.push(describeTorch(torch));
    else head.push(`torch: not available (${torch.tried.join('; ')})`, `  ${TORCH_INSTALL_HINT}; timing our kernels only`);
    console.log(head.join('\n'));

    const cases = compareCases(rt.hasF16, opts);
    const rows: CompareRow[] = [];
    const t0 = performance.now();
    for (const c of cases) {
      const ours = await runCase(rt, c.ours, opts);
      const theirs: TorchReply = torch instanceof TorchProcess ? await torch.request(c.torch, c.ours.dtype, opts.quick) : { error: 'torch not available' };
      rows.push(compareRow(c.ours, ours, theirs));
      if (process.stderr.isTTY) process.stderr.write(`\r${rows.length}/${cases.length} cases, ${((performance.now() - t0) / 1000).toFixed(0)} s`);
    }
    if (process.stderr.isTTY) process.stderr.write('\n');

    const table = formatCompareTable(rows);
    const g = geomean(rows.map((r) => r.ratio));
    const summary = [
      `${cases.length} cases in ${((performance.now() - t0) / 1000).toFixed(0)} s; ours/torch = ours ms / torch ms (above 1: ours slower)` +
        (Number.isFinite(g) ? `, geometric mean ${g.toFixed(2)}` : ''),
    ];
    console.log(`${summary.join('\n')}\n\n${table}`);
    const torchInfo = torch instanceof TorchProcess ? { ...torch.info, python: torch.python } : { error: torch.error, tried: torch.tried };
    const { backend, vendor, architecture, device, description, isSoftware } = rt.info;
    const path = writeResults('compare', {
      suite: 'compare',
      date: new Date().toISOString(),
      adapter: rt.describe(),
      adapterInfo: { backend, vendor, architecture, device, description, isSoftware, hasF16: rt.hasF16 },
      torch: torchInfo,
      options: opts,
      rows,
    });
    const md = path.replace(/\.json$/, '.md');
    writeFileSync(md, `# compare ${new Date().toISOString()}\n\n${head.map((l) => `${l.trim()}  `).join('\n')}\n\n${summary.join('\n')}\n\n${table}\n`);
    console.log(`\nresults: ${path}\n         ${md}`);
  } finally {
    if (torch instanceof TorchProcess) await torch.close();
    await rt.destroy();
  }
}
