// Shared by the model suites (clip, prior, decoder):
// 1. Random-initialised models shaped like the released ones. Host weights come from a fast LCG under
//    the checkpoint's own key names and are uploaded one tensor at a time (host memory stays bounded by
//    the largest tensor), so the unchanged model code loads them strictly. Key lists mirror what the
//    model code reads: recorded from its weight resolvers where they are exported (unet, prior
//    transformer), written out for CLIP (whose config is inferred from the weight shapes).
// 2. The case runner: warm-up, timed repetitions under a per-case budget, shortened step loops
//    extrapolated, a per-suite deadline, peak memory, and the results table / JSON through harness.ts.
import { Runtime, Tensor, type DType } from '@dalle2/tensor';
import {
  Weights, buildUnetLayers, causalTransformerWeights, type ClipConfig, type HostWeight, type PriorNetConfig, type UnetConfig, type WeightScope,
} from '@dalle2/models';
import { formatTable, median, repPolicy, sample, writeResults, type BenchOptions, type BenchRow, type RepPolicy } from './harness.js';

/** Checkpoint key -> shape. */
export type ShapeSpec = Map<string, number[]>;

const numel = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** Scalar parameters of a spec. */
export function specParams(spec: ShapeSpec): number {
  let n = 0;
  for (const s of spec.values()) n += numel(s);
  return n;
}

// ---------------------------------------------------------------- key lists

/** Stands in for a WeightScope and records every (key, shape) a weight resolver asks for. */
class RecordingScope {
  constructor(
    private readonly keys: ShapeSpec,
    readonly prefix: string,
    private readonly dummy: Tensor,
  ) {}

  get(key: string, shape: readonly number[]): Tensor {
    if (shape.includes(-1)) throw new Error(`randomWeights: "${this.full(key)}" is read with a wildcard shape; cannot size it`);
    this.keys.set(this.full(key), [...shape]);
    return this.dummy;
  }

  scope(sub: string | number): RecordingScope {
    return new RecordingScope(this.keys, this.full(String(sub)), this.dummy);
  }

  private full(key: string): string {
    return this.prefix ? `${this.prefix}.${key}` : key;
  }
}

/** Runs a resolver against a recording scope at `prefix`; the resolvers only call get() and scope(). */
function record(rt: Runtime, prefix: string, resolve: (w: WeightScope) => void): ShapeSpec {
  const keys: ShapeSpec = new Map();
  const dummy = Tensor.from(rt, [0], [1]);
  try {
    resolve(new RecordingScope(keys, prefix, dummy) as unknown as WeightScope);
  } finally {
    dummy.dispose();
  }
  return keys;
}

/** `unets.<index>.*` of a Decoder state dict for an (already cast) unet config. */
export function unetSpec(rt: Runtime, config: UnetConfig, index = 0): ShapeSpec {
  return record(rt, `unets.${index}`, (w) => buildUnetLayers(w, config));
}

/** `net.*` of a DiffusionPrior state dict (DiffusionPriorNetwork 1.1.0 layout). */
export function priorNetSpec(rt: Runtime, c: PriorNetConfig): ShapeSpec {
  const D = c.dim;
  const spec: ShapeSpec = new Map([
    ['net.learned_query', [D]],
    ['net.null_text_embed', [1, c.maxTextLen, D]],
    ['net.to_time_embeds.0.weight', [c.numTimesteps, D * c.numTimeEmbeds]],
  ]);
  // Per-row projections exist only for several embeds per row (nn.Identity otherwise).
  for (const [name, n] of [['to_text_embeds', c.numTextEmbeds], ['to_image_embeds', c.numImageEmbeds]] as const) {
    if (n > 1) spec.set(`net.${name}.0.weight`, [D * n, D]).set(`net.${name}.0.bias`, [D * n]);
  }
  for (const [k, s] of record(rt, 'net.causal_transformer', (w) => causalTransformerWeights(w, c))) spec.set(k, s);
  return spec;
}

/** OpenAI CLIP (ViT) state dict keys, as clip.model.CLIP declares them (heads are derived: width / 64). */
export function clipSpec(c: Omit<ClipConfig, 'textHeads' | 'visionHeads'>): ShapeSpec {
  const spec: ShapeSpec = new Map<string, number[]>([
    ['token_embedding.weight', [c.vocabSize, c.textWidth]],
    ['positional_embedding', [c.contextLength, c.textWidth]],
    ['ln_final.weight', [c.textWidth]],
    ['ln_final.bias', [c.textWidth]],
    ['text_projection', [c.textWidth, c.embedDim]],
    ['logit_scale', []],
  ]);
  resblocks(spec, 'transformer', c.textLayers, c.textWidth);
  const v = c.visionWidth;
  const grid = c.imageResolution / c.patchSize;
  spec.set('visual.class_embedding', [v]);
  spec.set('visual.positional_embedding', [grid * grid + 1, v]);
  spec.set('visual.proj', [v, c.embedDim]);
  spec.set('visual.conv1.weight', [v, 3, c.patchSize, c.patchSize]);
  for (const ln of ['ln_pre', 'ln_post']) spec.set(`visual.${ln}.weight`, [v]).set(`visual.${ln}.bias`, [v]);
  resblocks(spec, 'visual.transformer', c.visionLayers, c.visionWidth);
  return spec;
}

/** CLIP ResidualAttentionBlocks `<prefix>.resblocks.N` of width w (packed in_proj, 4x MLP). */
function resblocks(spec: ShapeSpec, prefix: string, layers: number, w: number): void {
  for (let i = 0; i < layers; i++) {
    const p = `${prefix}.resblocks.${i}`;
    spec.set(`${p}.attn.in_proj_weight`, [3 * w, w]).set(`${p}.attn.in_proj_bias`, [3 * w]);
    spec.set(`${p}.attn.out_proj.weight`, [w, w]).set(`${p}.attn.out_proj.bias`, [w]);
    spec.set(`${p}.mlp.c_fc.weight`, [4 * w, w]).set(`${p}.mlp.c_fc.bias`, [4 * w]);
    spec.set(`${p}.mlp.c_proj.weight`, [w, 4 * w]).set(`${p}.mlp.c_proj.bias`, [w]);
    for (const ln of ['ln_1', 'ln_2']) spec.set(`${p}.${ln}.weight`, [w]).set(`${p}.${ln}.bias`, [w]);
  }
}

// ---------------------------------------------------------------- values

/** Norm gains (LayerNorm/GroupNorm weights, the `g` of upstream's LayerNorm / ChanLayerNorm). */
const GAIN = /(^|\.)(g|ln_\w+\.weight|norm\w*\.weight)$/;
/** Embedding tables and learned tokens: small values, like trained ones, so activations stay O(1). */
const EMBED = /embed|null_|learned_query|relative_attention_bias|logit_scale/;

/** FNV-1a of the key: each tensor gets its own stream, independent of the key order. */
function keySeed(key: string, seed: number): number {
  let h = (2166136261 ^ seed) >>> 0;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 16777619) >>> 0;
  return h;
}

/** Rotary `freqs` buffer: theta^(-2i/dim) for dim = 2 * length, as RotaryEmbedding registers it. */
function rotaryFreqs(n: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => 10000 ** (-(2 * i) / (2 * n)));
}

/** Fills `data` with center + bound * uniform[-1, 1) from an LCG (fast: the big models have ~1e9 values). */
function fillUniform(data: Float32Array, seed: number, center: number, bound: number): Float32Array {
  let s = seed >>> 0;
  for (let i = 0; i < data.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    data[i] = center + bound * (s / 2 ** 31 - 1);
  }
  return data;
}

/** A weight's values: norm gains near 1, embeddings small, matrices +-1/sqrt(fan_in) as PyTorch inits them, biases small. */
function randomValues(key: string, shape: readonly number[], seed: number): Float32Array {
  if (key.endsWith('rotary_emb.freqs')) return rotaryFreqs(numel(shape));
  const gain = GAIN.test(key);
  const bound = gain ? 0.1 : EMBED.test(key) ? 0.05 : shape.length >= 2 ? 1 / Math.sqrt(numel(shape.slice(1))) : 0.02;
  return fillUniform(new Float32Array(numel(shape)), keySeed(key, seed), gain ? 1 : 0, bound);
}

/** Lazily generated host weights (one tensor alive at a time while Weights.fromHost uploads). */
export function* randomEntries(spec: ShapeSpec, seed = 1): Generator<[string, HostWeight]> {
  for (const [key, shape] of spec) yield [key, { shape, data: randomValues(key, shape, seed) }];
}

/** Uploads random weights for `spec` as `dtype`. */
export function randomWeights(rt: Runtime, spec: ShapeSpec, source: string, dtype: DType = 'f32', seed = 1): Weights {
  return Weights.fromHost(rt, randomEntries(spec, seed), source, { dtype });
}

/** Uniform [-scale, scale) host data for model inputs. */
export function randomData(n: number, seed: number, scale = 1): Float32Array {
  return fillUniform(new Float32Array(n), seed, 0, scale);
}

/** Text encodings [B, L, D] with `real` real tokens per row and zero padding after them (as CLIP's adapter masks them). */
export function textEncodings(rt: Runtime, batch: number, len: number, dim: number, real: number, seed: number): Tensor {
  const data = randomData(batch * len * dim, seed);
  for (let b = 0; b < batch; b++) data.fill(0, (b * len + real) * dim, (b + 1) * len * dim);
  return Tensor.from(rt, data, [batch, len, dim]);
}

// ---------------------------------------------------------------- case runner

/** What names a case (and its row); --filter matches `model case shape dtype`. */
export interface CaseId {
  model: string;
  case: string;
  /** Batch, image size, ... */
  shape: string;
  dtype: string;
}

/** A model-suite row: the kernel table's columns (`kernel` = model and case) plus notes. */
export interface ModelRow extends BenchRow {
  model: string;
  case: string;
  /** Why the number is not a plain median of timed runs (extrapolated, derived, one run, ...). */
  note?: string;
  /** The untimed first run (shader compilation included), for the JSON record. */
  warmupMs?: number;
}

/** A shortened run: it did `done` of `total` steps (the time is scaled by total / done). */
export interface PartialRun {
  done: number;
  total: number;
}

export interface ModelCase extends CaseId {
  dtype: DType;
  /** One run: records the work, awaits `rt.sync()` and frees its outputs. */
  once: () => Promise<PartialRun | void>;
  /**
   * Run the case once untimed first (shader compilation). Default true. false: exactly one timed run,
   * for runs too long to repeat (see `note`).
   */
  warmup?: boolean;
  /** Shown with the row (e.g. what a single unwarmed run includes). */
  note?: string;
  /** Expected duration: the case is skipped if it would end past the suite limit. */
  expectMs?: number;
}

/** Budgets of a suite run. */
export interface SuiteLimits {
  /** Timed repetitions of a case stop once this much time is spent; a warm-up longer than this is reported instead. */
  caseMs: number;
  /** Cases that would start (or, with expectMs, end) after this much suite time are skipped and reported. */
  suiteMs: number;
}

/** Rows of one suite run: runs cases under the limits, prints them, writes the table and JSON. */
export class ModelBench {
  readonly rows: ModelRow[] = [];
  /** One entry per loaded model (parameters, weight memory, load time). */
  readonly models: Record<string, unknown>[] = [];
  private readonly start = performance.now();

  constructor(
    readonly rt: Runtime,
    readonly opts: BenchOptions,
    readonly limits: SuiteLimits,
  ) {}

  /** Whether any of these cases passes --filter (load a model only then). */
  wantsAny(ids: readonly CaseId[]): boolean {
    return ids.some((id) => this.wants(id));
  }

  wants(id: CaseId): boolean {
    return !this.opts.filter || label(id).includes(this.opts.filter);
  }

  elapsedMs(): number {
    return performance.now() - this.start;
  }

  /** Records a model load (weights upload) and prints it. */
  noteModel(model: string, dtype: DType, params: number, loadMs: number): void {
    const weightBytes = this.rt.memory().inUse;
    this.models.push({ model, dtype, params, weightBytes, loadMs });
    console.log(`${model} ${dtype}: ${(params / 1e6).toFixed(1)} M params, ${mib(weightBytes)} MiB on the GPU, loaded in ${(loadMs / 1000).toFixed(1)} s`);
  }

  /** Adds a row that did not run (skipped or failed setup). */
  skip(id: CaseId, reason: string): void {
    this.add({ ...emptyRow(id), error: reason });
  }

  /** One row for a model (in one dtype) none of whose cases runs. */
  skipModel(model: string, dtype: string, reason: string): void {
    this.skip({ model, case: '(all cases)', shape: '-', dtype }, reason);
  }

  /** Runs one case (unless filtered out or past the suite limit); returns its row. */
  async run(c: ModelCase): Promise<ModelRow | undefined> {
    if (!this.wants(c)) return undefined;
    const late = this.lateReason(c.expectMs);
    if (late) {
      this.skip(c, late);
      return undefined;
    }
    return this.add(await timeCase(this.rt, c, this.opts, this.limits.caseMs));
  }

  /** Why work expected to take `expectMs` (if known) must not start now, or undefined. */
  lateReason(expectMs?: number): string | undefined {
    const limit = `${(this.limits.suiteMs / 60000).toFixed(1)} min`;
    if (this.elapsedMs() > this.limits.suiteMs) return `skipped: suite time limit (${limit}) reached`;
    if (expectMs !== undefined && this.elapsedMs() + expectMs > this.limits.suiteMs) {
      return `skipped: expected ${(expectMs / 1000).toFixed(0)} s would pass the suite time limit (${limit})`;
    }
    return undefined;
  }

  /** A row computed from measured ones (reps 0, marked `~`); nothing when a basis is missing or failed. */
  derive(id: CaseId, basis: readonly (ModelRow | undefined)[], ms: (rows: ModelRow[]) => number, note: string): ModelRow | undefined {
    const rows = basis.filter((r): r is ModelRow => r !== undefined && !r.error);
    if (rows.length !== basis.length || !this.wants(id)) return undefined;
    const row = emptyRow(id);
    return this.add({ ...row, kernel: `${row.kernel} ~`, ms: ms(rows), peakBytes: Math.max(...rows.map((r) => r.peakBytes)), note });
  }

  /** Prints the table and its notes, writes bench/results/<suite>-<date>.json. */
  finish(suite: string, extra: Record<string, unknown> = {}): void {
    console.log(`\n${suite}: ${this.rows.length} rows in ${(this.elapsedMs() / 1000).toFixed(0)} s (~ = extrapolated or derived; reps 0 = derived)`);
    console.log(formatTable(this.rows));
    for (const r of this.rows.filter((x) => x.note)) console.log(`  ${r.kernel} ${r.shape} ${r.dtype}: ${r.note}`);
    const path = writeResults(suite, {
      suite, date: new Date().toISOString(), adapter: this.rt.describe(), options: this.opts, limits: this.limits,
      models: this.models, ...extra, rows: this.rows,
    });
    console.log(`results: ${path}`);
  }

  private add(row: ModelRow): ModelRow {
    this.rows.push(row);
    const shown = row.error ?? `${row.ms.toFixed(1)} ms, peak ${mib(row.peakBytes)} MiB${row.note ? ` (${row.note})` : ''}`;
    console.log(`  ${row.kernel} ${row.shape} ${row.dtype}: ${shown}`);
    return row;
  }
}

const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(0);

const label = (c: CaseId) => `${c.model} ${c.case} ${c.shape} ${c.dtype}`;

function emptyRow(c: CaseId): ModelRow {
  return { model: c.model, case: c.case, kernel: `${c.model} ${c.case}`, shape: c.shape, dtype: c.dtype, ms: NaN, gflops: NaN, gbps: NaN, peakBytes: 0, reps: 0 };
}

/** Fast cases keep the harness policy; slow ones repeat only while another run fits the case budget (at most 5). */
function casePolicy(opts: BenchOptions, warmMs: number, caseMs: number): RepPolicy {
  const base = repPolicy(opts);
  if (warmMs * base.min <= base.budgetMs) return base;
  return { min: 1, max: Math.max(1, Math.min(5, Math.floor(caseMs / warmMs))), budgetMs: caseMs };
}

async function timeCase(rt: Runtime, c: ModelCase, opts: BenchOptions, caseMs: number): Promise<ModelRow> {
  const row: ModelRow = { ...emptyRow(c), note: c.note };
  if (c.dtype === 'f16' && !rt.hasF16) return { ...row, error: 'no shader-f16' };
  try {
    await rt.sync();
    rt.pool.resetPeak();
    let partial: PartialRun | void = undefined;
    const once = async () => {
      partial = await c.once();
    };
    if (c.warmup === false) return finishRow(row, await sample(once, { min: 1, max: 1, budgetMs: 0 }), partial, rt);
    const t0 = performance.now();
    const p0 = rt.pipelineCount();
    await once(); // pipeline compilation, first touch of the buffers
    const warmupMs = performance.now() - t0;
    const compiled = `shader compilation of ${rt.pipelineCount() - p0} new pipelines included`;
    if (warmupMs > caseMs) {
      // Too slow to repeat within the budget: report the warm-up (shader compilation included).
      return finishRow({ ...row, warmupMs }, [warmupMs], partial, rt, `warm-up run only: shader compilation included (${compiled}; over the case budget)`);
    }
    // Slow first runs are worth a line: that is what a user waits for on a cold start.
    const first = warmupMs > 1000 ? `first run ${(warmupMs / 1000).toFixed(1)} s (${compiled})` : undefined;
    return finishRow({ ...row, warmupMs }, await sample(once, casePolicy(opts, warmupMs, caseMs)), partial, rt, first);
  } catch (e) {
    return { ...row, error: (e instanceof Error ? e.message : String(e)).split('\n')[0].slice(0, 160) };
  } finally {
    await rt.sync().catch(() => undefined);
    rt.pool.trim();
  }
}

function finishRow(row: ModelRow, times: number[], partial: PartialRun | void, rt: Runtime, note?: string): ModelRow {
  let ms = median(times);
  const notes = [row.note, note].filter((n): n is string => n !== undefined);
  if (partial) {
    notes.push(`extrapolated: a ${partial.done}-step run took ${ms.toFixed(0)} ms, x ${partial.total}/${partial.done}`);
    ms *= partial.total / partial.done;
  }
  const kernel = partial ? `${row.kernel} ~` : row.kernel;
  return { ...row, kernel, ms, peakBytes: rt.memory().peakInUse, reps: times.length, note: notes.join('; ') || undefined };
}

/** Milliseconds of `f`, awaited. */
export async function timed<T>(f: () => Promise<T> | T): Promise<{ value: T; ms: number }> {
  const t0 = performance.now();
  const value = await f();
  return { value, ms: performance.now() - t0 };
}
