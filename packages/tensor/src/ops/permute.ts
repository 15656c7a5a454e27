// Layout copies on one generic strided-copy kernel (kernels/strided_copy.wgsl): permute, transpose, expand,
// contiguousCopy here; slice and concat reuse `stridedCopyInto`. Every result is a new dense tensor.
import { Tensor } from '../tensor.js';
import { bytesPerElement } from '../dtype.js';
import { broadcastStrides, normAxis, shapeStr, stridesOf, type Shape } from '../shape.js';
import { Uniforms, grid1d, MAX_RANK, expectMaxRank, sameRuntime } from './util.js';

/** One strided copy: for each coordinate c of `shape`, dst[dstOffset + c·dstStrides] = src[srcOffset + c·srcStrides]. */
export interface StridedCopySpec {
  /** Iteration shape. */
  shape: Shape;
  /** Element strides into `src` per iteration dim (0 broadcasts, negative reverses). */
  srcStrides: readonly number[];
  /** Element offset into `src`'s view. */
  srcOffset: number;
  /** Element strides into `dst` per iteration dim. */
  dstStrides: readonly number[];
  /** Element offset into `dst`'s view. */
  dstOffset: number;
}

/**
 * Merges adjacent dims that are contiguous in both src and dst and drops size-1 dims, so the kernel's
 * index loop runs over as few dims as possible (a plain copy becomes rank 1).
 */
function coalesce(spec: StridedCopySpec): { shape: number[]; src: number[]; dst: number[] } {
  const shape: number[] = [];
  const src: number[] = [];
  const dst: number[] = [];
  spec.shape.forEach((d, i) => {
    if (d === 1) return;
    const k = shape.length - 1;
    if (k >= 0 && src[k] === spec.srcStrides[i] * d && dst[k] === spec.dstStrides[i] * d) {
      shape[k] *= d;
      src[k] = spec.srcStrides[i];
      dst[k] = spec.dstStrides[i];
    } else {
      shape.push(d);
      src.push(spec.srcStrides[i]);
      dst.push(spec.dstStrides[i]);
    }
  });
  if (shape.length === 0) return { shape: [1], src: [0], dst: [0] };
  return { shape, src, dst };
}

let forcedRun: number | undefined;

/** Forces the run length of the strided-copy kernel (tests); undefined restores the per-adapter choice. */
export function stridedCopySetRun(e: number | undefined): void {
  if (e !== undefined && !(Number.isInteger(e) && e >= 1 && e <= 32)) throw new Error(`stridedCopySetRun: run length ${e} must be an integer in 1..32`);
  forcedRun = e;
}

/**
 * Copies elements of `src` into `dst` (same dtype) along arbitrary strides; the building block of the
 * layout ops. Uses a buffer copy when both sides are one contiguous, 4-byte aligned run.
 */
export function stridedCopyInto(src: Tensor, dst: Tensor, spec: StridedCopySpec): void {
  const rt = sameRuntime('stridedCopyInto', src, dst);
  if (src.dtype !== dst.dtype) throw new Error(`stridedCopyInto: dtype mismatch ${src.dtype} -> ${dst.dtype}`);
  expectMaxRank('stridedCopyInto', spec.shape);
  const n = spec.shape.reduce((p, d) => p * d, 1);
  if (n === 0) return;
  const c = coalesce(spec);
  const bpe = bytesPerElement(src.dtype);
  const sb = src.binding();
  const db = dst.binding();
  if (c.shape.length === 1 && c.src[0] === 1 && c.dst[0] === 1) {
    const s = sb.offset + spec.srcOffset * bpe;
    const d = db.offset + spec.dstOffset * bpe;
    const bytes = n * bpe;
    if (s % 4 === 0 && d % 4 === 0 && bytes % 4 === 0) {
      rt.copy({ ...sb, offset: s }, { ...db, offset: d }, bytes);
      return;
    }
  }
  const wrap = (v: readonly number[]) => v.map((x) => x >>> 0); // two's complement for negative strides
  // Runs of E innermost elements per invocation on CPU drivers (one coordinate decode per run).
  const e = forcedRun ?? (rt.info.isSoftware ? 8 : 1);
  const inner = c.shape[c.shape.length - 1];
  const runsPerRow = Math.ceil(inner / e);
  const runs = (n / inner) * runsPerRow;
  rt.run({
    kernel: 'strided_copy',
    defines: { T: src.dtype, RANK: c.shape.length, E: e },
    inputs: [src],
    outputs: [dst],
    uniforms: new Uniforms()
      .u32(runs, runsPerRow, spec.srcOffset >>> 0, spec.dstOffset >>> 0)
      .u32Array(c.shape, MAX_RANK)
      .u32Array(wrap(c.src), MAX_RANK)
      .u32Array(wrap(c.dst), MAX_RANK)
      .build(),
    workgroups: grid1d(rt, runs),
  });
}

/** New dense tensor with the elements of `src` read along `srcStrides` from `srcOffset`, in `shape` order. */
export function stridedCopy(src: Tensor, shape: Shape, srcStrides: readonly number[], srcOffset = 0): Tensor {
  const out = Tensor.empty(src.rt, shape, src.dtype);
  stridedCopyInto(src, out, { shape, srcStrides, srcOffset, dstStrides: stridesOf(shape), dstOffset: 0 });
  return out;
}

/** A fresh copy of `x` (same shape and dtype, its own buffer). */
export function contiguousCopy(x: Tensor): Tensor {
  return stridedCopy(x, x.shape, stridesOf(x.shape));
}

/** Resolves a permutation (negative dims allowed), throwing when it is not one for `shape`. */
function resolvePerm(op: string, shape: Shape, dims: readonly number[]): number[] {
  const rank = shape.length;
  const bad = () => new Error(`${op}: dims [${dims.join(', ')}] is not a permutation of 0..${rank - 1} for input ${shapeStr(shape)}`);
  if (dims.length !== rank) throw bad();
  const perm = dims.map((d) => (Number.isInteger(d) && d >= -rank && d < rank ? (d + rank) % rank : -1));
  if (perm.includes(-1) || new Set(perm).size !== rank) throw bad();
  return perm;
}

/** torch.permute: output dim i is input dim dims[i]; materialised. */
export function permute(x: Tensor, dims: readonly number[]): Tensor {
  expectMaxRank('permute', x.shape);
  const perm = resolvePerm('permute', x.shape, dims);
  const st = stridesOf(x.shape);
  return stridedCopy(x, perm.map((d) => x.shape[d]), perm.map((d) => st[d]));
}

/** torch.transpose: swaps dims d0 and d1 (negative allowed); materialised. */
export function transpose(x: Tensor, d0: number, d1: number): Tensor {
  const a = normAxis(d0, x.rank, 'transpose');
  const b = normAxis(d1, x.rank, 'transpose');
  const perm = x.shape.map((_, i) => (i === a ? b : i === b ? a : i));
  return permute(x, perm);
}

/** Output shape of torch.expand: -1 keeps a dim, new dims go in front, only size-1 dims grow. */
export function expandShape(from: Shape, to: Shape, op = 'expand'): number[] {
  const pad = to.length - from.length;
  const bad = (why: string) => new Error(`${op}: can't expand ${shapeStr(from)} to ${shapeStr(to)}: ${why}`);
  if (pad < 0) throw bad(`target rank ${to.length} < input rank ${from.length}`);
  return to.map((d, i) => {
    const src = i < pad ? undefined : from[i - pad];
    if (d === -1) {
      if (src === undefined) throw bad(`-1 at new leading dim ${i}`);
      return src;
    }
    if (!Number.isInteger(d) || d < 0) throw bad(`invalid size ${d} at dim ${i}`);
    if (src !== undefined && src !== d && src !== 1) throw bad(`dim ${i}: ${src} is neither ${d} nor 1`);
    return d;
  });
}

/** torch.expand (materialised): broadcasts size-1 / missing leading dims to `shape` (-1 keeps a dim). */
export function expand(x: Tensor, shape: Shape): Tensor {
  const out = expandShape(x.shape, shape);
  expectMaxRank('expand', out);
  return stridedCopy(x, out, broadcastStrides(x.shape, out));
}

/** Alias of `expand` with NumPy's name. */
export const broadcastTo = expand;
