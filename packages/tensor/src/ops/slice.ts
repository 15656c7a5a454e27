// Python-style slicing (start:end:step per axis, negative indices count from the end, negative steps
// reverse) materialised by the strided-copy kernel; plus narrow, split and chunk.
// Unlike Python, an explicit index outside [-dim, dim] is an error rather than silently clamped
// (it is almost always a bug here); pass null/undefined for "from the start" / "to the end".
import type { Tensor } from '../tensor.js';
import { normAxis, shapeStr, stridesOf } from '../shape.js';
import { expectMaxRank } from './util.js';
import { stridedCopy } from './permute.js';

/** A slice bound: an index in [-dim, dim], or null/undefined for the default end in the step's direction. */
export type SliceIndex = number | null | undefined;

/** Resolved slice of one axis: first index, element count, step. */
export interface AxisSlice {
  start: number;
  length: number;
  step: number;
}

/** Resolves start:end:step against an axis of size `dim` exactly as Python's slice.indices (after a range check). */
export function resolveSlice(dim: number, start: SliceIndex, end: SliceIndex, step = 1, where = 'slice'): AxisSlice {
  if (!Number.isInteger(step) || step === 0) throw new Error(`${where}: step ${step} must be a nonzero integer`);
  const norm = (v: SliceIndex, name: string, dflt: number): number => {
    if (v === null || v === undefined) return dflt;
    if (!Number.isInteger(v) || v < -dim || v > dim) {
      throw new Error(`${where}: ${name} ${v} out of range for dim ${dim} (must lie in [${-dim}, ${dim}])`);
    }
    const a = v < 0 ? v + dim : v;
    return step < 0 ? Math.min(a, dim - 1) : a;
  };
  const s = norm(start, 'start', step > 0 ? 0 : dim - 1);
  const e = norm(end, 'end', step > 0 ? dim : -1);
  const length = step > 0 ? (s < e ? Math.floor((e - s - 1) / step) + 1 : 0) : s > e ? Math.floor((s - e - 1) / -step) + 1 : 0;
  return { start: s, length, step };
}

/** Copies the per-axis slices (leading axes; missing trailing axes are taken whole) into a new tensor. */
function sliceResolved(x: Tensor, axes: readonly AxisSlice[]): Tensor {
  expectMaxRank('slice', x.shape);
  const st = stridesOf(x.shape);
  const shape = x.shape.map((d, i) => axes[i]?.length ?? d);
  const strides = st.map((s, i) => s * (axes[i]?.step ?? 1));
  const empty = shape.includes(0);
  const offset = empty ? 0 : axes.reduce((p, a, i) => p + a.start * st[i], 0);
  return stridedCopy(x, shape, strides, offset);
}

/**
 * x[starts[0]:ends[0]:steps[0], starts[1]:ends[1]:steps[1], ...] with Python semantics; the arrays may
 * be shorter than the rank (remaining axes are kept whole).
 */
export function slice(x: Tensor, starts: readonly SliceIndex[], ends: readonly SliceIndex[], steps?: readonly number[]): Tensor {
  const n = starts.length;
  if (ends.length !== n || (steps && steps.length !== n) || n > x.rank) {
    throw new Error(
      `slice: input ${shapeStr(x.shape)}: starts (${n}), ends (${ends.length})${steps ? `, steps (${steps.length})` : ''} ` +
        `must have equal lengths <= rank ${x.rank}`,
    );
  }
  const axes = starts.map((s, i) => resolveSlice(x.shape[i], s, ends[i], steps?.[i] ?? 1, `slice: input ${shapeStr(x.shape)} axis ${i}`));
  return sliceResolved(x, axes);
}

/** x[..., start:end:step, ...] on one axis (negative axis allowed). */
export function sliceAxis(x: Tensor, axis: number, start: SliceIndex, end?: SliceIndex, step = 1): Tensor {
  const a = normAxis(axis, x.rank, 'sliceAxis');
  const axes: AxisSlice[] = x.shape.slice(0, a).map((d) => ({ start: 0, length: d, step: 1 }));
  axes.push(resolveSlice(x.shape[a], start, end, step, `sliceAxis: input ${shapeStr(x.shape)} axis ${axis}`));
  return sliceResolved(x, axes);
}

/** torch.narrow: `length` elements of `axis` from `start` (negative start counts from the end). */
export function narrow(x: Tensor, axis: number, start: number, length: number): Tensor {
  const a = normAxis(axis, x.rank, 'narrow');
  const dim = x.shape[a];
  const s = start < 0 ? start + dim : start;
  if (!Number.isInteger(s) || !Number.isInteger(length) || s < 0 || length < 0 || s + length > dim) {
    throw new Error(`narrow: input ${shapeStr(x.shape)} axis ${axis}: [${start}, +${length}) out of range for dim ${dim}`);
  }
  return sliceAxis(x, a, s, s + length);
}

/**
 * torch.split: `sizes` is either the size of every chunk (the last may be smaller) or the list of
 * chunk sizes, which must sum to the axis length.
 */
export function split(x: Tensor, sizes: number | readonly number[], axis = 0): Tensor[] {
  const a = normAxis(axis, x.rank, 'split');
  const dim = x.shape[a];
  let parts: number[];
  if (typeof sizes === 'number') {
    if (!Number.isInteger(sizes) || sizes <= 0) throw new Error(`split: chunk size ${sizes} must be a positive integer`);
    parts = [];
    for (let s = 0; s < dim; s += sizes) parts.push(Math.min(sizes, dim - s));
    if (dim === 0) parts.push(0);
  } else {
    const total = sizes.reduce((p, d) => p + d, 0);
    if (sizes.some((d) => !Number.isInteger(d) || d < 0) || total !== dim) {
      throw new Error(`split: sizes [${sizes.join(', ')}] (sum ${total}) don't partition axis ${axis} of ${shapeStr(x.shape)} (size ${dim})`);
    }
    parts = [...sizes];
  }
  let at = 0;
  return parts.map((len) => {
    const t = sliceAxis(x, a, at, at + len);
    at += len;
    return t;
  });
}

/** torch.chunk: splits into `chunks` pieces of ceil(dim / chunks) (fewer pieces when that covers the axis). */
export function chunk(x: Tensor, chunks: number, axis = 0): Tensor[] {
  if (!Number.isInteger(chunks) || chunks <= 0) throw new Error(`chunk: chunks ${chunks} must be a positive integer`);
  const dim = x.shape[normAxis(axis, x.rank, 'chunk')];
  return split(x, Math.max(1, Math.ceil(dim / chunks)), axis);
}
