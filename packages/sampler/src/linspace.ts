// torch.linspace as its CPU kernel computes it (aten/src/ATen/native/cpu/RangeFactoriesKernel.cpp,
// torch 1.13), so schedules and DDIM timesteps built from it round exactly like upstream.
//
// The kernel computes step = (end - start) / (steps - 1) in the tensor dtype, then element i as
// start + step * i for the first half (i < steps / 2) and end - step * (steps - 1 - i) for the rest.
// Contiguous outputs go through the vectorised loop: pairs of SIMD vectors of `vectorWidth` lanes,
// each vector filled as base + k * step from its first element's base (so elements inside a vector
// round differently from the scalar formula), then a scalar tail for what is left (< 2 vectors).

/** Numeric type torch computes the linspace in. */
export type LinspaceDType = 'f32' | 'f64';

export interface LinspaceOptions {
  /** Tensor dtype (default f32, torch's default dtype). */
  dtype?: LinspaceDType;
  /**
   * SIMD lanes of torch's Vectorized<T> on the machine emulated; 0 or 1 = scalar formula only.
   * Default: 8 for f32 and 4 for f64 (32-byte vectors: torch's DEFAULT, AVX2 and NEON builds; an
   * AVX-512 build uses 16 / 8).
   */
  vectorWidth?: number;
}

const identity = (x: number): number => x;

/** torch.linspace(start, end, steps, dtype) reproduced bit for bit (values returned as doubles). */
export function torchLinspace(start: number, end: number, steps: number, opts: LinspaceOptions = {}): Float64Array {
  if (!Number.isInteger(steps) || steps < 0) throw new Error(`torchLinspace: steps ${steps} must be a non-negative integer`);
  const dtype = opts.dtype ?? 'f32';
  const r = dtype === 'f32' ? Math.fround : identity;
  const width = opts.vectorWidth ?? (dtype === 'f32' ? 8 : 4);
  const out = new Float64Array(steps);
  if (steps === 0) return out;
  const s = r(start);
  const e = r(end);
  if (steps === 1) {
    out[0] = s;
    return out;
  }
  const step = r(r(e - s) / (steps - 1));
  const half = Math.floor(steps / 2);
  const at = (i: number): number => (i < half ? r(s + r(step * i)) : r(e - r(step * (steps - 1 - i))));
  const fillVector = (i0: number): void => {
    const base = at(i0);
    for (let k = 0; k < width; k++) out[i0 + k] = r(base + r(k * step));
  };
  let i = 0;
  // Vectorised loop: two vectors per iteration while both fit, then the scalar tail.
  if (width > 1) {
    for (; i + 2 * width <= steps; i += 2 * width) {
      fillVector(i);
      fillVector(i + width);
    }
  }
  for (; i < steps; i++) out[i] = at(i);
  return out;
}
