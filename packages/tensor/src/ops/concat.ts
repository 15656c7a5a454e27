// Concatenation: one strided copy per input into its sub-block of the output (a plain buffer copy when
// the block is contiguous), so any number of inputs works without hitting per-dispatch binding limits.
import { Tensor } from '../tensor.js';
import { normAxis, sameShape, shapeStr, stridesOf } from '../shape.js';
import { expectMaxRank, sameRuntime } from './util.js';
import { stridedCopyInto } from './permute.js';

/** Checks that every input matches inputs[0] except along `axis`; returns the output shape. */
function concatShape(op: string, ts: readonly Tensor[], axis: number): number[] {
  const first = ts[0];
  const out = [...first.shape];
  out[axis] = 0;
  ts.forEach((t, i) => {
    if (t.dtype !== first.dtype) {
      throw new Error(`${op}: input ${i} is ${t.dtype} ${shapeStr(t.shape)} but input 0 is ${first.dtype} ${shapeStr(first.shape)}`);
    }
    const mismatch = t.rank !== first.rank || t.shape.some((d, k) => k !== axis && d !== first.shape[k]);
    if (mismatch) {
      throw new Error(
        `${op}: input ${i} has shape ${shapeStr(t.shape)} but input 0 has ${shapeStr(first.shape)}; ` +
          `all dims except axis ${axis} must match`,
      );
    }
    out[axis] += t.shape[axis];
  });
  return out;
}

/** torch.cat: joins tensors of equal shape (except along `axis`, negative allowed) and dtype. */
export function concat(tensors: readonly Tensor[], axis = 0): Tensor {
  if (tensors.length === 0) throw new Error('concat: no inputs');
  const rt = sameRuntime('concat', ...tensors);
  const a = normAxis(axis, tensors[0].rank, 'concat');
  const shape = concatShape('concat', tensors, a);
  expectMaxRank('concat', shape);
  const out = Tensor.empty(rt, shape, tensors[0].dtype);
  const dstStrides = stridesOf(shape);
  let at = 0;
  for (const t of tensors) {
    stridedCopyInto(t, out, {
      shape: t.shape,
      srcStrides: stridesOf(t.shape),
      srcOffset: 0,
      dstStrides,
      dstOffset: at * dstStrides[a],
    });
    at += t.shape[a];
  }
  return out;
}

/** torch.stack: inserts a new axis at `axis` (in [-rank-1, rank]) and concatenates along it. */
export function stack(tensors: readonly Tensor[], axis = 0): Tensor {
  if (tensors.length === 0) throw new Error('stack: no inputs');
  const first = tensors[0];
  const a = normAxis(axis, first.rank + 1, 'stack');
  tensors.forEach((t, i) => {
    if (!sameShape(t.shape, first.shape)) {
      throw new Error(`stack: input ${i} has shape ${shapeStr(t.shape)} but input 0 has ${shapeStr(first.shape)}; all must match`);
    }
  });
  const views = tensors.map((t) => t.reshape([...t.shape.slice(0, a), 1, ...t.shape.slice(a)]));
  try {
    return concat(views, a);
  } finally {
    for (const v of views) v.dispose();
  }
}
