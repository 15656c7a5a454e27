// Classifier-free guidance over a batched denoiser, as DALLE2-pytorch 1.1.0's forward_with_cond_scale:
// the conditional and the null (conditioning dropped) rows run as one doubled batch, then
// null + (cond - null) * cond_scale. A network whose guidance is a no-op (the 1.1.0 prior) states it
// and its pipeline skips this.
import { Tensor, add, concat, mulScalar, sliceAxis, sub, tidy, type Runtime } from '@dalle2/tensor';

/**
 * A denoiser over a batch whose rows keep (false) or drop (true) their conditioning, one flag per row
 * (upstream's per-row cond-drop masks with drop probability 0 or 1).
 */
export type RowDropDenoiser<I> = (inputs: I, dropCond: readonly boolean[]) => Tensor;

export interface GuidanceArgs<I extends object> {
  rt: Runtime;
  /** Rows B of `inputs`. */
  batch: number;
  condScale: number;
  /** Per-batch inputs: tensors (row-major on axis 0) and per-row arrays get doubled, anything else is passed on. */
  inputs: I;
  denoise: RowDropDenoiser<I>;
}

/** Each tensor concatenated with itself along axis 0, each per-row array repeated; other values as they are. */
export function doubleBatch<I extends object>(inputs: I): I {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(inputs)) {
    if (v instanceof Tensor) out[k] = concat([v, v], 0);
    else if (Array.isArray(v) || v instanceof Int32Array) out[k] = [...(v as Iterable<unknown>), ...(v as Iterable<unknown>)];
    else out[k] = v;
  }
  return out as I;
}

/** forward_with_cond_scale: a plain conditional pass when condScale is 1, else the guided doubled batch. */
export function classifierFreeGuidance<I extends object>(a: GuidanceArgs<I>): Tensor {
  const B = a.batch;
  if (!Number.isFinite(a.condScale)) throw new Error(`classifierFreeGuidance: cond_scale ${a.condScale} must be a finite number`);
  if (a.condScale === 1) return a.denoise(a.inputs, Array<boolean>(B).fill(false));
  return tidy(a.rt, () => {
    const out = a.denoise(doubleBatch(a.inputs), [...Array<boolean>(B).fill(false), ...Array<boolean>(B).fill(true)]);
    const cond = sliceAxis(out, 0, 0, B);
    const nul = sliceAxis(out, 0, B, 2 * B);
    return add(nul, mulScalar(sub(cond, nul), a.condScale));
  });
}
