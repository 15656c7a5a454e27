// Bookkeeping for suites that must check every tensor of a fixture file: each tensor is either an input
// we feed (`input`) or compared with our value (`check`); `uncovered` fails naming any left over.
import type { Tensor } from '@dalle2/tensor';
import type { EmbeddedText, Trace } from '@dalle2/models';
import { compare, EXACT, TOL, type CheckResult, type SuiteContext, type Tolerance } from './check.js';

export class FileChecks {
  private readonly done = new Set<string>();
  readonly results: CheckResult[] = [];

  private constructor(
    readonly ctx: SuiteContext,
    readonly rel: string,
    /** Prefix of every check name. */
    readonly label: string,
    readonly keys: readonly string[],
  ) {}

  static async open(ctx: SuiteContext, rel: string, label: string): Promise<FileChecks> {
    return new FileChecks(ctx, rel, label, (await ctx.fx.file(rel)).keys());
  }

  has(name: string): boolean {
    return this.keys.includes(name);
  }

  /** Marks `name` as an input and returns it as f32 with its shape. */
  async input(name: string): Promise<{ data: Float32Array; shape: number[] }> {
    this.done.add(name);
    return { data: await this.ctx.fx.f32(this.rel, name), shape: await this.ctx.fx.shape(this.rel, name) };
  }

  /** Marks `name` as an integer input. */
  async inputI32(name: string): Promise<{ data: Int32Array; shape: number[] }> {
    this.done.add(name);
    return { data: await this.ctx.fx.i32(this.rel, name), shape: await this.ctx.fx.shape(this.rel, name) };
  }

  /** Compares host values (or a tensor, read back) with the recorded `name`. */
  async check(name: string, actual: ArrayLike<number> | Tensor, tol: Tolerance, what = name): Promise<void> {
    this.done.add(name);
    const got = isTensor(actual) ? await actual.toFloat32() : actual;
    const file = await this.ctx.fx.file(this.rel);
    const expected = ['F32', 'F16', 'BF16', 'F64'].includes(file.info(name).dtype) ? await this.ctx.fx.f32(this.rel, name) : await this.ctx.fx.i32(this.rel, name);
    this.results.push(compare(`${this.label} ${what}`, got, expected, tol));
  }

  /** Checks every traced tensor the file records under `prefix + traceName`. */
  async checkTraced(traced: Map<string, Tensor>, tol: Tolerance, prefix = ''): Promise<void> {
    for (const [name, t] of traced) if (this.has(prefix + name)) await this.check(prefix + name, t, tol);
  }

  /** Records a check result computed elsewhere and marks its tensors done. */
  push(r: CheckResult, ...names: string[]): void {
    for (const n of names) this.done.add(n);
    this.results.push(r);
  }

  /** One line: fails listing the file's tensors that no check used. */
  uncovered(): CheckResult {
    const left = this.keys.filter((k) => !this.done.has(k));
    const name = `${this.label} every tensor checked (${this.keys.length - left.length}/${this.keys.length})`;
    return { name, maxAbsErr: 0, tol: { atol: 0, rtol: 0 }, pass: left.length === 0, detail: left.length ? `unchecked: ${left.join(', ')}` : undefined };
  }
}

function isTensor(x: ArrayLike<number> | Tensor): x is Tensor {
  return typeof (x as Tensor).toFloat32 === 'function';
}

/** A Trace that holds a view of every intermediate; `dispose()` frees them. */
export function collector(): { trace: Trace; traced: Map<string, Tensor>; dispose: () => void } {
  const traced = new Map<string, Tensor>();
  return {
    trace: (name, t) => {
      traced.get(name)?.dispose();
      traced.set(name, t.reshape([...t.shape]).keep());
    },
    traced,
    dispose: () => {
      for (const t of traced.values()) t.dispose();
      traced.clear();
    },
  };
}

/** uint8 pixels / 255 (torchvision ToTensor), as float32. */
export function toUnit(u8: ArrayLike<number>): Float32Array {
  return Float32Array.from(u8, (v) => Math.fround(v / 255));
}

/**
 * A clip-make folder's text checks: for the full and the short token batch, the adapter's mask, every
 * traced intermediate, the embedding and the encodings; `extra` adds a make's own (e.g. coca's mask).
 */
export async function clipTextChecks(
  ctx: SuiteContext,
  file: string,
  label: string,
  embed: (ids: Int32Array, batch: number, trace: Trace) => EmbeddedText,
  extra?: (fc: FileChecks, prefix: string, ids: Int32Array, batch: number) => Promise<void>,
): Promise<CheckResult[]> {
  const fc = await FileChecks.open(ctx, file, label);
  for (const [tokName, prefix] of [['tokens', ''], ['short_tokens', 'short_']] as const) {
    const { data, shape } = await fc.inputI32(tokName);
    const col = collector();
    const e = embed(data, shape[0], col.trace);
    try {
      if (fc.has(`${prefix}text_mask`)) await fc.check(`${prefix}text_mask`, e.textMask, EXACT);
      await extra?.(fc, prefix, data, shape[0]);
      await fc.checkTraced(col.traced, TOL, prefix);
      await fc.check(`${prefix}text_embed`, e.textEmbed, TOL);
      await fc.check(`${prefix}text_encodings`, e.textEncodings, TOL);
    } finally {
      col.dispose();
      e.textEmbed.dispose();
      e.textEncodings.dispose();
    }
  }
  return [...fc.results, fc.uncovered()];
}
