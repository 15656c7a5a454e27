// Host-side (float64) tap tables for 1-D resampling: for each output position, input indices and
// weights. One GPU kernel (kernels/resample_axis.wgsl) applies any of them, so each method's exact
// upstream index/weight rule lives here, in one place.

export type ResampleMethod = 'nearest' | 'bilinear' | 'bicubic' | 'cubic_aa';

export interface TapTable {
  taps: number;
  /** [outLen * taps] input index per tap; -1 = zero padding. */
  idx: Int32Array;
  /** [outLen * taps] weight per tap. */
  w: Float32Array;
}

/** PyTorch `F.interpolate(mode='nearest')` with an output size: src = min(floor(dst * in/out), in-1), in float32. */
export function nearestTable(inLen: number, outLen: number): TapTable {
  const scale = Math.fround(inLen / outLen);
  const idx = new Int32Array(outLen);
  for (let j = 0; j < outLen; j++) {
    idx[j] = outLen === 2 * inLen ? j >> 1 : Math.min(Math.floor(Math.fround(j * scale)), inLen - 1);
  }
  return { taps: 1, idx, w: new Float32Array(outLen).fill(1) };
}

/** PyTorch bilinear/linear, align_corners=False, no antialias: half-pixel centres, source clamped at 0. */
export function bilinearTable(inLen: number, outLen: number): TapTable {
  const scale = inLen / outLen;
  const idx = new Int32Array(outLen * 2);
  const w = new Float32Array(outLen * 2);
  for (let j = 0; j < outLen; j++) {
    const src = Math.max((j + 0.5) * scale - 0.5, 0);
    const i0 = Math.min(Math.floor(src), inLen - 1);
    const i1 = Math.min(i0 + 1, inLen - 1);
    const l = src - i0;
    idx.set([i0, i1], 2 * j);
    w.set([1 - l, l], 2 * j);
  }
  return { taps: 2, idx, w };
}

/** Keys cubic convolution kernel with parameter a (PyTorch bicubic: -0.75; ResizeRight: -0.5). */
export function cubicKernel(x: number, a: number): number {
  const t = Math.abs(x);
  if (t <= 1) return (a + 2) * t ** 3 - (a + 3) * t ** 2 + 1;
  if (t < 2) return a * t ** 3 - 5 * a * t ** 2 + 8 * a * t - 4 * a;
  return 0;
}

/** PyTorch bicubic, align_corners=False: 4 taps around floor(src), indices clamped to the border. */
export function bicubicTable(inLen: number, outLen: number): TapTable {
  const scale = inLen / outLen;
  const idx = new Int32Array(outLen * 4);
  const w = new Float32Array(outLen * 4);
  for (let j = 0; j < outLen; j++) {
    const src = (j + 0.5) * scale - 0.5;
    const i = Math.floor(src);
    const t = src - i;
    for (let k = 0; k < 4; k++) {
      idx[4 * j + k] = Math.min(Math.max(i - 1 + k, 0), inLen - 1);
      w[4 * j + k] = cubicKernel(t + 1 - k, -0.75);
    }
  }
  return { taps: 4, idx, w };
}

/**
 * ResizeRight `resize` defaults as DALLE2-pytorch's CLIP adapter calls it (scale_factors = out/in):
 * cubic kernel (a = -0.5, support 4), antialiasing when downscaling (kernel stretched by 1/scale),
 * weights normalised over the whole window, taps outside the input read constant zero padding.
 */
export function cubicAntialiasTable(inLen: number, outLen: number, scale = outLen / inLen): TapTable {
  const eps = 2 ** -23; // float32 eps, as ResizeRight uses for boundary ties
  const aa = scale < 1;
  const support = aa ? 4 / scale : 4;
  const kernel = (d: number) => (aa ? scale * cubicKernel(scale * d, -0.5) : cubicKernel(d, -0.5));
  const taps = Math.ceil(support - eps);
  const idx = new Int32Array(outLen * taps);
  const w = new Float32Array(outLen * taps);
  for (let j = 0; j < outLen; j++) {
    const grid = j / scale + (inLen - 1) / 2 - (outLen - 1) / (2 * scale);
    const left = Math.ceil(grid - support / 2 - eps);
    const ws = Array.from({ length: taps }, (_, t) => kernel(grid - (left + t)));
    const sum = ws.reduce((s, v) => s + v, 0) || 1;
    for (let t = 0; t < taps; t++) {
      const src = left + t;
      idx[j * taps + t] = src >= 0 && src < inLen ? src : -1;
      w[j * taps + t] = ws[t] / sum;
    }
  }
  return { taps, idx, w };
}

export function tapTable(method: ResampleMethod, inLen: number, outLen: number): TapTable {
  switch (method) {
    case 'nearest':
      return nearestTable(inLen, outLen);
    case 'bilinear':
      return bilinearTable(inLen, outLen);
    case 'bicubic':
      return bicubicTable(inLen, outLen);
    case 'cubic_aa':
      return cubicAntialiasTable(inLen, outLen);
  }
}
