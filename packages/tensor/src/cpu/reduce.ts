// Plain TypeScript references for the axis reductions and softmax (float64 math over the given data).
// Every function takes (data, shape, axis) with a possibly negative axis; the result is laid out like
// the reduced shape (keepDim does not change the data order).

type Data = ArrayLike<number>;

function split(shape: readonly number[], axis: number): { outer: number; len: number; inner: number } {
  const a = axis < 0 ? axis + shape.length : axis;
  if (!Number.isInteger(a) || a < 0 || a >= Math.max(shape.length, 1)) throw new Error(`reduce ref: bad axis ${axis}`);
  const prod = (ds: readonly number[]) => ds.reduce((p, d) => p * d, 1);
  return { outer: prod(shape.slice(0, a)), len: shape[a] ?? 1, inner: prod(shape.slice(a + 1)) };
}

/** Calls f(row values along the axis) for each (outer, inner) pair and stores its result. */
function perRow(data: Data, shape: readonly number[], axis: number, f: (row: number[]) => number): number[] {
  const { outer, len, inner } = split(shape, axis);
  const out: number[] = [];
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < inner; j++) {
      const row: number[] = [];
      for (let k = 0; k < len; k++) row.push(data[(o * len + k) * inner + j]);
      out.push(f(row));
    }
  }
  return out;
}

const rowSum = (r: number[]) => r.reduce((p, v) => p + v, 0);
const rowMax = (r: number[]) => r.reduce((p, v) => Math.max(p, v), -Infinity);

/** Sum along `axis`. */
export function sumRef(data: Data, shape: readonly number[], axis: number): Float32Array {
  return Float32Array.from(perRow(data, shape, axis, rowSum));
}

/** Mean along `axis` (NaN for an empty axis). */
export function meanRef(data: Data, shape: readonly number[], axis: number): Float32Array {
  return Float32Array.from(perRow(data, shape, axis, (r) => rowSum(r) / r.length));
}

/** Maximum along `axis`. */
export function maxRef(data: Data, shape: readonly number[], axis: number): Float32Array {
  return Float32Array.from(perRow(data, shape, axis, rowMax));
}

/** Index of the first maximum along `axis` (torch semantics on ties). */
export function argmaxRef(data: Data, shape: readonly number[], axis: number): Int32Array {
  return Int32Array.from(
    perRow(data, shape, axis, (r) => {
      let best = 0;
      for (let k = 1; k < r.length; k++) if (r[k] > r[best]) best = k;
      return best;
    }),
  );
}

/** Applies f(row) -> row along `axis`, writing results back in place of the row. */
function mapRows(data: Data, shape: readonly number[], axis: number, f: (row: number[]) => number[]): Float32Array {
  const { outer, len, inner } = split(shape, axis);
  const out = new Float32Array(data.length);
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < inner; j++) {
      const row: number[] = [];
      for (let k = 0; k < len; k++) row.push(data[(o * len + k) * inner + j]);
      f(row).forEach((v, k) => (out[(o * len + k) * inner + j] = v));
    }
  }
  return out;
}

/** Softmax along `axis`; a row of all -inf gives NaN (as torch). */
export function softmaxRef(data: Data, shape: readonly number[], axis: number): Float32Array {
  return mapRows(data, shape, axis, (r) => {
    const m = rowMax(r);
    const e = r.map((v) => Math.exp(v - m));
    const s = rowSum(e);
    return e.map((v) => v / s);
  });
}

/** Log-softmax along `axis`; a row of all -inf gives NaN (as torch). */
export function logSoftmaxRef(data: Data, shape: readonly number[], axis: number): Float32Array {
  return mapRows(data, shape, axis, (r) => {
    const m = rowMax(r);
    const ls = Math.log(rowSum(r.map((v) => Math.exp(v - m))));
    return r.map((v) => v - m - ls);
  });
}
