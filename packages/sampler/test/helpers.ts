// Test utilities for the sampler: fixture access (files and manifest entries), one runtime per test
// file, tolerance and ulp checks that report the first mismatches.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import { Runtime, SafetensorsFile, Tensor } from '@dalle2/tensor';

/** shared/fixtures, found relative to this file (packages/sampler/test -> ../shared/fixtures next to the repository). */
export const FIXTURES = new URL('../../../../shared/fixtures/', import.meta.url);

export function fixturePath(rel: string): string {
  return fileURLToPath(new URL(rel, FIXTURES));
}

export function readJson<T = unknown>(rel: string): T {
  return JSON.parse(readFileSync(fixturePath(rel), 'utf8')) as T;
}

export interface TensorEntry {
  dtype: string;
  shape: number[];
  meaning?: string;
}

export interface NoiseLogEntry {
  name: string;
  fn: string;
  shape: number[];
}

export interface UnetRun {
  unet: number;
  shape: number[];
  sample_timesteps: number | null;
  cond_scale: number;
  learned_variance: boolean;
  path: string;
  timestep_sequence?: number[];
}

/** A manifest.json file entry (only the fields the sampler tests read). */
export interface ManifestFile {
  kind: string;
  description: string;
  tensors?: Record<string, TensorEntry>;
  noise_log?: NoiseLogEntry[];
  per_unet?: UnetRun[];
  timestep_sequence?: number[];
  ddim_eta?: number | null;
  schedules?: string[];
  schedule?: string;
  timesteps?: number;
  p2_loss_weight_gamma?: number;
  p2_loss_weight_k?: number;
  inpaint_resample_times?: number;
}

let manifest: { files: Record<string, ManifestFile> } | undefined;

export function manifestEntry(rel: string): ManifestFile {
  const m = (manifest ??= readJson<{ files: Record<string, ManifestFile> }>('manifest.json'));
  const e = m.files[rel];
  if (!e) throw new Error(`manifest.json has no entry ${rel}`);
  return e;
}

const open = new Map<string, Promise<SafetensorsFile>>();

/** Opens a fixture safetensors file once per test file. */
export function fixture(rel: string): Promise<SafetensorsFile> {
  let f = open.get(rel);
  if (!f) {
    f = SafetensorsFile.open(fixturePath(rel));
    open.set(rel, f);
  }
  return f;
}

/** Reads an integer tensor (I64/I32) as plain numbers. */
export async function readInts(file: SafetensorsFile, name: string): Promise<number[]> {
  const a = await file.read(name);
  return Array.from(a as ArrayLike<number | bigint>, (v) => Number(v));
}

// One runtime per test file and the tolerance check are the tensor package's.
export { testRuntime, expectClose, type Tol } from '@dalle2/tensor/testing';

const f32 = new Float32Array(1);
const i32 = new Int32Array(f32.buffer);

/** Position of a float32 value on the ordered integer line (adjacent floats differ by 1). */
function ordinal(x: number): number {
  f32[0] = x;
  const i = i32[0];
  return i < 0 ? -2147483648 - i : i;
}

/** Distance in float32 ulps (0 for equal values incl. equal infinities, Infinity when either is NaN). */
export function ulpDiff(a: number, b: number): number {
  if (Number.isNaN(a) || Number.isNaN(b)) return Number.isNaN(a) && Number.isNaN(b) ? 0 : Infinity;
  if (a === b) return 0;
  return Math.abs(ordinal(a) - ordinal(b));
}

/** Every element within maxUlp float32 ulps; returns how many differ at all (for reporting). */
export function expectUlps(actual: ArrayLike<number>, expected: ArrayLike<number>, maxUlp: number, what = ''): number {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  const bad: string[] = [];
  let differ = 0;
  for (let i = 0; i < expected.length; i++) {
    const d = ulpDiff(actual[i], expected[i]);
    if (d > 0) differ++;
    if (d > maxUlp && bad.length < 8) bad.push(`[${i}] got ${actual[i]} want ${expected[i]} (${d} ulp)`);
  }
  if (bad.length) expect.fail(`${what}: more than ${maxUlp} ulp off: ${bad.join('; ')}`);
  return differ;
}

/** Uploads a fixture tensor (as float32) with its recorded shape. */
export async function upload(rt: Runtime, file: SafetensorsFile, name: string): Promise<Tensor> {
  return Tensor.from(rt, await file.readFloat32(name), file.info(name).shape);
}

/** Reads a tensor back as float32 and disposes it. */
export async function readAndDispose(t: Tensor): Promise<Float32Array> {
  const v = await t.toFloat32();
  t.dispose();
  return v;
}

/** Largest |a - b| (for reporting how close a check came). */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}
