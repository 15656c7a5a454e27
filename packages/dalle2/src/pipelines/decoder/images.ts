// The decoder's image handling: normalize_img / unnormalize_img (auto_normalize_img) and upstream's
// resize_image_to (nearest) with its clamp.
import { addScalar, clamp, interpolateNearest, mulScalar, tidy, type Tensor } from '@dalle2/tensor';

/** normalize_img: the image range ([0, 1]) -> the unets' [-1, 1] (identity without auto_normalize_img); a new tensor. */
export function normalizeImage(x: Tensor, autoNormalize: boolean): Tensor {
  return autoNormalize ? tidy(x.rt, () => addScalar(mulScalar(x, 2), -1)) : x.reshape(x.shape);
}

/** unnormalize_img: [-1, 1] -> the image range ([0, 1]); a new tensor. */
export function unnormalizeImage(x: Tensor, autoNormalize: boolean): Tensor {
  return autoNormalize ? tidy(x.rt, () => mulScalar(addScalar(x, 1), 0.5)) : x.reshape(x.shape);
}

/**
 * Upstream resize_image_to(image, size, clamp_range, nearest=True): unchanged (and unclamped) when the
 * last axis already has `size`, else F.interpolate(nearest) to size x size, then clamp.
 */
export function resizeImageTo(x: Tensor, size: number, clampRange?: readonly [number, number]): Tensor {
  if (x.shape[x.rank - 1] === size) return x.reshape(x.shape);
  const y = interpolateNearest(x, [size, size]);
  if (!clampRange) return y;
  const z = clamp(y, clampRange[0], clampRange[1]);
  y.dispose();
  return z;
}
