// Per-sample schedule coefficients (upstream `extract`) and their application to batched tensors.
// Coefficients are float32 values computed on the host exactly as torch's float32 scalar tensor math
// rounds them; a coefficient shared by the whole batch becomes a scalar uniform, otherwise a [b, 1, ...]
// tensor broadcast over the sample, as `extract` reshapes it.
import { Tensor, mul, div, mulScalar, divScalar } from '@dalle2/tensor';
import type { NoiseSchedule, ScheduleBufferName } from './schedules.js';

/** Timesteps: one for the whole batch, or one per batch row (upstream's `t` tensor of shape [b]). */
export type Timesteps = number | readonly number[];

/** Per-timestep float32 values, one per batch row. */
export type RowCoef = Float32Array;

/** Timestep of each of `batch` rows; checks count and range against the schedule. */
export function rowTimesteps(sched: NoiseSchedule, t: Timesteps, batch: number, what: string): number[] {
  const ts = typeof t === 'number' ? new Array<number>(batch).fill(t) : [...t];
  if (ts.length !== batch) throw new Error(`${what}: ${ts.length} timesteps for a batch of ${batch}`);
  for (const v of ts) sched.checkTimestep(v, what);
  return ts;
}

/** Upstream `extract(buffer, t, x.shape)`: the float32 buffer value at each row's timestep. */
export function extractRows(sched: NoiseSchedule, name: ScheduleBufferName, t: Timesteps, batch: number, what = 'extract'): RowCoef {
  const buf = sched.f32[name];
  return Float32Array.from(rowTimesteps(sched, t, batch, what), (v) => buf[v]);
}

/** Elementwise float32 combination of row coefficients (each op rounded like torch's float32 math). */
export function mapRows(fn: (...v: number[]) => number, ...cols: RowCoef[]): RowCoef {
  return Float32Array.from(cols[0], (_, i) => Math.fround(fn(...cols.map((c) => c[i]))));
}

function uniformValue(c: RowCoef): number | undefined {
  const v = c[0];
  for (let i = 1; i < c.length; i++) if (!Object.is(c[i], v)) return undefined;
  return v;
}

function rowShape(x: Tensor): number[] {
  return [x.shape[0], ...new Array<number>(x.rank - 1).fill(1)];
}

function checkRows(x: Tensor, c: RowCoef, what: string): void {
  if (x.rank < 1 || x.shape[0] !== c.length) {
    throw new Error(`${what}: tensor [${x.shape.join(', ')}] has batch ${x.shape[0]}, coefficients have ${c.length} rows`);
  }
}

/** x * c[row] broadcast over each sample (`extract(a, t, x.shape) * x`). */
export function scaleRows(x: Tensor, c: RowCoef, what = 'scaleRows'): Tensor {
  checkRows(x, c, what);
  const u = uniformValue(c);
  if (u !== undefined) return mulScalar(x, u);
  const ct = Tensor.from(x.rt, c, rowShape(x), x.dtype);
  const out = mul(x, ct);
  ct.dispose();
  return out;
}

/** x / c[row] broadcast over each sample. */
export function divRows(x: Tensor, c: RowCoef, what = 'divRows'): Tensor {
  checkRows(x, c, what);
  const u = uniformValue(c);
  if (u !== undefined) return divScalar(x, u);
  const ct = Tensor.from(x.rt, c, rowShape(x), x.dtype);
  const out = div(x, ct);
  ct.dispose();
  return out;
}
