// Plain TypeScript references for the layout ops (permute, expand, slice, concat, pad, gather).
// Element-exact: they move values without arithmetic, so any typed array works (f16 as raw bits).
import { numel, stridesOf } from '../shape.js';

export type LayoutArray = Float32Array | Float64Array | Int32Array | Uint16Array;

/** A reference result: data in the input's array type plus its shape. */
export interface LayoutRef<A extends LayoutArray> {
  data: A;
  shape: number[];
}

function alloc<A extends LayoutArray>(like: A, n: number): A {
  return new (like.constructor as new (n: number) => A)(n);
}

/** Calls fn with every coordinate of `shape` in row-major order. */
function eachCoord(shape: readonly number[], fn: (c: number[], linear: number) => void): void {
  const n = numel(shape);
  const c = shape.map(() => 0);
  for (let i = 0; i < n; i++) {
    fn(c, i);
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++c[d] < shape[d]) break;
      c[d] = 0;
    }
  }
}

const dot = (c: readonly number[], s: readonly number[]) => c.reduce((p, v, i) => p + v * s[i], 0);

/** out[c] = x[c permuted back]: output dim i is input dim dims[i] (negative dims allowed). */
export function permuteRef<A extends LayoutArray>(x: A, shape: readonly number[], dims: readonly number[]): LayoutRef<A> {
  const r = shape.length;
  const perm = dims.map((d) => (d + r) % r);
  const out = perm.map((d) => shape[d]);
  const st = stridesOf(shape);
  const data = alloc(x, numel(out));
  eachCoord(out, (c, i) => {
    data[i] = x[c.reduce((p, v, k) => p + v * st[perm[k]], 0)];
  });
  return { data, shape: out };
}

/** Broadcasts x (shape) to `to` (no -1 entries): size-1 and missing leading dims repeat. */
export function expandRef<A extends LayoutArray>(x: A, shape: readonly number[], to: readonly number[]): LayoutRef<A> {
  const pad = to.length - shape.length;
  const st = stridesOf(shape);
  const data = alloc(x, numel(to));
  eachCoord(to, (c, i) => {
    let src = 0;
    for (let d = 0; d < shape.length; d++) if (shape[d] !== 1) src += c[d + pad] * st[d];
    data[i] = x[src];
  });
  return { data, shape: [...to] };
}

/** Python slicing per leading axis (null = default bound, negative indices wrap, negative steps reverse). */
export function sliceRef<A extends LayoutArray>(
  x: A,
  shape: readonly number[],
  starts: readonly (number | null | undefined)[],
  ends: readonly (number | null | undefined)[],
  steps: readonly number[] = [],
): LayoutRef<A> {
  // Explicit index list per axis, following CPython's slice.indices.
  const picks = shape.map((dim, d) => {
    if (d >= starts.length) return Array.from({ length: dim }, (_, i) => i);
    const step = steps[d] ?? 1;
    const fix = (v: number | null | undefined, dflt: number) => {
      if (v === null || v === undefined) return dflt;
      const a = v < 0 ? v + dim : v;
      return step > 0 ? Math.min(Math.max(a, 0), dim) : Math.min(Math.max(a, -1), dim - 1);
    };
    const s = fix(starts[d], step > 0 ? 0 : dim - 1);
    const e = fix(ends[d], step > 0 ? dim : -1);
    const idx: number[] = [];
    for (let i = s; step > 0 ? i < e : i > e; i += step) idx.push(i);
    return idx;
  });
  const out = picks.map((p) => p.length);
  const st = stridesOf(shape);
  const data = alloc(x, numel(out));
  eachCoord(out, (c, i) => {
    data[i] = x[c.reduce((p, v, k) => p + picks[k][v] * st[k], 0)];
  });
  return { data, shape: out };
}

/** Concatenation along `axis` (negative allowed) of inputs with equal other dims. */
export function concatRef<A extends LayoutArray>(inputs: readonly LayoutRef<A>[], axis: number): LayoutRef<A> {
  const r = inputs[0].shape.length;
  const a = (axis + r) % r;
  const out = [...inputs[0].shape];
  out[a] = inputs.reduce((p, t) => p + t.shape[a], 0);
  const ost = stridesOf(out);
  const data = alloc(inputs[0].data, numel(out));
  let at = 0;
  for (const t of inputs) {
    eachCoord(t.shape, (c, i) => {
      data[dot(c, ost) + at * ost[a]] = t.data[i];
    });
    at += t.shape[a];
  }
  return { data, shape: out };
}

/** F.pad reference: pads last dim first; constant / replicate / reflect; negative pads crop. */
export function padRef<A extends LayoutArray>(
  x: A,
  shape: readonly number[],
  pads: readonly number[],
  value = 0,
  mode: 'constant' | 'replicate' | 'reflect' = 'constant',
): LayoutRef<A> {
  const before = shape.map(() => 0);
  const out = [...shape];
  for (let j = 0; j < pads.length / 2; j++) {
    const d = shape.length - 1 - j;
    before[d] = pads[2 * j];
    out[d] += pads[2 * j] + pads[2 * j + 1];
  }
  const st = stridesOf(shape);
  const data = alloc(x, numel(out));
  eachCoord(out, (c, i) => {
    let src = 0;
    for (let d = 0; d < shape.length; d++) {
      let s = c[d] - before[d];
      const n = shape[d];
      if (mode === 'replicate') s = Math.min(Math.max(s, 0), n - 1);
      if (mode === 'reflect') s = s < 0 ? -s : s >= n ? 2 * (n - 1) - s : s;
      if (s < 0 || s >= n) {
        src = -1;
        break;
      }
      src += s * st[d];
    }
    data[i] = src < 0 ? value : x[src];
  });
  return { data, shape: out };
}

/** numpy.take along `axis`: out = shape[:axis] + idsShape + shape[axis+1:]; out-of-range ids give zeros. */
export function gatherRef<A extends LayoutArray>(
  x: A,
  shape: readonly number[],
  ids: ArrayLike<number>,
  idsShape: readonly number[],
  axis = 0,
): LayoutRef<A> {
  const a = (axis + shape.length) % shape.length;
  const outer = numel(shape.slice(0, a));
  const len = shape[a];
  const inner = numel(shape.slice(a + 1));
  const k = ids.length;
  const data = alloc(x, outer * k * inner);
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < k; j++) {
      const id = ids[j];
      if (id < 0 || id >= len) continue; // stays zero
      for (let i = 0; i < inner; i++) data[(o * k + j) * inner + i] = x[(o * len + id) * inner + i];
    }
  }
  return { data, shape: [...shape.slice(0, a), ...idsShape, ...shape.slice(a + 1)] };
}
