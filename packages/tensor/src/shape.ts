// Shape arithmetic shared by ops and their CPU references. Row-major (PyTorch order) throughout.
export type Shape = readonly number[];

export function numel(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function stridesOf(shape: Shape): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

export function shapeStr(shape: Shape): string {
  return `[${shape.join(', ')}]`;
}

export function sameShape(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

export function assertValidShape(shape: Shape, what: string): void {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new Error(`${what}: invalid shape ${shapeStr(shape)}`);
  }
}

/** Normalises a possibly negative axis; throws naming the op when out of range. */
export function normAxis(axis: number, rank: number, op: string): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= Math.max(rank, 1)) {
    throw new Error(`${op}: axis ${axis} out of range for rank ${rank}`);
  }
  return a;
}

/** NumPy/PyTorch broadcasting of two shapes; throws with both shapes on mismatch. */
export function broadcastShapes(a: Shape, b: Shape, op: string): number[] {
  const rank = Math.max(a.length, b.length);
  const out = new Array<number>(rank);
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new Error(`${op}: shapes ${shapeStr(a)} and ${shapeStr(b)} are not broadcastable (dim ${i}: ${da} vs ${db})`);
    }
    out[i] = da === 1 ? db : da;
  }
  return out;
}

/** Strides of `shape` read as if broadcast to `outShape` (0 on broadcast dims), left-padded to outShape's rank. */
export function broadcastStrides(shape: Shape, outShape: Shape): number[] {
  const st = stridesOf(shape);
  const pad = outShape.length - shape.length;
  return outShape.map((d, i) => (i < pad || shape[i - pad] === 1 ? 0 : st[i - pad]));
}

/** Resolves a single -1 in a reshape target. */
export function resolveReshape(from: Shape, to: Shape): number[] {
  const total = numel(from);
  const unknown = to.filter((d) => d === -1).length;
  if (unknown > 1) throw new Error(`reshape: more than one -1 in ${shapeStr(to)}`);
  const known = to.reduce((p, d) => (d === -1 ? p : p * d), 1);
  const out = to.map((d) => (d === -1 ? (known === 0 ? 0 : total / known) : d));
  if (numel(out) !== total || out.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new Error(`reshape: can't reshape ${shapeStr(from)} (${total} elements) to ${shapeStr(to)}`);
  }
  return out;
}
