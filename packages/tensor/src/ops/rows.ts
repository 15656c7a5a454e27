// Row-wise helpers the DALLE2 models share, composed from the kernels (no WGSL of their own): L2
// normalisation, repeating rows and the "any nonzero" mask. Rows are the last dim.
import { Tensor, tidy } from '../tensor.js';
import { abs, clamp, sqrt } from './unary.js';
import { div, maximumScalar, mul, mulScalar } from './binary.js';
import { maxAxis, sum } from './reduce.js';
import { cast } from './cast.js';
import { expand } from './permute.js';

/** F.normalize(x, dim=-1): x / max(||x||_2, 1e-12). */
export function l2normRows(x: Tensor): Tensor {
  return tidy(x.rt, () => div(x, maximumScalar(sqrt(sum(mul(x, x), -1, true)), 1e-12)));
}

/** einops repeat 'b ... -> (b r) ...': each leading row r times in a row (a materialised copy; r = 1 returns x). */
export function repeatRows(x: Tensor, r: number): Tensor {
  if (!Number.isInteger(r) || r < 1) throw new Error(`repeatRows: r ${r} must be a positive integer`);
  if (r === 1) return x;
  const [b, ...rest] = x.shape;
  return tidy(x.rt, () => expand(x.reshape([b, 1, ...rest]), [b, r, ...rest]).reshape([b * r, ...rest]));
}

/** Largest |value| at or below this counts as zero (f32 subnormals flush to zero on GPUs). */
const NONZERO_SCALE = 2 ** 126;

/**
 * torch `x.any(dim=-1, keepdim=True)` for floats (x != 0 anywhere in the row) as i32 0/1 [..., 1]: the row's
 * max |x| scaled so every normal float reaches >= 1, clamped to [0, 1] and truncated. Subnormals count as zero.
 */
export function nonzeroRows(x: Tensor): Tensor {
  return tidy(x.rt, () => {
    const m = maxAxis(abs(x), -1, true);
    return cast(clamp(mulScalar(m.dtype === 'f32' ? m : cast(m, 'f32'), NONZERO_SCALE), 0, 1), 'i32');
  });
}
