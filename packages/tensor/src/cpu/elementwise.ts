// Plain TypeScript references for binary ops, where/maskedFill, cast and fill (float64 math). Float
// results come back as Float32Array; for dtype 'f16' inputs and results are rounded through f16, the
// way the kernels see and store them (scalars stay f32, as in the kernels' uniforms).
import type { BinaryOp, ScalarBinaryOp } from '../ops/binary.js';
import type { DType } from '../dtype.js';
import { broadcastShapes, broadcastStrides, numel, type Shape } from '../shape.js';
import { f32ToF16Bits, f16BitsToF32 } from '../safetensors/halfFloat.js';

export interface ElementwiseRefResult {
  data: Float32Array | Int32Array;
  shape: number[];
}

/** Rounds values to the nearest f16 (ties to even), returned as f32. */
export function roundF16Ref(x: ArrayLike<number>): Float32Array {
  return f16BitsToF32(f32ToF16Bits(Float32Array.from(x)));
}

/** Values as the kernel reads them from storage of `dtype`. */
function asStored(x: ArrayLike<number>, dtype: DType): ArrayLike<number> {
  if (dtype === 'f16') return roundF16Ref(x);
  if (dtype === 'f32') return Float32Array.from(x);
  return Int32Array.from(x);
}

/** Final rounding of float64 results into the output dtype's host array. */
function store(values: ArrayLike<number>, dtype: DType): Float32Array | Int32Array {
  if (dtype === 'i32') return Int32Array.from(values);
  const f = Float32Array.from(values);
  return dtype === 'f16' ? roundF16Ref(f) : f;
}

/** For each flat output index, the flat index into an operand of `shape` broadcast to `outShape`. */
function sourceIndex(shape: Shape, outShape: Shape): Int32Array {
  const st = broadcastStrides(shape, outShape);
  const n = numel(outShape);
  const idx = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let rem = i;
    let off = 0;
    for (let d = outShape.length - 1; d >= 0; d--) {
      off += (rem % outShape[d]) * st[d];
      rem = Math.floor(rem / outShape[d]);
    }
    idx[i] = off;
  }
  return idx;
}

/** C / torch.pow, including the cases where JS Math.pow differs (1^NaN = 1, (-1)^±inf = 1). */
function powRef(x: number, y: number): number {
  if (x === 1 || y === 0) return 1;
  if (x === -1 && (y === Infinity || y === -Infinity)) return 1;
  return Math.pow(x, y);
}

const FLOAT_REF: Record<BinaryOp, (x: number, y: number) => number> = {
  add: (x, y) => x + y,
  sub: (x, y) => x - y,
  mul: (x, y) => x * y,
  div: (x, y) => x / y,
  pow: powRef,
  max: Math.max,
  min: Math.min,
};

/** int32 ops wrap on overflow, as WGSL and torch do. */
const INT_REF: Partial<Record<BinaryOp, (x: number, y: number) => number>> = {
  add: (x, y) => (x + y) | 0,
  sub: (x, y) => (x - y) | 0,
  mul: Math.imul,
  max: Math.max,
  min: Math.min,
};

function opRef(op: BinaryOp, dtype: DType): (x: number, y: number) => number {
  const f = dtype === 'i32' ? INT_REF[op] : FLOAT_REF[op];
  if (!f) throw new Error(`binaryRef: ${op} has no ${dtype} reference`);
  return f;
}

/** a (op) b with NumPy broadcasting. */
export function binaryRef(
  op: BinaryOp,
  a: ArrayLike<number>,
  aShape: Shape,
  b: ArrayLike<number>,
  bShape: Shape,
  dtype: DType = 'f32',
): ElementwiseRefResult {
  const shape = broadcastShapes(aShape, bShape, `binaryRef ${op}`);
  const f = opRef(op, dtype);
  const [xa, xb] = [asStored(a, dtype), asStored(b, dtype)];
  const [ia, ib] = [sourceIndex(aShape, shape), sourceIndex(bShape, shape)];
  const out = new Float64Array(ia.length);
  for (let i = 0; i < out.length; i++) out[i] = f(xa[ia[i]], xb[ib[i]]);
  return { data: store(out, dtype), shape };
}

/** a (op) s elementwise with a scalar (kept at f32 precision for float dtypes); rsub is s - a. */
export function binaryScalarRef(op: ScalarBinaryOp, a: ArrayLike<number>, s: number, dtype: DType = 'f32'): Float32Array | Int32Array {
  const f = op === 'rsub' ? (x: number, y: number) => opRef('sub', dtype)(y, x) : opRef(op, dtype);
  const y = dtype === 'i32' ? s : Math.fround(s);
  const x = asStored(a, dtype);
  const out = new Float64Array(x.length);
  for (let i = 0; i < out.length; i++) out[i] = f(x[i], y);
  return store(out, dtype);
}

/** cond != 0 ? a : b with the three broadcast together (values pass through unrounded beyond `dtype`). */
export function whereRef(
  cond: ArrayLike<number>,
  condShape: Shape,
  a: ArrayLike<number>,
  aShape: Shape,
  b: ArrayLike<number>,
  bShape: Shape,
  dtype: DType = 'f32',
): ElementwiseRefResult {
  const shape = broadcastShapes(broadcastShapes(condShape, aShape, 'whereRef'), bShape, 'whereRef');
  const [ic, ia, ib] = [sourceIndex(condShape, shape), sourceIndex(aShape, shape), sourceIndex(bShape, shape)];
  const [xa, xb] = [asStored(a, dtype), asStored(b, dtype)];
  const out = new Float64Array(ic.length);
  for (let i = 0; i < out.length; i++) out[i] = cond[ic[i]] !== 0 ? xa[ia[i]] : xb[ib[i]];
  return { data: store(out, dtype), shape };
}

/** torch masked_fill: x broadcast with mask, `value` where mask != 0 (i32 truncates value). */
export function maskedFillRef(
  x: ArrayLike<number>,
  xShape: Shape,
  mask: ArrayLike<number>,
  maskShape: Shape,
  value: number,
  dtype: DType = 'f32',
): ElementwiseRefResult {
  const shape = broadcastShapes(xShape, maskShape, 'maskedFillRef');
  const [ix, im] = [sourceIndex(xShape, shape), sourceIndex(maskShape, shape)];
  const xs = asStored(x, dtype);
  const v = dtype === 'i32' ? Math.trunc(value) : Math.fround(value);
  const out = new Float64Array(ix.length);
  for (let i = 0; i < out.length; i++) out[i] = mask[im[i]] !== 0 ? v : xs[ix[i]];
  return { data: store(out, dtype), shape };
}

/**
 * Float -> int32 as WGSL: truncate toward zero, then clamp to the i32 values an f32 can hold, so the top
 * is 2^31 - 128 (NaN -> 0 here; GPUs may differ).
 */
function toI32(v: number): number {
  if (Number.isNaN(v)) return 0;
  return Math.min(2 ** 31 - 128, Math.max(-(2 ** 31), Math.trunc(v)));
}

/** x (held as `from`) converted to `to`: f32/f16 results as Float32Array, i32 as Int32Array. */
export function castRef(x: ArrayLike<number>, from: DType, to: DType): Float32Array | Int32Array {
  const src = asStored(x, from);
  if (to === 'i32') return Int32Array.from(src, toI32);
  return store(Float32Array.from(src), to);
}

/** start + i * step for i < n, stored as `dtype` (floats: exact product of the f32 uniforms, rounded once). */
export function arangeRef(n: number, start: number, step: number, dtype: DType = 'f32'): Float32Array | Int32Array {
  const out = new Float64Array(n);
  const [s0, st] = dtype === 'i32' ? [start, step] : [Math.fround(start), Math.fround(step)];
  for (let i = 0; i < n; i++) out[i] = dtype === 'i32' ? (s0 + Math.imul(i, st)) | 0 : s0 + i * st;
  return store(out, dtype);
}

/** Constant tensor data: numel(shape) copies of value rounded into `dtype` (i32 truncates). */
export function fillRef(shape: Shape, value: number, dtype: DType = 'f32'): Float32Array | Int32Array {
  const v = dtype === 'i32' ? Math.trunc(value) : value;
  return store(new Array<number>(numel(shape)).fill(v), dtype);
}
