// A scoped, shape-checked map of model weights under the checkpoint's own key names. Models read
// weights through it (`w.scope('transformer.resblocks.0').get('attn.in_proj_weight', [3 * d, d])`),
// which records what was used so loading is strict: missing keys, wrong shapes and unused keys are
// reported by name, with the file they came from.
import { Tensor, SafetensorsFile, shapeStr, type Runtime, type DType } from '@dalle2/tensor';

/** Host-side weight before upload: float32 data (f16/bf16 sources are widened by the loader). */
export interface HostWeight {
  shape: number[];
  data: Float32Array;
}

export class WeightError extends Error {
  override name = 'WeightError';
}

export interface LoadOptions {
  /** GPU dtype of float weights (default f32). */
  dtype?: DType;
  /** Keep only keys starting with this prefix, stripping it (e.g. 'clip.' inside a prior checkpoint). */
  prefix?: string;
  /** Keep only keys for which this returns true (after prefix stripping). */
  filter?: (key: string) => boolean;
}

export class Weights {
  private readonly used = new Set<string>();

  private constructor(
    readonly rt: Runtime,
    private readonly tensors: Map<string, Tensor>,
    /** Where the weights came from, for error messages. */
    readonly source: string,
    /** Shapes-only maps (see `shapesOnly`): the checkpoint's shapes; every tensor is one placeholder. */
    private readonly declared?: ReadonlyMap<string, readonly number[]>,
  ) {}

  /**
   * A weight map of shapes only: `get` checks the requested shape against `shapes` (a checkpoint's,
   * from its header) and returns a 1-element placeholder. Building a model over it reports missing,
   * misshapen and unused weights by name before any tensor data is read, so a wrong checkpoint costs
   * no reads. Dispose it afterwards; the model built over it must not be run.
   */
  static shapesOnly(rt: Runtime, shapes: Iterable<[string, readonly number[]]>, source: string): Weights {
    const declared = new Map<string, readonly number[]>();
    for (const [key, shape] of shapes) declared.set(key, [...shape]);
    const placeholder = Tensor.from(rt, [0], [1]);
    return new Weights(rt, new Map([...declared.keys()].map((k) => [k, placeholder])), source, declared);
  }

  /** Uploads every (selected) tensor of a safetensors file, one tensor at a time. */
  static async fromSafetensors(rt: Runtime, path: string, opts: LoadOptions = {}): Promise<Weights> {
    const file = await SafetensorsFile.open(path);
    try {
      const map = new Map<string, Tensor>();
      for (const key of file.keys()) {
        const name = selectKey(key, opts);
        if (name === undefined) continue;
        const info = file.info(key);
        map.set(name, upload(rt, { shape: info.shape, data: await file.readFloat32(key) }, opts.dtype));
      }
      return new Weights(rt, map, path);
    } finally {
      await file.close();
    }
  }

  /** Builds a weight map from host arrays (e.g. a .pth state dict already decoded). */
  static fromHost(rt: Runtime, entries: Iterable<[string, HostWeight]>, source: string, opts: LoadOptions = {}): Weights {
    const map = new Map<string, Tensor>();
    for (const [key, w] of entries) {
      const name = selectKey(key, opts);
      if (name !== undefined) map.set(name, upload(rt, w, opts.dtype));
    }
    return new Weights(rt, map, source);
  }

  has(key: string): boolean {
    return this.tensors.has(key);
  }

  keys(): string[] {
    return [...this.tensors.keys()];
  }

  shapeOf(key: string): readonly number[] {
    const t = this.require(key);
    return this.declared?.get(key) ?? t.shape;
  }

  /** The weight `key`, checked against `shape` when given (-1 matches any size). */
  get(key: string, shape?: readonly number[]): Tensor {
    const t = this.require(key);
    const actual = this.declared?.get(key) ?? t.shape;
    if (shape && (shape.length !== actual.length || shape.some((d, i) => d !== -1 && d !== actual[i]))) {
      throw new WeightError(`${this.source}: weight "${key}" has shape ${shapeStr(actual)}, expected ${shapeStr(shape)}`);
    }
    this.used.add(key);
    return t;
  }

  /** Marks keys as deliberately ignored (e.g. buffers the engine recomputes). */
  ignore(predicate: (key: string) => boolean): void {
    for (const k of this.tensors.keys()) if (predicate(k)) this.used.add(k);
  }

  scope(prefix: string): WeightScope {
    return new WeightScope(this, prefix);
  }

  /** Keys never read by the model. */
  unused(): string[] {
    return this.keys().filter((k) => !this.used.has(k));
  }

  /** Throws naming every unused key (strict loading). */
  assertAllUsed(what: string): void {
    const extra = this.unused();
    if (extra.length) {
      const list = extra.slice(0, 10).join(', ') + (extra.length > 10 ? `, ... (${extra.length} in all)` : '');
      throw new WeightError(`${this.source}: ${what} does not use ${extra.length} weight(s): ${list}`);
    }
  }

  /** Number of scalar parameters held. */
  paramCount(): number {
    let n = 0;
    for (const [k, t] of this.tensors) n += this.declared === undefined ? t.size : (this.declared.get(k) ?? []).reduce((a, b) => a * b, 1);
    return n;
  }

  dispose(): void {
    for (const t of new Set(this.tensors.values())) t.dispose();
    this.tensors.clear();
  }

  private require(key: string): Tensor {
    const t = this.tensors.get(key);
    if (!t) {
      const near = this.keys().filter((k) => k.startsWith(key.split('.').slice(0, -1).join('.'))).slice(0, 5);
      throw new WeightError(`${this.source}: missing weight "${key}"${near.length ? ` (nearby keys: ${near.join(', ')})` : ''}`);
    }
    return t;
  }
}

/** A view of a Weights map under a key prefix; mirrors upstream module nesting. */
export class WeightScope {
  constructor(
    readonly weights: Weights,
    readonly prefix: string,
  ) {}

  private full(key: string): string {
    return this.prefix ? `${this.prefix}.${key}` : key;
  }

  get(key: string, shape?: readonly number[]): Tensor {
    return this.weights.get(this.full(key), shape);
  }

  has(key: string): boolean {
    return this.weights.has(this.full(key));
  }

  shapeOf(key: string): readonly number[] {
    return this.weights.shapeOf(this.full(key));
  }

  scope(sub: string | number): WeightScope {
    return new WeightScope(this.weights, this.full(String(sub)));
  }
}

function selectKey(key: string, opts: LoadOptions): string | undefined {
  let name = key;
  if (opts.prefix) {
    if (!key.startsWith(opts.prefix)) return undefined;
    name = key.slice(opts.prefix.length);
  }
  if (opts.filter && !opts.filter(name)) return undefined;
  return name;
}

function upload(rt: Runtime, w: HostWeight, dtype: DType = 'f32'): Tensor {
  // Weights are long-lived: keep them out of any enclosing tidy() scope.
  return Tensor.from(rt, w.data, w.shape, dtype).keep();
}
