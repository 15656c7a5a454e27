// vec4 views of tensors for the vectorised elementwise / normalisation kernels: a kernel that declares
// `array<vec4<T>>` needs a 16-byte aligned binding (8 for f16) whose size is a whole number of vectors.
// Pool buffers are sized in multiples of 16 bytes and tensor offsets meet the storage alignment, so a
// tensor's binding can be widened to whole vectors: a tail vector then reads (inputs) or writes (fresh
// outputs only) the padding after the tensor's last element, inside its own buffer.
import type { Binding, Runtime } from '../runtime.js';
import type { Tensor } from '../tensor.js';
import { bytesPerElement } from '../dtype.js';

/** Bytes of one 4-vector of the tensor's dtype. */
export const vec4Bytes = (t: Tensor): number => 4 * bytesPerElement(t.dtype);

/**
 * The tensor's binding widened to whole 4-vectors, or undefined when its offset is not vector-aligned
 * or the widened range would leave its buffer. Bind an output this way only when the tensor owns its
 * buffer (Tensor.empty): the tail vector's padding lanes are overwritten.
 */
export function vec4Binding(t: Tensor): Binding | undefined {
  const b = t.binding();
  const vb = vec4Bytes(t);
  const size = Math.max(vb, Math.ceil(b.size / vb) * vb);
  if (b.offset % 16 !== 0 || b.offset + size > b.buffer.size) return undefined;
  return { ...b, size };
}

/** How the vectorised elementwise kernels split work: WG invocations per workgroup (unary: 8 or 256), V vec4s each. */
export interface VecLayout {
  wg: number;
  v: number;
}

/**
 * Elementwise layout per adapter: on CPU drivers one 8-wide subgroup-sized workgroup walking 64 vectors
 * (1024 f32 elements: a few KB per workgroup); on GPUs 256 invocations with one vector each.
 */
export function elementwiseLayout(rt: Runtime): VecLayout {
  return rt.info.isSoftware ? { wg: 8, v: 64 } : { wg: 256, v: 1 };
}
