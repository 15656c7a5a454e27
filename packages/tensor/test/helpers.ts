// Shared test utilities: one runtime per test file, seeded random data, tolerance checks that print
// the first mismatches.
import { afterAll, expect } from 'vitest';
import { Runtime, Tensor, type DType } from '../src/index.js';

let shared: Promise<Runtime> | undefined;

/**
 * Runtime for this test file, destroyed after its tests (the afterAll hook joins the scope of the first
 * caller: await it once at the top level of the file). Validation is on so errors name the kernel.
 */
export function testRuntime(): Promise<Runtime> {
  if (!shared) {
    shared = Runtime.create({ validate: process.env.DALLE2_VALIDATE !== '0' });
    afterAll(async () => {
      await (await shared!).destroy();
      shared = undefined;
    });
  }
  return shared;
}

/** Mulberry32: small, fast, seeded. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randn(n: number, seed: number, scale = 1): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = Math.max(r(), 1e-12);
    out[i] = scale * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * r());
  }
  return out;
}

export function randUniform(n: number, seed: number, lo: number, hi: number): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: n }, () => lo + (hi - lo) * r());
}

export function randInt(n: number, seed: number, lo: number, hiExclusive: number): Int32Array {
  const r = rng(seed);
  return Int32Array.from({ length: n }, () => lo + Math.floor(r() * (hiExclusive - lo)));
}

export interface Tol {
  atol: number;
  rtol: number;
}

/** |a - b| <= atol + rtol * |b| elementwise (NaN only matches NaN); reports the worst and first mismatches. */
export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: Tol, what = ''): void {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  const bad: string[] = [];
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i];
    const b = expected[i];
    const ok = Number.isNaN(b) ? Number.isNaN(a) : a === b || Math.abs(a - b) <= tol.atol + tol.rtol * Math.abs(b);
    if (!ok) {
      worst = Math.max(worst, Math.abs(a - b));
      if (bad.length < 8) bad.push(`[${i}] got ${a} want ${b}`);
    }
  }
  if (bad.length) {
    expect.fail(`${what}: mismatches (atol ${tol.atol}, rtol ${tol.rtol}, worst abs err ${worst}): ${bad.join('; ')}`);
  }
}

/** Random tensor of `dtype` plus its exact host contents (f16 as half bits, read back after upload). */
export async function randomInput(rt: Runtime, shape: readonly number[], dtype: DType, seed: number): Promise<{ t: Tensor; host: Float32Array | Uint16Array | Int32Array }> {
  const n = shape.reduce((p, d) => p * d, 1);
  const t = dtype === 'i32' ? Tensor.from(rt, randInt(n, seed, -1000, 1000), shape, 'i32') : Tensor.from(rt, randn(n, seed), shape, dtype);
  return { t, host: await t.read() };
}
