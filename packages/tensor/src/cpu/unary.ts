// Plain TypeScript references for the unary ops (float64 math, float32 in/out).
import type { UnaryOp } from '../ops/unary.js';

/** erf to ~1e-15: the all-positive series 2/sqrt(pi) e^{-x^2} sum 2^n x^{2n+1} / (2n+1)!! (no cancellation). */
export function erf(x: number): number {
  const z = Math.abs(x);
  if (z >= 6) return Math.sign(x);
  let term = z;
  let sum = z;
  for (let n = 1; n < 200 && term > 1e-17 * sum; n++) {
    term *= (2 * z * z) / (2 * n + 1);
    sum += term;
  }
  return Math.sign(x) * (2 / Math.sqrt(Math.PI)) * Math.exp(-z * z) * sum;
}

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

export const UNARY_REF: Record<UnaryOp, (x: number, a: number, b: number) => number> = {
  neg: (x) => -x,
  exp: Math.exp,
  log: Math.log,
  sqrt: Math.sqrt,
  rsqrt: (x) => 1 / Math.sqrt(x),
  abs: Math.abs,
  sigmoid,
  silu: (x) => x * sigmoid(x),
  gelu: (x) => 0.5 * x * (1 + erf(x / Math.SQRT2)),
  gelu_tanh: (x) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3))),
  quick_gelu: (x) => x * sigmoid(1.702 * x),
  tanh: Math.tanh,
  relu: (x) => Math.max(x, 0),
  square: (x) => x * x,
  recip: (x) => 1 / x,
  clamp: (x, a, b) => Math.min(Math.max(x, a), b),
  affine: (x, a, b) => x * a + b,
};

export function unaryRef(op: UnaryOp, x: Float32Array, a = 0, b = 0): Float32Array {
  const f = UNARY_REF[op];
  return x.map((v) => f(v, a, b));
}
