// Image resampling: separable per-axis passes of kernels/resample_axis.wgsl driven by host tap tables
// (resample/tables.ts). Tables are uploaded once per (method, in, out) and cached on the runtime.
import { Tensor } from '../tensor.js';
import type { Runtime } from '../runtime.js';
import { shapeStr, numel } from '../shape.js';
import { Uniforms, grid1d, expectDtype } from './util.js';
import { tapTable, type ResampleMethod } from '../resample/tables.js';

export type { ResampleMethod } from '../resample/tables.js';

interface GpuTable {
  taps: number;
  idx: Tensor;
  w: Tensor;
}

const tableCache = new WeakMap<Runtime, Map<string, GpuTable>>();

function gpuTable(rt: Runtime, method: ResampleMethod, inLen: number, outLen: number): GpuTable {
  let cache = tableCache.get(rt);
  if (!cache) tableCache.set(rt, (cache = new Map()));
  const key = `${method}:${inLen}:${outLen}`;
  let t = cache.get(key);
  if (!t) {
    const host = tapTable(method, inLen, outLen);
    // Cached for the runtime's lifetime: never owned by the caller's tidy() scope.
    const idx = Tensor.from(rt, host.idx, [host.idx.length], 'i32').keep();
    const w = Tensor.from(rt, host.w, [host.w.length], 'f32').keep();
    t = { taps: host.taps, idx, w };
    cache.set(key, t);
  }
  return t;
}

/** Resamples one axis of `x` to `outLen` with the given method. */
export function resampleAxis(x: Tensor, axis: number, outLen: number, method: ResampleMethod): Tensor {
  expectDtype('resampleAxis', x, ['f32', 'f16']);
  if (!(Number.isInteger(outLen) && outLen > 0)) throw new Error(`resampleAxis: output length ${outLen} must be a positive integer`);
  const inLen = x.shape[axis];
  if (inLen === undefined || inLen === 0) throw new Error(`resampleAxis: axis ${axis} invalid or empty for ${shapeStr(x.shape)}`);
  const rt = x.rt;
  const outShape = x.shape.map((d, i) => (i === axis ? outLen : d));
  const y = Tensor.empty(rt, outShape, x.dtype);
  const table = gpuTable(rt, method, inLen, outLen);
  const outer = numel(x.shape.slice(0, axis));
  const inner = numel(x.shape.slice(axis + 1));
  const total = outer * outLen * inner;
  rt.run({
    kernel: 'resample_axis',
    defines: { T: x.dtype },
    inputs: [x, table.idx, table.w],
    outputs: [y],
    uniforms: new Uniforms().u32(outer, inLen, outLen, inner, table.taps, total).build(),
    workgroups: grid1d(rt, total),
  });
  return y;
}

/**
 * Resizes the last two axes (NCHW or any [..., H, W]) to [outH, outW]. Methods follow upstream:
 * 'nearest' = F.interpolate nearest, 'bilinear'/'bicubic' = F.interpolate align_corners=False,
 * 'cubic_aa' = ResizeRight's antialiased cubic (DALLE2-pytorch CLIP adapter). H is resized first.
 */
export function resize2d(x: Tensor, size: readonly [number, number], method: ResampleMethod): Tensor {
  if (x.rank < 2) throw new Error(`resize2d: input must have rank >= 2, got ${shapeStr(x.shape)}`);
  const hAxis = x.rank - 2;
  const [outH, outW] = size;
  let y = x;
  if (x.shape[hAxis] !== outH) y = resampleAxis(y, hAxis, outH, method);
  if (x.shape[hAxis + 1] !== outW) {
    const prev = y;
    y = resampleAxis(prev, hAxis + 1, outW, method);
    if (prev !== x) prev.dispose();
  }
  if (y === x) y = x.reshape(x.shape); // same size: a view, so the caller always owns what it gets
  return y;
}

/** F.interpolate(x, size, mode='nearest'). */
export const interpolateNearest = (x: Tensor, size: readonly [number, number]) => resize2d(x, size, 'nearest');
