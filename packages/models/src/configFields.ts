// One reader for the fields of the released DALLE2-pytorch 1.1.0 JSON configs (TrainDiffusionPriorConfig,
// TrainDecoderConfig). Every parser keeps its own keys, defaults, cross-field checks and error class;
// this module only reads values: typed getters, unknown-key rejection, and errors of the form
// `<source>: <path>.<key>: <message>`.

export type Json = Record<string, unknown>;

/** The error class a parser throws (its constructor takes the full message). */
export type ConfigErrorClass = new (message: string) => Error;

export function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export const isInt = (v: unknown, min: number): v is number => typeof v === 'number' && Number.isInteger(v) && v >= min;

export const isBool = (v: unknown): v is boolean => typeof v === 'boolean';

/** `path.key`, or `key` at the document root (empty path). */
export function joinPath(path: string, key: string): string {
  return path ? `${path}.${key}` : key;
}

export interface ConfigReaderOptions {
  /**
   * How a JSON list's type is named in errors: 'array' or, as the prior parsers have always said
   * (JavaScript's typeof), 'object'.
   */
  arrayType?: 'array' | 'object';
}

/** One config document being parsed: its source name (a file, usually) and the error class to throw. */
export class ConfigReader {
  private readonly arrayType: 'array' | 'object';

  constructor(
    readonly source: string,
    private readonly error: ConfigErrorClass,
    opts: ConfigReaderOptions = {},
  ) {
    this.arrayType = opts.arrayType ?? 'array';
  }

  /** A value for an error message: `nothing`, or its JSON and type, e.g. `"64" (string)`. */
  describe(v: unknown): string {
    if (v === undefined) return 'nothing';
    const type = v === null ? 'null' : Array.isArray(v) ? this.arrayType : typeof v;
    return `${JSON.stringify(v)} (${type})`;
  }

  /** Throws `<source>: <path>: <message>` (`<source>: <message>` for the empty path, the document itself). */
  fail(path: string, message: string): never {
    throw new this.error(path ? `${this.source}: ${path}: ${message}` : `${this.source}: ${message}`);
  }

  /** The document as a JSON object: JSON text is parsed; anything but an object is an error. */
  document(json: unknown): Json {
    let doc = json;
    if (typeof json === 'string') {
      try {
        doc = JSON.parse(json) as unknown;
      } catch (e) {
        this.fail('', `not valid JSON: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    if (!isObject(doc)) this.fail('', `expected a JSON object, got ${this.describe(doc)}`);
    return doc;
  }

  /** The fields of the object at `path` (an error names `path` when `value` is not an object). */
  fields(value: unknown, path: string): ConfigFields {
    if (!isObject(value)) this.fail(path, `expected an object, got ${this.describe(value)}`);
    return new ConfigFields(this, value, path);
  }
}

/** Options of `tuple` (upstream `cast_tuple`). */
export interface TupleOptions<T> {
  /** n copies of this when the field is absent (without one, absent is an error). */
  def?: T;
  /** What the n values are for, named in errors: `(one per <per>)`. */
  per: string;
  /** null counts as absent (upstream `x if exists(x) else default`). */
  nullIsAbsent?: boolean;
  /** Whether the error for a bad scalar also says `(one per <per>)` (default true). */
  perOnScalar?: boolean;
}

/**
 * Typed fields of one JSON object; every error names `<source>: <path>.<key>`. A getter's `what`
 * completes `expected <what>, got <value>`. Absent means undefined, and also null where a getter says so.
 */
export class ConfigFields {
  constructor(
    readonly reader: ConfigReader,
    readonly obj: Json,
    readonly path: string,
  ) {}

  fail(key: string, message: string): never {
    return this.reader.fail(joinPath(this.path, key), message);
  }

  describe(v: unknown): string {
    return this.reader.describe(v);
  }

  /** Whether the field holds a value other than null. */
  has(key: string): boolean {
    return this.obj[key] !== undefined && this.obj[key] !== null;
  }

  /** Fails with `message` on the first key (in document order) not in `known`. */
  rejectUnknown(known: readonly string[], message: string): void {
    for (const key of Object.keys(this.obj)) {
      if (!known.includes(key)) this.fail(key, message);
    }
  }

  /** The field, accepted by `ok`; when absent, `def` (with no `def`, absent is an error). */
  get<T>(key: string, ok: (v: unknown) => v is T, what: string, def?: T, nullIsAbsent = false): T {
    const v = this.obj[key];
    if ((v === undefined || (v === null && nullIsAbsent)) && def !== undefined) return def;
    if (!ok(v)) this.fail(key, `expected ${what}, got ${this.describe(v)}`);
    return v;
  }

  /** The field, accepted by `ok`, or undefined when it is undefined or null. */
  optional<T>(key: string, ok: (v: unknown) => v is T, what: string): T | undefined {
    return this.has(key) ? this.get(key, ok, what) : undefined;
  }

  /** An integer >= min; `def` undefined = required. */
  int(key: string, def?: number, min = 1): number {
    return this.get(key, (v): v is number => isInt(v, min), `an integer >= ${min}`, def);
  }

  /** An integer >= min, or undefined when the field is undefined or null. */
  optInt(key: string, min = 1): number | undefined {
    return this.has(key) ? this.int(key, undefined, min) : undefined;
  }

  /** A finite number in [min, max]. */
  number(key: string, def: number, min: number, max = Infinity): number {
    const ok = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= min && v <= max;
    return this.get(key, ok, `a number in [${min}, ${max === Infinity ? 'inf' : max}]`, def);
  }

  /** A probability in [0, 1], or [0, 1) with `belowOne`. */
  prob(key: string, def: number, opts: { belowOne?: boolean; nullIsAbsent?: boolean } = {}): number {
    const ok = (v: unknown): v is number => typeof v === 'number' && v >= 0 && (opts.belowOne ? v < 1 : v <= 1);
    return this.get(key, ok, `a probability in [0, 1${opts.belowOne ? ')' : ']'}`, def, opts.nullIsAbsent);
  }

  bool(key: string, def: boolean, nullIsAbsent = false): boolean {
    return this.get(key, isBool, 'true or false', def, nullIsAbsent);
  }

  /** One of `allowed` (null counts as absent); the error lists them joined by `sep`. */
  oneOf<T extends string>(key: string, allowed: readonly T[], def: T, sep = ', '): T {
    const ok = (v: unknown): v is T => typeof v === 'string' && (allowed as readonly string[]).includes(v);
    return this.get(key, ok, `one of ${allowed.join(sep)}`, def, true);
  }

  /** A non-empty list of values accepted by `ok` (a copy of `def` when absent; required without one). */
  list<T>(key: string, ok: (v: unknown) => v is T, what: string, def?: readonly T[]): T[] {
    const v = this.obj[key];
    if (v === undefined && def) return [...def];
    if (!Array.isArray(v) || v.length === 0 || !v.every(ok)) this.fail(key, `expected ${what}, got ${this.describe(v)}`);
    return v as T[];
  }

  /** Upstream `cast_tuple(val, n)`: a scalar accepted by `ok` is repeated n times; a list must hold n of them. */
  tuple<T>(key: string, n: number, ok: (v: unknown) => v is T, what: string, opts: TupleOptions<T>): T[] {
    const v = this.obj[key];
    if ((v === undefined || (v === null && opts.nullIsAbsent)) && opts.def !== undefined) return Array<T>(n).fill(opts.def);
    const expected = `expected ${what} or a list of ${n}`;
    const per = ` (one per ${opts.per})`;
    if (!Array.isArray(v)) {
      if (!ok(v)) this.fail(key, `${expected}${opts.perOnScalar === false ? '' : per}, got ${this.describe(v)}`);
      return Array<T>(n).fill(v as T);
    }
    if (v.length !== n || !v.every(ok)) this.fail(key, `${expected}${per}, got ${this.describe(v)}`);
    return v;
  }
}
