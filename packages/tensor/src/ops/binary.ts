// Elementwise binary ops with NumPy/PyTorch broadcasting (kernels/binary.wgsl) and their scalar variants
// (kernels/binary_scalar.wgsl). Float math runs in f32 (f16 storage rounds once, at the store); i32
// supports add/sub/mul/max/min with wrapping arithmetic. No type promotion: operands share one dtype.
import { Tensor } from '../tensor.js';
import type { DType } from '../dtype.js';
import { broadcastShapes, broadcastStrides, shapeStr, type Shape } from '../shape.js';
import { Uniforms, grid1d, expectDtype, expectSameDtype, expectMaxRank, sameRuntime, MAX_RANK } from './util.js';
import type { Binding } from '../runtime.js';
import { vec4Binding, elementwiseLayout, type VecLayout } from './vec.js';

export type BinaryOp = 'add' | 'sub' | 'mul' | 'div' | 'pow' | 'max' | 'min';
/** Binary ops with a scalar right operand; `rsub` is s - a. */
export type ScalarBinaryOp = BinaryOp | 'rsub';

/** WGSL expression of each op over x (left) and y (right), f32 math (helpers in lib_binary.wgsl). */
const FLOAT_EXPR: Record<BinaryOp, string> = {
  add: 'x + y',
  sub: 'x - y',
  mul: 'x * y',
  div: 'x / y',
  pow: 'bin_pow(x, y)',
  max: 'bin_max(x, y)',
  min: 'bin_min(x, y)',
};

/** i32 ops: WGSL integer arithmetic wraps on overflow, like torch int32. */
const INT_EXPR: Partial<Record<BinaryOp, string>> = {
  add: 'x + y',
  sub: 'x - y',
  mul: 'x * y',
  max: 'max(x, y)',
  min: 'min(x, y)',
};

function exprFor(op: BinaryOp, dtype: DType, name: string = op): string {
  const e = dtype === 'i32' ? INT_EXPR[op] : FLOAT_EXPR[op];
  if (e === undefined) throw new Error(`${name}: dtype i32 not supported (expected f32 | f16; i32 has add, sub, mul, max, min)`);
  return e;
}

/** WGSL compute type of a storage dtype: floats compute in f32, i32 in i32. */
export function computeType(dtype: DType): 'f32' | 'i32' {
  return dtype === 'i32' ? 'i32' : 'f32';
}

/**
 * Appends `value` as a uniform in the compute type of `dtype`. For i32 it must be an integer in range
 * (there is no type promotion to float as torch would do).
 */
export function scalarUniform(u: Uniforms, op: string, dtype: DType, value: number): Uniforms {
  if (dtype !== 'i32') return u.f32(value);
  if (!Number.isInteger(value) || value < -(2 ** 31) || value >= 2 ** 31) {
    throw new Error(`${op}: scalar ${value} is not an i32 value (tensor dtype i32)`);
  }
  return u.i32(value);
}

/** How a kernel indexes broadcast operands: output shape and per-operand strides over a collapsed shape. */
export interface BroadcastLayout {
  /** Broadcast output shape. */
  outShape: number[];
  /** outShape without size-1 dims and with neighbours fused where every operand allows (rank <= outShape's). */
  shape: number[];
  /** Element strides of each operand over `shape`, 0 on broadcast dims. */
  strides: number[][];
  /** Every operand is read at the output's flat index (equal shapes up to size-1 dims): no index math. */
  contiguous: boolean;
}

/** Broadcasts operand shapes together (errors name `op` and all shapes) and collapses the index space. */
export function broadcastLayout(op: string, shapes: readonly Shape[]): BroadcastLayout {
  let outShape: number[];
  if (shapes.length === 2) outShape = broadcastShapes(shapes[0], shapes[1], op);
  else {
    try {
      outShape = shapes.reduce<number[]>((acc, s) => broadcastShapes(acc, s, op), []);
    } catch {
      throw new Error(`${op}: shapes ${shapes.map(shapeStr).join(', ')} are not broadcastable`);
    }
  }
  expectMaxRank(op, outShape);
  const full = shapes.map((s) => broadcastStrides(s, outShape));
  const shape: number[] = [];
  const strides: number[][] = shapes.map(() => []);
  for (let d = 0; d < outShape.length; d++) {
    const size = outShape[d];
    if (size === 1) continue;
    const last = shape.length - 1;
    // Dim d folds into the previous kept dim when, for every operand, stepping the previous dim once
    // equals stepping d `size` times (true for contiguous runs and for runs broadcast on both).
    if (last >= 0 && full.every((s, k) => strides[k][last] === s[d] * size)) {
      shape[last] *= size;
      strides.forEach((s, k) => (s[last] = full[k][d]));
    } else {
      shape.push(size);
      strides.forEach((s, k) => s.push(full[k][d]));
    }
  }
  const contiguous = shape.length === 0 || (shape.length === 1 && strides.every((s) => s[0] === 1));
  return { outShape, shape, strides, contiguous };
}

/** Appends a layout's shape and each operand's strides as `array<vec4<u32>, MAX_RANK / 4>` members. */
export function layoutUniforms(u: Uniforms, layout: BroadcastLayout): Uniforms {
  u.u32Array(layout.shape, MAX_RANK);
  for (const s of layout.strides) u.u32Array(s, MAX_RANK);
  return u;
}

export interface BinaryOptions {
  /** Force the scalar kernel (tests) or a vec4 layout; default: vec4 (where the layout allows) with elementwiseLayout(rt). */
  layout?: VecLayout | 'scalar';
}

/**
 * Bindings and load expressions of kernels/binary_vec4.wgsl for a collapsed layout, or undefined when it
 * does not vectorise: each operand's innermost stride must be 1 (read as vectors: then every stride a
 * multiple of 4) or 0 (broadcast scalar), and the innermost dim a multiple of 4 unless it is the only dim.
 */
function vec4Plan(layout: BroadcastLayout, ops: Tensor[], out: Tensor) {
  const rank = layout.shape.length;
  if (rank === 0) return undefined;
  const inner = layout.shape[rank - 1];
  if (rank > 1 && inner % 4 !== 0) return undefined;
  const outB = vec4Binding(out);
  if (!outB) return undefined;
  const operands: { binding: Binding; type: string; load: string }[] = [];
  for (const [k, t] of ops.entries()) {
    const s = layout.strides[k];
    const name = k === 0 ? 'a_in[ia' : 'b_in[ib';
    const C = computeType(t.dtype);
    if (s[rank - 1] === 0) {
      operands.push({ binding: t.binding(), type: t.dtype, load: `vec4<${C}>(${C}(${name}]))` });
    } else if (s[rank - 1] === 1 && s.slice(0, -1).every((v) => v % 4 === 0)) {
      const b = vec4Binding(t);
      if (!b) return undefined;
      operands.push({ binding: b, type: `vec4<${t.dtype}>`, load: `vec4<${C}>(${name} / 4u + j])` });
    } else return undefined;
  }
  return { out: outB, operands, inner4: Math.ceil(inner / 4) };
}

/** a (op) b elementwise with broadcasting; a and b must share a dtype. */
export function binary(op: BinaryOp, a: Tensor, b: Tensor, opts: BinaryOptions = {}): Tensor {
  const rt = sameRuntime(op, a, b);
  expectSameDtype(op, a, b);
  const expr = exprFor(op, a.dtype);
  const layout = broadcastLayout(op, [a.shape, b.shape]);
  const out = Tensor.empty(rt, layout.outShape, a.dtype);
  const n = out.size;
  if (n === 0) return out;
  const forced = opts.layout === 'scalar' ? undefined : opts.layout;
  const plan = opts.layout === 'scalar' ? undefined : vec4Plan(layout, [a, b], out);
  if (plan) {
    const { wg, v } = forced ?? elementwiseLayout(rt);
    const rank = layout.shape.length;
    const rows = n / layout.shape[rank - 1];
    const runsPerRow = Math.ceil(plan.inner4 / v);
    const runs = rows * runsPerRow;
    rt.run({
      kernel: 'binary_vec4',
      defines: {
        T: a.dtype, C: computeType(a.dtype), EXPR: expr, WG: wg, V: v, RANK: rank, R4: MAX_RANK / 4,
        TA: plan.operands[0].type, TB: plan.operands[1].type, LOAD_A: plan.operands[0].load, LOAD_B: plan.operands[1].load,
      },
      inputs: plan.operands.map((o) => o.binding),
      outputs: [plan.out],
      uniforms: layoutUniforms(new Uniforms().u32(runs, runsPerRow, plan.inner4, 0), layout).build(),
      workgroups: grid1d(rt, runs, wg),
    });
    return out;
  }
  rt.run({
    kernel: 'binary',
    defines: { T: a.dtype, C: computeType(a.dtype), EXPR: expr, BCAST: !layout.contiguous, R4: MAX_RANK / 4 },
    inputs: [a, b],
    outputs: [out],
    uniforms: layoutUniforms(new Uniforms().u32(n, layout.shape.length), layout).build(),
    workgroups: grid1d(rt, n),
  });
  return out;
}

/** a (op) s elementwise with a scalar s passed as a uniform (f32 math for float dtypes). */
export function binaryScalar(op: ScalarBinaryOp, a: Tensor, s: number): Tensor {
  const name = `${op}Scalar`;
  expectDtype(name, a, ['f32', 'f16', 'i32']);
  if (typeof s !== 'number') throw new Error(`${name}: scalar must be a number, got ${typeof s}`);
  const expr = op === 'rsub' ? 'y - x' : exprFor(op, a.dtype, name);
  const rt = a.rt;
  const out = Tensor.empty(rt, a.shape, a.dtype);
  rt.run({
    kernel: 'binary_scalar',
    defines: { T: a.dtype, C: computeType(a.dtype), EXPR: expr },
    inputs: [a],
    outputs: [out],
    uniforms: scalarUniform(new Uniforms().u32(a.size), name, a.dtype, s).build(),
    workgroups: grid1d(rt, a.size),
  });
  return out;
}

/** a + b (broadcasting). */
export const add = (a: Tensor, b: Tensor): Tensor => binary('add', a, b);
/** a - b (broadcasting). */
export const sub = (a: Tensor, b: Tensor): Tensor => binary('sub', a, b);
/** a * b (broadcasting). */
export const mul = (a: Tensor, b: Tensor): Tensor => binary('mul', a, b);
/** a / b (broadcasting; x/0 = ±inf, 0/0 = NaN; floats only). */
export const div = (a: Tensor, b: Tensor): Tensor => binary('div', a, b);
/** a ** b with torch.pow semantics (negative base with fractional exponent = NaN; floats only). */
export const pow = (a: Tensor, b: Tensor): Tensor => binary('pow', a, b);
/** Elementwise max (torch.maximum: NaN propagates). */
export const maximum = (a: Tensor, b: Tensor): Tensor => binary('max', a, b);
/** Elementwise min (torch.minimum: NaN propagates). */
export const minimum = (a: Tensor, b: Tensor): Tensor => binary('min', a, b);

/** a + s. */
export const addScalar = (a: Tensor, s: number): Tensor => binaryScalar('add', a, s);
/** a - s. */
export const subScalar = (a: Tensor, s: number): Tensor => binaryScalar('sub', a, s);
/** s - a. */
export const rsubScalar = (s: number, a: Tensor): Tensor => binaryScalar('rsub', a, s);
/** a * s. */
export const mulScalar = (a: Tensor, s: number): Tensor => binaryScalar('mul', a, s);
/** a / s (floats only). */
export const divScalar = (a: Tensor, s: number): Tensor => binaryScalar('div', a, s);
/** a ** s (floats only; torch.pow semantics). */
export const powScalar = (a: Tensor, s: number): Tensor => binaryScalar('pow', a, s);
/** max(a, s) elementwise (NaN propagates). */
export const maximumScalar = (a: Tensor, s: number): Tensor => binaryScalar('max', a, s);
/** min(a, s) elementwise (NaN propagates). */
export const minimumScalar = (a: Tensor, s: number): Tensor => binaryScalar('min', a, s);
