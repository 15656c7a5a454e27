import {
  DTYPE_SIZES,
  SAFETENSORS_DTYPES,
  checkShape,
  isSafetensorsDType,
  numElements,
  type SafetensorsDType,
} from './dtypes.js';
import { SafetensorsError, describeJson } from './errors.js';
import { scanHeaderJson, shortJson } from './jsonScan.js';

/** Bytes of the little-endian u64 header-length prefix. */
export const HEADER_PREFIX_BYTES = 8;
/** Largest JSON header we accept (the reference implementation uses the same 100 MB cap). */
export const MAX_HEADER_BYTES = 100_000_000;
/** Key of the optional string->string metadata map in the header. */
export const METADATA_KEY = '__metadata__';

export interface TensorInfo {
  name: string;
  dtype: SafetensorsDType;
  shape: number[];
  /** Absolute byte offset of the tensor's data in the file. */
  byteOffset: number;
  byteLength: number;
}

export interface SafetensorsHeader {
  /** Length of the JSON header in bytes (excluding the 8-byte prefix). */
  headerLength: number;
  /** Absolute offset of the data section (8 + headerLength). */
  dataOffset: number;
  /** Size of the data section: fileSize - dataOffset. */
  dataLength: number;
  /** Tensors in file (data offset) order, then by name. */
  tensors: TensorInfo[];
  metadata: Record<string, string>;
}

/** Validates the 8-byte prefix and returns the JSON header length. */
export function readHeaderLength(prefix: Uint8Array, fileSize: number, fileName: string): number {
  if (fileSize < HEADER_PREFIX_BYTES || prefix.byteLength < HEADER_PREFIX_BYTES) {
    const size = Math.min(fileSize, prefix.byteLength);
    throw new SafetensorsError(fileName, `file is ${size} bytes, shorter than the 8-byte header length prefix`);
  }
  const n = new DataView(prefix.buffer, prefix.byteOffset, HEADER_PREFIX_BYTES).getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_BYTES)) {
    throw new SafetensorsError(fileName, `header length ${n} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  }
  const length = Number(n);
  if (HEADER_PREFIX_BYTES + length > fileSize) {
    throw new SafetensorsError(
      fileName,
      `header length ${length} exceeds file size ${fileSize} (8-byte prefix + header must fit in the file)`,
    );
  }
  return length;
}

/**
 * Parses and validates a whole header. `bytes` starts at file offset 0 and holds at least
 * the prefix and the JSON header (it may hold the whole file). Pure: no I/O.
 */
export function parseSafetensorsHeader(bytes: Uint8Array, fileSize: number, fileName: string): SafetensorsHeader {
  const length = readHeaderLength(bytes, fileSize, fileName);
  const end = HEADER_PREFIX_BYTES + length;
  if (bytes.byteLength < end) {
    throw new SafetensorsError(fileName, `need ${end} header bytes, got only ${bytes.byteLength}`);
  }
  return parseHeaderJson(bytes.subarray(HEADER_PREFIX_BYTES, end), fileSize, fileName);
}

/** Parses and validates the JSON header bytes (the `headerLength` bytes after the prefix). */
export function parseHeaderJson(json: Uint8Array, fileSize: number, fileName: string): SafetensorsHeader {
  const root = decodeJsonObject(json, fileName);
  const dataOffset = HEADER_PREFIX_BYTES + json.byteLength;
  const dataLength = fileSize - dataOffset;
  let metadata: Record<string, string> = {};
  const tensors: TensorInfo[] = [];
  for (const [name, value] of Object.entries(root)) {
    if (name === METADATA_KEY) metadata = checkMetadata(value, fileName);
    else tensors.push(parseEntry(name, value, dataOffset, dataLength, fileName));
  }
  tensors.sort((a, b) => a.byteOffset - b.byteOffset || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  checkNoOverlap(tensors, dataOffset, fileName);
  return { headerLength: json.byteLength, dataOffset, dataLength, tensors, metadata };
}

/** Checks a metadata map is string -> string; returns a copy. Used by reader and writer. */
export function checkMetadata(value: unknown, fileName: string): Record<string, string> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new SafetensorsError(fileName, `${METADATA_KEY} must be an object of strings, got ${describeJson(value)}`);
  }
  const entries = Object.entries(value);
  for (const [key, v] of entries) {
    if (typeof v !== 'string') {
      throw new SafetensorsError(
        fileName,
        `${METADATA_KEY} value for key ${JSON.stringify(key)} must be a string, got ${describeJson(v)}`,
      );
    }
  }
  // fromEntries defines own properties, so a "__proto__" key cannot change the prototype.
  return Object.fromEntries(entries) as Record<string, string>;
}

function decodeJsonObject(json: Uint8Array, fileName: string): Record<string, unknown> {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(json);
  } catch (cause) {
    throw new SafetensorsError(fileName, 'header is not valid UTF-8', { cause });
  }
  scanHeaderJson(text, fileName);
  let root: unknown;
  try {
    root = JSON.parse(text);
  } catch (cause) {
    const msg = cause instanceof Error ? cause.message : String(cause);
    throw new SafetensorsError(fileName, `header is not valid JSON: ${msg}`, { cause });
  }
  if (typeof root !== 'object' || root === null || Array.isArray(root)) {
    throw new SafetensorsError(fileName, `header must be a JSON object, got ${describeJson(root)}`);
  }
  return root as Record<string, unknown>;
}

function parseEntry(
  name: string,
  raw: unknown,
  dataOffset: number,
  dataLength: number,
  file: string,
): TensorInfo {
  const fail = (detail: string): never => {
    throw new SafetensorsError(file, detail, { tensor: name });
  };
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    return fail(`entry must be a JSON object, got ${describeJson(raw)}`);
  }
  const entry = raw as Record<string, unknown>;
  const dtype = entry.dtype;
  if (dtype === undefined) return fail('missing dtype');
  if (!isSafetensorsDType(dtype)) {
    return fail(`unknown dtype ${shortJson(dtype)} (expected one of ${SAFETENSORS_DTYPES.join(', ')})`);
  }
  const shape = checkShape(entry.shape, file, name);
  const [begin, end] = checkOffsets(entry.data_offsets, fail);
  const elements = numElements(shape);
  const size = DTYPE_SIZES[dtype];
  const offsets = `data_offsets [${begin}, ${end}]`;
  if (end - begin !== elements * size) {
    const shapeText = shortJson(shape);
    fail(`${offsets} length ${end - begin} != ${elements} elements x ${size} bytes (${dtype}, shape ${shapeText})`);
  }
  if (end > dataLength) {
    fail(`${offsets} out of bounds of the ${dataLength}-byte data section (file truncated?)`);
  }
  return { name, dtype, shape, byteOffset: dataOffset + begin, byteLength: end - begin };
}

function checkOffsets(raw: unknown, fail: (detail: string) => never): [number, number] {
  const ok =
    Array.isArray(raw) &&
    raw.length === 2 &&
    raw.every((v: unknown) => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0);
  if (!ok) {
    fail(`data_offsets must be [begin, end] with non-negative integers, got ${shortJson(raw)}`);
  }
  const [begin, end] = raw as [number, number];
  if (begin > end) fail(`data_offsets [${begin}, ${end}] has begin > end`);
  return [begin, end];
}

/** `tensors` sorted by offset; empty tensors occupy no bytes and cannot overlap. */
function checkNoOverlap(tensors: TensorInfo[], dataOffset: number, file: string): void {
  let prev: TensorInfo | undefined;
  for (const t of tensors) {
    if (t.byteLength === 0) continue;
    if (prev !== undefined && t.byteOffset < prev.byteOffset + prev.byteLength) {
      const range = (x: TensorInfo): string =>
        `[${x.byteOffset - dataOffset}, ${x.byteOffset - dataOffset + x.byteLength}]`;
      throw new SafetensorsError(file, `data_offsets ${range(t)} overlap tensor ${JSON.stringify(prev.name)} at ${range(prev)}`, {
        tensor: t.name,
      });
    }
    prev = t;
  }
}
