/** Test helpers: locating shared fixtures and checking tensors against manifest stats. */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SafetensorsDType, SafetensorsTypedArray } from '../../src/safetensors/index.js';

/** `shared/` next to the repository (../shared) or inside it, whichever exists. */
export function findShared(): string {
  const candidates = ['../../../../shared', '../../../../../shared'].map((rel) =>
    fileURLToPath(new URL(rel, import.meta.url)),
  );
  const found = candidates.find((dir) => existsSync(join(dir, 'fixtures', 'manifest.json')));
  if (found === undefined) throw new Error(`shared fixtures not found; looked in ${candidates.join(', ')}`);
  return found;
}

export interface ManifestStats {
  min?: number;
  max?: number;
  mean?: number;
  std?: number;
  max_abs?: number;
  mean_abs?: number;
  num_nonfinite?: number;
  num_true?: number;
}

export interface ManifestTensor {
  dtype: string;
  shape: number[];
  stats: ManifestStats;
}

export interface Manifest {
  files: Record<string, { kind: string; tensors?: Record<string, ManifestTensor> }>;
}

export function loadManifest(fixturesDir: string): Manifest {
  return JSON.parse(readFileSync(join(fixturesDir, 'manifest.json'), 'utf8')) as Manifest;
}

/** Manifest dtype spelling (numpy/torch names) -> safetensors dtype. */
export const MANIFEST_DTYPES: Record<string, SafetensorsDType> = {
  float32: 'F32',
  float16: 'F16',
  bfloat16: 'BF16',
  float64: 'F64',
  int64: 'I64',
  int32: 'I32',
  int16: 'I16',
  int8: 'I8',
  uint8: 'U8',
  bool: 'BOOL',
};

/** All `*.safetensors` files under `dir`, recursively. */
export function listSafetensors(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...listSafetensors(p));
    else if (e.name.endsWith('.safetensors')) out.push(p);
  }
  return out.sort();
}

/** Stats like the fixture generator's: float stats over finite values, in float64. */
export function computeStats(dtype: SafetensorsDType, raw: SafetensorsTypedArray, f32: Float32Array): ManifestStats {
  if (dtype === 'BOOL') return { num_true: f32.reduce((n, v) => n + (v !== 0 ? 1 : 0), 0) };
  if (raw instanceof BigInt64Array) {
    let min = raw[0];
    let max = raw[0];
    for (const v of raw) {
      if (v < min) min = v;
      if (v > max) max = v;
    }
    return { min: Number(min), max: Number(max) };
  }
  let n = 0, sum = 0, sumAbs = 0, min = Infinity, max = -Infinity, nonFinite = 0;
  for (const v of f32) {
    if (!Number.isFinite(v)) {
      nonFinite++;
      continue;
    }
    n++;
    sum += v;
    sumAbs += Math.abs(v);
    min = Math.min(min, v);
    max = Math.max(max, v);
  }
  const mean = sum / n;
  let sq = 0;
  for (const v of f32) if (Number.isFinite(v)) sq += (v - mean) ** 2;
  return {
    min, max, mean, std: Math.sqrt(sq / n), max_abs: Math.max(-min, max), mean_abs: sumAbs / n, num_nonfinite: nonFinite,
  };
}

const EXACTISH = 1e-6;
const MEAN_RTOL = 1e-4;
const MEAN_ATOL = 1e-5;

/** Names of stats that disagree beyond tolerance (min/max-like 1e-6 rel; means 1e-4 rel or 1e-5 abs). */
export function statMismatches(got: ManifestStats, want: ManifestStats): string[] {
  const bad: string[] = [];
  for (const key of Object.keys(want) as (keyof ManifestStats)[]) {
    const w = want[key];
    const g = got[key];
    if (w === undefined || g === undefined) continue;
    const exactish = key === 'min' || key === 'max' || key === 'max_abs';
    const counted = key === 'num_true' || key === 'num_nonfinite';
    const tol = counted ? 0 : exactish ? EXACTISH * Math.abs(w) : Math.max(MEAN_ATOL, MEAN_RTOL * Math.abs(w));
    if (!(Math.abs(g - w) <= tol)) bad.push(`${key}: got ${g}, manifest ${w}`);
  }
  return bad;
}
