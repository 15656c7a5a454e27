// torch.nn.functional.pad: constant, replicate and reflect modes over any dims (kernels/pad.wgsl).
// Pads are listed last dim first: [left, right, top, bottom, front, back, ...]; negative pads crop.
import { Tensor } from '../tensor.js';
import { shapeStr } from '../shape.js';
import { Uniforms, grid1d, MAX_RANK, expectMaxRank } from './util.js';

/** How values outside the input are filled: a constant, the nearest edge value, or the mirror image (edge not repeated). */
export type PadMode = 'constant' | 'replicate' | 'reflect';

export interface PadOptions {
  /** Fill value of constant mode (default 0); must be an integer for i32 tensors. */
  value?: number;
  mode?: PadMode;
}

const MODE_ID: Record<PadMode, number> = { constant: 0, replicate: 1, reflect: 2 };

/** Per-dim padding before the data, and the output shape; validates the pad list for `mode`. */
export function padPlan(shape: readonly number[], pads: readonly number[], mode: PadMode = 'constant'): { before: number[]; out: number[] } {
  const where = `pad: input ${shapeStr(shape)} pads [${pads.join(', ')}]`;
  if (pads.length % 2 !== 0 || pads.length > 2 * shape.length) {
    throw new Error(`${where}: need an even number of pads, at most 2 x rank ${shape.length}`);
  }
  if (pads.some((p) => !Number.isInteger(p))) throw new Error(`${where}: pads must be integers`);
  const before = shape.map(() => 0);
  const out = [...shape];
  for (let j = 0; j < pads.length / 2; j++) {
    const d = shape.length - 1 - j;
    const [lo, hi] = [pads[2 * j], pads[2 * j + 1]];
    before[d] = lo;
    out[d] = shape[d] + lo + hi;
    if (out[d] < 0) throw new Error(`${where}: dim ${d} (size ${shape[d]}) cropped below zero`);
    const grows = lo > 0 || hi > 0;
    if (mode !== 'constant' && grows && shape[d] === 0) throw new Error(`${where}: ${mode} mode can't pad empty dim ${d}`);
    if (mode === 'reflect' && (lo >= shape[d] || hi >= shape[d])) {
      throw new Error(`${where}: reflect pads must be < the dim size ${shape[d]} (dim ${d})`);
    }
  }
  return { before, out };
}

/** Pad value as the 32 raw bits the kernel bitcasts: i32 for i32 tensors, else f32. */
function valueBits(value: number, dtype: Tensor['dtype']): number {
  if (dtype === 'i32') {
    if (!Number.isInteger(value) || value < -(2 ** 31) || value >= 2 ** 31) throw new Error(`pad: value ${value} is not an i32`);
    return value >>> 0;
  }
  const dv = new DataView(new ArrayBuffer(4));
  dv.setFloat32(0, value, true);
  return dv.getUint32(0, true);
}

const VALUE_EXPR: Record<Tensor['dtype'], string> = {
  f32: 'bitcast<f32>(p.value)',
  f16: 'f16(bitcast<f32>(p.value))',
  i32: 'bitcast<i32>(p.value)',
};

/** F.pad(x, pads, mode, value): pads last dim first ([left, right, top, bottom, ...]); negative pads crop. */
export function pad(x: Tensor, pads: readonly number[], opts: number | PadOptions = 0): Tensor {
  const { value = 0, mode = 'constant' } = typeof opts === 'number' ? { value: opts } : opts;
  if (!(mode in MODE_ID)) throw new Error(`pad: unknown mode ${String(mode)}`);
  expectMaxRank('pad', x.shape);
  const { before, out } = padPlan(x.shape, pads, mode);
  const rt = x.rt;
  const y = Tensor.empty(rt, out, x.dtype);
  if (y.size === 0) return y;
  rt.run({
    kernel: 'pad',
    defines: { T: x.dtype, MODE: MODE_ID[mode], VALUE: VALUE_EXPR[x.dtype] },
    inputs: [x],
    outputs: [y],
    uniforms: new Uniforms()
      .u32(y.size, x.rank, valueBits(value, x.dtype), 0)
      .u32Array(out, MAX_RANK)
      .u32Array(x.shape, MAX_RANK)
      .u32Array(before.map((b) => b >>> 0), MAX_RANK)
      .build(),
    workgroups: grid1d(rt, y.size),
  });
  return y;
}
