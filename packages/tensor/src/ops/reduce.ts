// Reductions over one axis (sum, mean, max, argmax) on kernels/reduce.wgsl and argmax.wgsl.
// The input is viewed as [outer, len, inner] around the axis; a workgroup of 256 threads covers TX
// outputs with TY lanes along the axis (see reduceTile). Long axes with few outputs are split into
// chunks reduced in two passes so the whole GPU takes part. Accumulation is f32 for every dtype.
import { Tensor } from '../tensor.js';
import type { Runtime } from '../runtime.js';
import type { DType } from '../dtype.js';
import { normAxis, shapeStr, type Shape } from '../shape.js';
import { Uniforms, grid1d, expectDtype } from './util.js';

/** A shape seen as [outer, len, inner] around one (normalised) axis. */
export interface AxisView {
  axis: number;
  outer: number;
  len: number;
  inner: number;
}

/** Splits `shape` at `axis` (negative counts from the end; a rank-0 shape acts as [1]). */
export function reduceAxisView(shape: Shape, axis: number, op: string): AxisView {
  const a = normAxis(axis, shape.length, op);
  const prod = (ds: readonly number[]) => ds.reduce((p, d) => p * d, 1);
  return { axis: a, outer: prod(shape.slice(0, a)), len: shape[a] ?? 1, inner: prod(shape.slice(a + 1)) };
}

/** Output shape of a reduction over `axis`: the axis removed, or kept as 1. */
export function reducedShape(shape: Shape, axis: number, keepDim: boolean): number[] {
  if (shape.length === 0) return [];
  return keepDim ? shape.map((d, i) => (i === axis ? 1 : d)) : shape.filter((_, i) => i !== axis);
}

/** Workgroup tile of 256 threads: `tx` outputs side by side times `ty` lanes along the axis. */
export interface ReduceTile {
  tx: number;
  ty: number;
}

const pow2floor = (n: number) => 2 ** Math.floor(Math.log2(Math.max(1, n)));

/**
 * Lanes along the axis: about len/4 (a few elements per lane), at most 256. When the axis is not the
 * last one, keep >= 32 (or >= inner) outputs side by side so neighbouring threads read neighbouring
 * addresses (coalesced loads).
 */
export function reduceTile(len: number, inner: number): ReduceTile {
  let ty = Math.min(256, pow2floor(Math.floor(len / 4)));
  if (inner >= 32) ty = Math.min(ty, 8);
  else if (inner > 1) ty = Math.min(ty, 256 / 2 ** Math.ceil(Math.log2(inner)));
  return { tx: 256 / ty, ty };
}

/** Enough workgroups to fill a large GPU (H100: 132 SMs x several resident groups). */
const TARGET_GROUPS = 512;
/** Elements per lane below which splitting the axis further is not worth a second pass. */
const MIN_PER_LANE = 32;

/** Number of axis chunks for the two-pass path; 1 means a single pass. */
function axisChunks(blocks: number, len: number, ty: number): number {
  if (blocks * 2 >= TARGET_GROUPS) return 1;
  const c = Math.min(Math.floor(len / (ty * MIN_PER_LANE)), Math.ceil(TARGET_GROUPS / blocks));
  return c >= 2 ? c : 1;
}

interface ReducePass {
  op: 'sum' | 'max';
  x: Tensor;
  y: Tensor;
  view: Omit<AxisView, 'axis'>;
  chunk: number;
  nchunk: number;
  div: number;
  /** Input / output are raw vec2f states of a split reduction rather than scalars. */
  stateIn: boolean;
  stateOut: boolean;
}

function packParams(v: Omit<AxisView, 'axis'>, tile: ReduceTile, chunk: number, nchunk: number, div: number) {
  const nout = v.outer * v.inner;
  const nblk = Math.ceil(nout / tile.tx);
  const groups = nblk * nchunk;
  const uniforms = new Uniforms().u32(v.outer, v.len, v.inner, nout, nblk, groups, chunk, nchunk).f32(div, 1).build();
  return { uniforms, groups };
}

function dispatchReduce(rt: Runtime, s: ReducePass): void {
  const tile = reduceTile(s.chunk, s.view.inner);
  const { uniforms, groups } = packParams(s.view, tile, s.chunk, s.nchunk, s.div);
  rt.run({
    kernel: 'reduce',
    defines: {
      OP: s.op,
      T: s.stateIn ? 'vec2f' : s.x.dtype,
      U: s.stateOut ? 'vec2f' : s.y.dtype,
      LOAD: s.stateIn ? 'x[i]' : `one_${s.op}(f32(x[i]))`,
      STORE: s.stateOut ? 'r' : `${s.y.dtype}(final_${s.op}(r) / p.div)`,
      TX: tile.tx,
      TY: tile.ty,
    },
    inputs: [s.x],
    outputs: [s.y],
    uniforms,
    workgroups: grid1d(rt, groups, 1),
  });
}

function reduceFloat(name: string, kind: 'sum' | 'mean' | 'max', x: Tensor, axis: number, keepDim: boolean): Tensor {
  expectDtype(name, x, ['f32', 'f16']);
  const v = reduceAxisView(x.shape, axis, name);
  const rt = x.rt;
  const nout = v.outer * v.inner;
  if (kind === 'max' && v.len === 0 && nout > 0) {
    throw new Error(`${name}: can't take the max over empty axis ${axis} of ${shapeStr(x.shape)}`);
  }
  const y = Tensor.empty(rt, reducedShape(x.shape, v.axis, keepDim), x.dtype);
  if (nout === 0) return y;
  const op = kind === 'max' ? 'max' : 'sum';
  const div = kind === 'mean' ? v.len : 1;
  const tile = reduceTile(v.len, v.inner);
  const nchunk = axisChunks(Math.ceil(nout / tile.tx), v.len, tile.ty);
  if (nchunk === 1) {
    dispatchReduce(rt, { op, x, y, view: v, chunk: v.len, nchunk: 1, div, stateIn: false, stateOut: false });
    return y;
  }
  const chunk = Math.ceil(v.len / nchunk);
  const parts = Math.ceil(v.len / chunk);
  // vec2f partial states: 2 f32 words per (outer, chunk, inner).
  const partial = Tensor.empty(rt, [v.outer, parts, v.inner, 2], 'f32');
  dispatchReduce(rt, { op, x, y: partial, view: v, chunk, nchunk: parts, div: 1, stateIn: false, stateOut: true });
  const view2 = { outer: v.outer, len: parts, inner: v.inner };
  dispatchReduce(rt, { op, x: partial, y, view: view2, chunk: parts, nchunk: 1, div, stateIn: true, stateOut: false });
  partial.dispose();
  return y;
}

/** Sum over `axis` (f32/f16; f32 accumulation with TwoSum compensation). */
export function sum(x: Tensor, axis: number, keepDim = false): Tensor {
  return reduceFloat('sum', 'sum', x, axis, keepDim);
}

/** Mean over `axis` (f32/f16); an empty axis gives NaN, as torch. */
export function mean(x: Tensor, axis: number, keepDim = false): Tensor {
  return reduceFloat('mean', 'mean', x, axis, keepDim);
}

/** Maximum over `axis` (f32/f16), torch `amax`. NaN handling is unspecified (GPU `max`). */
export function maxAxis(x: Tensor, axis: number, keepDim = false): Tensor {
  return reduceFloat('maxAxis', 'max', x, axis, keepDim);
}

/** Sum of all elements as a 0-d tensor. */
export function sumAll(x: Tensor): Tensor {
  return flatReduce(x, sum);
}

/** Mean of all elements as a 0-d tensor. */
export function meanAll(x: Tensor): Tensor {
  return flatReduce(x, mean);
}

/** Maximum of all elements as a 0-d tensor. */
export function maxAll(x: Tensor): Tensor {
  return flatReduce(x, maxAxis);
}

function flatReduce(x: Tensor, f: (x: Tensor, axis: number) => Tensor): Tensor {
  const flat = x.reshape([x.size]);
  try {
    return f(flat, 0); // reducing the only axis leaves shape []
  } finally {
    flat.dispose();
  }
}

const ARGMAX_VALUE: Record<DType, string> = { f32: 'f32', f16: 'f32', i32: 'i32' };

/** Index (i32) of the maximum along `axis`; the first one on ties, as torch. f32/f16/i32 inputs. */
export function argmax(x: Tensor, axis: number, keepDim = false): Tensor {
  expectDtype('argmax', x, ['f32', 'f16', 'i32']);
  const v = reduceAxisView(x.shape, axis, 'argmax');
  const rt = x.rt;
  const nout = v.outer * v.inner;
  if (v.len === 0 && nout > 0) throw new Error(`argmax: can't take the argmax over empty axis ${axis} of ${shapeStr(x.shape)}`);
  const y = Tensor.empty(rt, reducedShape(x.shape, v.axis, keepDim), 'i32');
  if (nout === 0) return y;
  const tile = reduceTile(v.len, v.inner);
  const { uniforms, groups } = packParams(v, tile, v.len, 1, 1);
  rt.run({
    kernel: 'argmax',
    defines: { T: x.dtype, A: ARGMAX_VALUE[x.dtype], TX: tile.tx, TY: tile.ty },
    inputs: [x],
    outputs: [y],
    uniforms,
    workgroups: grid1d(rt, groups, 1),
  });
  return y;
}
