// Fidelity checks: compare our outputs with tensors dumped from the upstream PyTorch code. One result
// per check, printed as `name  max_abs_err  tol  PASS|FAIL` by the runner and asserted by vitest.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SafetensorsFile, type Runtime } from '@dalle2/tensor';

export interface Tolerance {
  atol: number;
  rtol: number;
}

export interface CheckResult {
  name: string;
  maxAbsErr: number;
  tol: Tolerance;
  pass: boolean;
  /** First mismatch or error text when failing. */
  detail?: string;
}

export interface ManifestTensor {
  dtype: string;
  shape: number[];
  meaning?: string;
}

export interface Manifest {
  files: Record<string, { kind: string; description?: string; tensors?: Record<string, ManifestTensor> }>;
  [key: string]: unknown;
}

/** A fixture directory: manifest, lazily opened safetensors files, JSON files. */
export class FixtureSet {
  private readonly open = new Map<string, Promise<SafetensorsFile>>();

  private constructor(
    readonly dir: string,
    readonly manifest: Manifest,
  ) {}

  static async load(dir: string): Promise<FixtureSet> {
    let text: string;
    try {
      text = await readFile(join(dir, 'manifest.json'), 'utf8');
    } catch {
      throw new Error(`fidelity: no manifest.json in fixture directory ${dir}`);
    }
    return new FixtureSet(dir, JSON.parse(text) as Manifest);
  }

  has(rel: string): boolean {
    return rel in this.manifest.files;
  }

  path(rel: string): string {
    return join(this.dir, rel);
  }

  file(rel: string): Promise<SafetensorsFile> {
    let f = this.open.get(rel);
    if (!f) this.open.set(rel, (f = SafetensorsFile.open(this.path(rel))));
    return f;
  }

  async json<T>(rel: string): Promise<T> {
    return JSON.parse(await readFile(this.path(rel), 'utf8')) as T;
  }

  async f32(rel: string, name: string): Promise<Float32Array> {
    return (await this.file(rel)).readFloat32(name);
  }

  /** Integer tensor (i64/i32/u8/bool) as Int32Array. */
  async i32(rel: string, name: string): Promise<Int32Array> {
    const data = await (await this.file(rel)).read(name);
    return Int32Array.from(data as ArrayLike<number | bigint>, (v) => Number(v));
  }

  async shape(rel: string, name: string): Promise<number[]> {
    return [...(await this.file(rel)).info(name).shape];
  }

  async close(): Promise<void> {
    for (const f of this.open.values()) await (await f).close();
    this.open.clear();
  }
}

/** |a - e| <= atol + rtol * |e| everywhere; reports the max abs error and the first failure. */
export function compare(name: string, actual: ArrayLike<number>, expected: ArrayLike<number>, tol: Tolerance): CheckResult {
  if (actual.length !== expected.length) {
    return { name, maxAbsErr: Infinity, tol, pass: false, detail: `length ${actual.length} != expected ${expected.length}` };
  }
  let maxAbsErr = 0;
  let detail: string | undefined;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i];
    const e = expected[i];
    const err = Math.abs(a - e);
    if (!(err <= tol.atol + tol.rtol * Math.abs(e)) && !(a === e)) {
      detail ??= `[${i}] got ${a} expected ${e}`;
      if (Number.isNaN(err)) maxAbsErr = NaN;
    }
    if (err > maxAbsErr) maxAbsErr = err;
  }
  return { name, maxAbsErr, tol, pass: detail === undefined, detail };
}

// Every suite's tolerances, in one place (upstream runs in float32; ours too, in another summation order):
/** Bit-exact (tokens, integer draws, recorded-tensor bookkeeping). */
export const EXACT: Tolerance = { atol: 0, rtol: 0 };
/** One forward or step of a network, schedules, CLIP and prior outputs (unet outputs reach ~10). */
export const TOL: Tolerance = { atol: 1e-4, rtol: 1e-4 };
/** Images in [0, 1] and traces after a whole free-running sampling run (rounding differences compound). */
export const IMAGE_TOL: Tolerance = { atol: 2e-3, rtol: 0 };
/** uint8 images and PNGs: (x * 255).byte() truncation flips near integer boundaries. */
export const LSB: Tolerance = { atol: 1, rtol: 0 };

/** Runs one check, turning a thrown error into a failing result so a suite always reports every line. */
export async function guarded(name: string, tol: Tolerance, fn: () => Promise<CheckResult | CheckResult[]>): Promise<CheckResult[]> {
  try {
    const r = await fn();
    return Array.isArray(r) ? r : [r];
  } catch (e) {
    return [{ name, maxAbsErr: NaN, tol, pass: false, detail: e instanceof Error ? e.message : String(e) }];
  }
}

export interface SuiteContext {
  rt: Runtime;
  fx: FixtureSet;
}

export type Suite = (ctx: SuiteContext) => Promise<CheckResult[]>;

export function formatResult(r: CheckResult): string {
  const err = Number.isFinite(r.maxAbsErr) ? r.maxAbsErr.toExponential(2) : String(r.maxAbsErr);
  const tol = `atol=${r.tol.atol} rtol=${r.tol.rtol}`;
  return `${r.name.padEnd(48)} ${err.padStart(10)}  ${tol.padEnd(24)} ${r.pass ? 'PASS' : 'FAIL'}${r.pass || !r.detail ? '' : `  (${r.detail})`}`;
}
