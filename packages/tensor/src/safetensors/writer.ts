import { randomBytes } from 'node:crypto';
import { open as openFile, rename, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import {
  DTYPE_SIZES,
  HOST_IS_LITTLE_ENDIAN,
  checkShape,
  isSafetensorsDType,
  numElements,
  swapBytesInPlace,
  type SafetensorsDType,
} from './dtypes.js';
import { SafetensorsError } from './errors.js';
import { HEADER_PREFIX_BYTES, METADATA_KEY, checkMetadata } from './header.js';

/** One tensor to write; `data` holds host-order elements, `byteLength` = elements x dtype size. */
export interface TensorToWrite {
  dtype: SafetensorsDType;
  shape: readonly number[];
  data: ArrayBufferView;
}

export type TensorsToWrite = Record<string, TensorToWrite>;

interface PlannedTensor {
  name: string;
  dtype: SafetensorsDType;
  shape: number[];
  /** Little-endian bytes to write (may alias the caller's data). */
  bytes: Uint8Array;
}

interface Layout {
  /** 8-byte length prefix + space-padded JSON header. */
  head: Uint8Array;
  /** Tensors in data order. */
  tensors: PlannedTensor[];
  totalSize: number;
}

/**
 * Reference (safetensors crate) layout order: larger dtypes first, then by name. With the
 * header padded to 8 bytes this keeps every tensor naturally aligned in the file.
 */
const LAYOUT_RANK: Readonly<Record<SafetensorsDType, number>> = {
  I64: 0, F64: 1, F32: 2, I32: 3, BF16: 4, F16: 5, I16: 6, I8: 7, U8: 8, BOOL: 9,
};

function compareForLayout(a: PlannedTensor, b: PlannedTensor): number {
  const byRank = LAYOUT_RANK[a.dtype] - LAYOUT_RANK[b.dtype];
  if (byRank !== 0) return byRank;
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

function planTensor(name: string, t: TensorToWrite, file: string): PlannedTensor {
  if (name === METADATA_KEY) throw new SafetensorsError(file, `"${METADATA_KEY}" is reserved and cannot name a tensor`);
  if (!isSafetensorsDType(t.dtype)) {
    throw new SafetensorsError(file, `unknown dtype ${JSON.stringify(t.dtype)}`, { tensor: name });
  }
  const shape = checkShape(t.shape, file, name);
  const expected = numElements(shape) * DTYPE_SIZES[t.dtype];
  if (t.data.byteLength !== expected) {
    const detail = `data has ${t.data.byteLength} bytes, expected ${numElements(shape)} elements x ${DTYPE_SIZES[t.dtype]} bytes (${t.dtype}, shape ${JSON.stringify(shape)})`;
    throw new SafetensorsError(file, detail, { tensor: name });
  }
  let bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  if (!HOST_IS_LITTLE_ENDIAN) {
    bytes = bytes.slice();
    swapBytesInPlace(bytes, DTYPE_SIZES[t.dtype]);
  }
  return { name, dtype: t.dtype, shape, bytes };
}

function planLayout(tensors: TensorsToWrite, metadata: Record<string, string> | undefined, file: string): Layout {
  const planned = Object.entries(tensors).map(([name, t]) => planTensor(name, t, file));
  planned.sort(compareForLayout);
  // Built by hand (not JSON.stringify of an object) so integer-like names keep layout order.
  const parts: string[] = [];
  if (metadata !== undefined) {
    parts.push(`${JSON.stringify(METADATA_KEY)}:${JSON.stringify(checkMetadata(metadata, file))}`);
  }
  let offset = 0;
  for (const t of planned) {
    const shape = JSON.stringify(t.shape);
    const end = offset + t.bytes.byteLength;
    parts.push(`${JSON.stringify(t.name)}:{"dtype":"${t.dtype}","shape":${shape},"data_offsets":[${offset},${end}]}`);
    offset = end;
  }
  const json = new TextEncoder().encode(`{${parts.join(',')}}`);
  const headerLength = Math.ceil(json.byteLength / 8) * 8; // pad so the data section is 8-aligned
  const head = new Uint8Array(HEADER_PREFIX_BYTES + headerLength).fill(0x20);
  new DataView(head.buffer).setBigUint64(0, BigInt(headerLength), true);
  head.set(json, HEADER_PREFIX_BYTES);
  return { head, tensors: planned, totalSize: head.byteLength + offset };
}

/** Serializes tensors (and optional string metadata) to an in-memory safetensors file. */
export function serializeSafetensors(tensors: TensorsToWrite, metadata?: Record<string, string>): Uint8Array {
  const layout = planLayout(tensors, metadata, '<memory>');
  const out = new Uint8Array(layout.totalSize);
  out.set(layout.head, 0);
  let pos = layout.head.byteLength;
  for (const t of layout.tensors) {
    out.set(t.bytes, pos);
    pos += t.bytes.byteLength;
  }
  return out;
}

/**
 * Writes a safetensors file: streams header and tensors to a temp file in the same folder,
 * syncs it, then renames it over `path`, so readers never see a half-written file.
 */
export async function writeSafetensors(
  path: string,
  tensors: TensorsToWrite,
  metadata?: Record<string, string>,
): Promise<void> {
  const layout = planLayout(tensors, metadata, path);
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  let handle: FileHandle | undefined;
  try {
    handle = await openFile(tmp, 'wx');
    let pos = await writeAll(handle, layout.head, 0);
    for (const t of layout.tensors) pos = await writeAll(handle, t.bytes, pos);
    await handle.sync();
    await handle.close();
    handle = undefined;
    await rename(tmp, path);
  } catch (cause) {
    await handle?.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    const msg = cause instanceof Error ? cause.message : String(cause);
    throw new SafetensorsError(path, `write failed: ${msg}`, { cause });
  }
}

/** Node caps a single write at 2 GiB - 1; larger tensors are written in chunks. */
const MAX_WRITE_CHUNK = 1 << 30;

async function writeAll(handle: FileHandle, bytes: Uint8Array, position: number): Promise<number> {
  let done = 0;
  while (done < bytes.byteLength) {
    const chunk = Math.min(bytes.byteLength - done, MAX_WRITE_CHUNK);
    const { bytesWritten } = await handle.write(bytes, done, chunk, position + done);
    done += bytesWritten;
  }
  return position + done;
}
