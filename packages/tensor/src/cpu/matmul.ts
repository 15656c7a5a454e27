// Plain TypeScript reference for matmul (float64 accumulation, float32 in/out).
import type { MatmulActivation } from '../ops/matmul.js';
import type { Shape } from '../shape.js';
import { UNARY_REF } from './unary.js';

export interface MatmulRefOptions {
  transA?: boolean;
  transB?: boolean;
  bias?: Float32Array;
  activation?: MatmulActivation;
  alpha?: number;
}

/** act(alpha * op(a) @ op(b) + bias) over broadcast batch dims; returns the [..., M, N] data. */
export function matmulRef(a: Float32Array, aShape: Shape, b: Float32Array, bShape: Shape, opts: MatmulRefOptions = {}): Float32Array {
  const [ar, ac] = aShape.slice(-2);
  const [br, bc] = bShape.slice(-2);
  const [M, K] = opts.transA ? [ac, ar] : [ar, ac];
  const N = opts.transB ? br : bc;
  if ((opts.transB ? bc : br) !== K) throw new Error('matmulRef: inner dims differ');
  const aB = aShape.slice(0, -2);
  const bB = bShape.slice(0, -2);
  const rank = Math.max(aB.length, bB.length);
  const dim = (s: readonly number[], i: number) => s[s.length - rank + i] ?? 1;
  const outB = Array.from({ length: rank }, (_, i) => Math.max(dim(aB, i), dim(bB, i)));
  const batch = outB.reduce((x, y) => x * y, 1);
  const f = opts.activation && opts.activation !== 'none' ? UNARY_REF[opts.activation] : (x: number) => x;
  const alpha = opts.alpha ?? 1;
  const out = new Float32Array(batch * M * N);
  for (let z = 0; z < batch; z++) {
    // Batch index -> per-operand matrix index, broadcasting size-1 dims.
    let rem = z;
    let ai = 0;
    let bi = 0;
    let aMul = 1;
    let bMul = 1;
    for (let d = rank - 1; d >= 0; d--) {
      const idx = rem % outB[d];
      rem = Math.floor(rem / outB[d]);
      if (dim(aB, d) !== 1) ai += idx * aMul;
      if (dim(bB, d) !== 1) bi += idx * bMul;
      aMul *= dim(aB, d);
      bMul *= dim(bB, d);
    }
    const ao = ai * M * K;
    const bo = bi * K * N;
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) {
        let s = 0;
        for (let k = 0; k < K; k++) {
          const av = a[ao + (opts.transA ? k * M + m : m * K + k)];
          const bv = b[bo + (opts.transB ? n * K + k : k * N + n)];
          s += av * bv;
        }
        let v = alpha * s + (opts.bias ? opts.bias[n] : 0);
        v = f(v, 0, 0);
        out[z * M * N + m * N + n] = v;
      }
    }
  }
  return out;
}
