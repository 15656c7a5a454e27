// Elementwise unary ops: one kernel (kernels/unary.wgsl) specialised by expression, math in f32. Its
// vec4 entry points read and write 4-vectors (several per invocation on CPU drivers, where each memory
// instruction is a per-lane loop); `main` (one element per invocation) is the fallback for bindings
// that cannot be widened to whole vectors.
import { Tensor } from '../tensor.js';
import { Uniforms, grid1d, expectDtype } from './util.js';
import { vec4Binding, elementwiseLayout, type VecLayout } from './vec.js';

export type UnaryOp =
  | 'neg' | 'exp' | 'log' | 'sqrt' | 'rsqrt' | 'abs' | 'sigmoid' | 'silu' | 'gelu' | 'gelu_tanh'
  | 'quick_gelu' | 'tanh' | 'relu' | 'square' | 'recip' | 'clamp' | 'affine';

/** WGSL expression of each op over `x` and uniforms `p.a`, `p.b`. */
const EXPR: Record<UnaryOp, string> = {
  neg: '-x',
  exp: 'exp(x)',
  log: 'log(x)',
  sqrt: 'sqrt(x)',
  rsqrt: 'inverseSqrt(x)',
  abs: 'abs(x)',
  sigmoid: 'act_sigmoid(x)',
  silu: 'act_silu(x)',
  gelu: 'act_gelu(x)',
  gelu_tanh: 'act_gelu_tanh(x)',
  quick_gelu: 'act_quick_gelu(x)',
  tanh: 'act_tanh(x)',
  relu: 'act_relu(x)',
  square: 'x * x',
  recip: '1.0 / x',
  clamp: 'min(max(x, p.a), p.b)',
  affine: 'x * p.a + p.b',
};

export interface UnaryOptions {
  /** Force the scalar kernel (tests) or a vec4 layout; default: vec4 with elementwiseLayout(rt). */
  layout?: VecLayout | 'scalar';
}

export function unary(op: UnaryOp, x: Tensor, a = 0, b = 0, opts: UnaryOptions = {}): Tensor {
  expectDtype(op, x, ['f32', 'f16']);
  const rt = x.rt;
  const y = Tensor.empty(rt, x.shape, x.dtype);
  if (y.size === 0) return y;
  const xv = vec4Binding(x);
  const yv = vec4Binding(y);
  if (opts.layout !== 'scalar' && xv && yv) {
    const { wg, v } = opts.layout ?? elementwiseLayout(rt);
    if (wg !== 8 && wg !== 256) throw new Error(`${op}: vec4 layouts have 8 or 256 invocations per workgroup, not ${wg}`);
    const n4 = Math.ceil(x.size / 4);
    rt.run({
      kernel: 'unary',
      entryPoint: `main_vec4_${wg}`,
      defines: { T: x.dtype, EXPR: EXPR[op] },
      inputs: [xv],
      outputs: [yv],
      uniforms: new Uniforms().u32(n4).f32(a, b).u32(v).build(),
      workgroups: grid1d(rt, Math.ceil(n4 / v), wg),
    });
    return y;
  }
  rt.run({
    kernel: 'unary',
    defines: { T: x.dtype, EXPR: EXPR[op] },
    inputs: [x],
    outputs: [y],
    uniforms: new Uniforms().u32(x.size).f32(a, b).build(),
    workgroups: grid1d(rt, x.size),
  });
  return y;
}

export const neg = (x: Tensor) => unary('neg', x);
export const exp = (x: Tensor) => unary('exp', x);
export const log = (x: Tensor) => unary('log', x);
export const sqrt = (x: Tensor) => unary('sqrt', x);
export const rsqrt = (x: Tensor) => unary('rsqrt', x);
export const abs = (x: Tensor) => unary('abs', x);
export const sigmoid = (x: Tensor) => unary('sigmoid', x);
export const silu = (x: Tensor) => unary('silu', x);
/** GELU, exact erf form (torch default). */
export const gelu = (x: Tensor) => unary('gelu', x);
/** GELU, tanh approximation (torch `approximate='tanh'`). */
export const geluTanh = (x: Tensor) => unary('gelu_tanh', x);
/** x * sigmoid(1.702 x), as OpenAI CLIP. */
export const quickGelu = (x: Tensor) => unary('quick_gelu', x);
export const tanh = (x: Tensor) => unary('tanh', x);
export const relu = (x: Tensor) => unary('relu', x);
export const square = (x: Tensor) => unary('square', x);
export const recip = (x: Tensor) => unary('recip', x);
export const clamp = (x: Tensor, min: number, max: number) => unary('clamp', x, min, max);
/** x * scale + shift with scalar scale/shift. */
export const affine = (x: Tensor, scale: number, shift = 0) => unary('affine', x, scale, shift);
