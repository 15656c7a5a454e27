// Gather along an axis (kernels/gather.wgsl): embedding lookup, index_select / take. A source bigger
// than one storage binding (CLIP ViT-L's token table is 152 MB f32; many adapters bind at most
// 128 MiB) is bound in row chunks, one dispatch per chunk, each writing the outputs whose ids fall in it.
// Ids outside [0, axis size) produce zero rows on the GPU; host ids are range-checked and throw instead.
import { Tensor } from '../tensor.js';
import { bytesPerElement } from '../dtype.js';
import { normAxis, numel, shapeStr } from '../shape.js';
import type { Binding, Runtime } from '../runtime.js';
import { Uniforms, grid1d, expectDtype, sameRuntime } from './util.js';

export interface GatherOptions {
  /** Overrides rt.limits.maxStorageBufferBindingSize for the chunking decision (tests use a small value). */
  maxBindingBytes?: number;
}

export interface EmbeddingOptions extends GatherOptions {
  /** Shape of host ids (default [ids.length]); ignored when ids is a Tensor. */
  idsShape?: readonly number[];
}

/** Host-side check that every id lies in [0, size); throws naming the first bad position. */
export function checkIndices(ids: ArrayLike<number>, size: number, op = 'gather'): void {
  for (let i = 0; i < ids.length; i++) {
    const v = ids[i];
    if (!Number.isInteger(v) || v < 0 || v >= size) throw new Error(`${op}: id ${v} at position ${i} out of range [0, ${size})`);
  }
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

/**
 * Rows per chunk when binding `rows` rows of `rowBytes` each: as many as fit in `maxBytes`, rounded down
 * to a multiple that keeps every chunk's byte offset a multiple of `align`. Returns `rows` when all fit.
 */
export function gatherChunkRows(rows: number, rowBytes: number, maxBytes: number, align: number, op = 'gather'): number {
  if (rows * rowBytes <= maxBytes) return Math.max(rows, 1);
  const unit = align / gcd(rowBytes, align); // rows whose bytes are a multiple of align
  const fit = Math.floor(maxBytes / rowBytes / unit) * unit;
  if (fit === 0) {
    throw new Error(`${op}: ${unit} row(s) of ${rowBytes} bytes (offset alignment ${align}) exceed the ${maxBytes}-byte binding limit`);
  }
  return fit;
}

/** Records one dispatch per table chunk; every chunk shares the ids and output bindings. */
function dispatchChunks(rt: Runtime, x: Tensor, ids: Tensor, y: Tensor, dims: { outer: number; axisLen: number; inner: number }, maxBytes: number): void {
  const { outer, axisLen, inner } = dims;
  const bpe = bytesPerElement(x.dtype);
  const whole = x.binding();
  const rowBytes = inner * bpe;
  const align = rt.limits.minStorageBufferOffsetAlignment ?? 256;
  let rowsPer = axisLen;
  if (Math.ceil(whole.size / 4) * 4 > maxBytes) {
    if (outer !== 1) {
      throw new Error(`gather: input ${shapeStr(x.shape)} (${whole.size} bytes) exceeds the ${maxBytes}-byte binding limit; only a gather over the leading axis is chunked`);
    }
    if (whole.offset % align !== 0) throw new Error(`gather: input view offset ${whole.offset} is not ${align}-byte aligned`);
    rowsPer = gatherChunkRows(axisLen, rowBytes, maxBytes, align);
  }
  const n = y.size;
  for (let start = 0; start < axisLen; start += rowsPer) {
    const count = Math.min(rowsPer, axisLen - start);
    const chunk: Binding =
      rowsPer === axisLen ? whole : { buffer: whole.buffer, offset: whole.offset + start * rowBytes, size: Math.max(count * rowBytes, 4) };
    rt.run({
      kernel: 'gather',
      defines: { T: x.dtype },
      inputs: [chunk, ids],
      outputs: [y],
      uniforms: new Uniforms().u32(n, inner, ids.size, axisLen, start, count, 0, 0).build(),
      workgroups: grid1d(rt, n),
    });
  }
}

/**
 * numpy.take / torch.index_select generalised to any ids shape: out = x.shape[:axis] + ids.shape +
 * x.shape[axis+1:]. Ids must be i32; ids outside [0, x.shape[axis]) give zeros.
 */
export function gather(x: Tensor, ids: Tensor, axis = 0, opts: GatherOptions = {}): Tensor {
  const rt = sameRuntime('gather', x, ids);
  expectDtype('gather', ids, ['i32'], 'ids');
  const a = normAxis(axis, x.rank, 'gather');
  const shape = [...x.shape.slice(0, a), ...ids.shape, ...x.shape.slice(a + 1)];
  const y = Tensor.empty(rt, shape, x.dtype);
  if (y.size === 0) return y;
  const dims = { outer: numel(x.shape.slice(0, a)), axisLen: x.shape[a], inner: numel(x.shape.slice(a + 1)) };
  dispatchChunks(rt, x, ids, y, dims, opts.maxBindingBytes ?? rt.limits.maxStorageBufferBindingSize);
  return y;
}

/** torch.index_select(x, axis, ids) for 1-D i32 ids. */
export function indexSelect(x: Tensor, axis: number, ids: Tensor, opts: GatherOptions = {}): Tensor {
  if (ids.rank !== 1) throw new Error(`indexSelect: ids must be 1-D, got ${shapeStr(ids.shape)}`);
  return gather(x, ids, axis, opts);
}

/**
 * Embedding lookup: table [V, D], ids [...] -> [..., D]. Ids may be an i32 Tensor (out-of-range ids give
 * zero rows) or host integers, which are checked against V (throwing on a bad id) before upload.
 */
export function embedding(table: Tensor, ids: Tensor | Int32Array | readonly number[], opts: EmbeddingOptions = {}): Tensor {
  if (table.rank !== 2) throw new Error(`embedding: table must be [V, D], got ${shapeStr(table.shape)}`);
  if (ids instanceof Tensor) return gather(table, ids, 0, opts);
  checkIndices(ids, table.shape[0], 'embedding');
  const idt = Tensor.from(table.rt, ids, opts.idsShape ?? [ids.length], 'i32');
  try {
    return gather(table, idt, 0, opts);
  } finally {
    idt.dispose();
  }
}
