import { NeedMoreData } from './cursor.js';
import { PthError } from './errors.js';
import type { RandomAccessFile } from './file.js';
import type { Item } from './items.js';
import type { TensorSource } from './tensor.js';
import { unpickle, type PickleLimits } from './unpickler.js';
import { PTH_DTYPE_SIZES } from './values.js';

/**
 * The legacy (non-zip) format, `torch.save(..., _use_new_zipfile_serialization=False)`:
 * pickles of the magic number, protocol version and sys_info, then the object tree, then
 * the sorted storage keys, then each storage as an 8-byte little-endian element count
 * followed by its raw bytes.
 */

const MAGIC_NUMBER = 0x1950a86a20f9469cfc6cn;
const PROTOCOL_VERSION = 1001;
/** First read of each pickle; grown geometrically when a pickle is longer. */
const FIRST_CHUNK = 1 << 16;

export interface LegacyLimits extends PickleLimits {
  maxPickleBytes: number;
}

export async function loadLegacyCheckpoint(file: RandomAccessFile, source: TensorSource, limits: LegacyLimits): Promise<Item> {
  let pos = 0;
  const next = async (what: string): Promise<Item> => {
    const r = await readPickleAt(file, pos, what, source, limits);
    pos = r.end;
    return r.value;
  };
  const fail = (detail: string): never => {
    throw new PthError(file.path, `legacy torch format: ${detail}`);
  };
  if ((await next('magic number pickle')) !== MAGIC_NUMBER) fail('invalid magic number (not a torch checkpoint?)');
  const protocol = await next('protocol version pickle');
  if (protocol !== PROTOCOL_VERSION) fail(`unsupported protocol version ${String(protocol)}`);
  const sysInfo = await next('sys_info pickle');
  if (!(sysInfo instanceof Map) || sysInfo.get('little_endian') !== true) fail('only little-endian checkpoints are supported');
  const root = await next('main pickle');
  const keys = await next('storage keys pickle');
  if (!Array.isArray(keys) || !keys.every((k) => typeof k === 'string')) fail('storage key list is not a list of strings');
  await indexStorages(file, pos, keys as string[], source);
  return root;
}

/** Unpickles one pickle at `offset`, reading more of the file only as far as it needs. */
async function readPickleAt(
  file: RandomAccessFile,
  offset: number,
  what: string,
  source: TensorSource,
  limits: LegacyLimits,
): Promise<{ value: Item; end: number }> {
  const available = Math.min(file.size - offset, limits.maxPickleBytes);
  let chunk = Math.min(available, FIRST_CHUNK);
  for (;;) {
    const buf = await file.read(offset, chunk, what);
    try {
      const r = unpickle(buf, { file: file.path, where: `${what} (file byte ${offset})`, available, limits, source });
      return { value: r.value, end: offset + r.end };
    } catch (err) {
      if (!(err instanceof NeedMoreData) || chunk >= available) throw err;
      chunk = Math.min(available, Math.max(err.wanted, chunk * 4));
    }
  }
}

/** Walks the storage section: each storage is an element count then its bytes. */
async function indexStorages(file: RandomAccessFile, start: number, keys: string[], source: TensorSource): Promise<void> {
  const counts = new ReadAhead(file);
  let pos = start;
  for (const key of keys) {
    const storage = source.storages.get(key);
    if (storage === undefined) throw new PthError(file.path, `legacy torch format: storage "${key}" is listed but no tensor uses it`);
    const count = await counts.u64(pos, `element count of storage "${key}"`);
    const bytes = count * BigInt(PTH_DTYPE_SIZES[storage.dtype]);
    if (bytes > BigInt(file.size - pos - 8)) {
      throw new PthError(file.path, `legacy torch format: storage "${key}" declares ${count} elements but only ${file.size - pos - 8} bytes remain (truncated?)`);
    }
    const dataOffset = pos + 8;
    source.table.set(key, { byteLength: Number(bytes), dataOffset: () => Promise.resolve(dataOffset) });
    pos = dataOffset + Number(bytes);
  }
}

/** Reads u64s through a window, so runs of small storages cost one read rather than one each. */
class ReadAhead {
  private start = 0;
  private window: Uint8Array = new Uint8Array(0);

  constructor(
    private readonly file: RandomAccessFile,
    private readonly windowBytes = 1 << 20,
  ) {}

  async u64(pos: number, what: string): Promise<bigint> {
    if (pos < this.start || pos + 8 > this.start + this.window.length) {
      this.start = pos;
      this.window = await this.file.read(pos, Math.max(8, Math.min(this.windowBytes, this.file.size - pos)), what);
    }
    return new DataView(this.window.buffer).getBigUint64(pos - this.start, true);
  }
}
