import { PthError } from './errors.js';
import type { RandomAccessFile } from './file.js';
import type { Item } from './items.js';
import type { TensorSource } from './tensor.js';
import { unpickle, type PickleLimits } from './unpickler.js';
import { entryDataOffset, readZipDirectory, readZipEntry, type ZipEntry } from './zip.js';

/**
 * The zip checkpoint format (torch >= 1.6): `<archive>/data.pkl` holds the object tree,
 * `<archive>/data/<key>` the raw storages (stored, uncompressed), `<archive>/byteorder`
 * the byte order (absent means little). The archive folder name varies.
 */

export interface ZipLimits extends PickleLimits {
  maxPickleBytes: number;
  maxDirectoryBytes: number;
}

export async function loadZipCheckpoint(
  file: RandomAccessFile,
  source: TensorSource,
  limits: ZipLimits,
): Promise<{ root: Item; archive: string }> {
  const dir = await readZipDirectory(file, limits.maxDirectoryBytes);
  const archive = findArchive(file.path, dir);
  await checkByteOrder(file, dir.get(`${archive}/byteorder`));
  indexStorages(file, dir, `${archive}/data/`, source);
  const pkl = dir.get(`${archive}/data.pkl`) as ZipEntry;
  const bytes = await readZipEntry(file, pkl, limits.maxPickleBytes);
  const { value } = unpickle(bytes, { file: file.path, where: pkl.name, available: bytes.length, limits, source });
  return { root: value, archive };
}

/** The one top-level folder holding `data.pkl`. */
function findArchive(path: string, dir: Map<string, ZipEntry>): string {
  const found: string[] = [];
  for (const name of dir.keys()) {
    const m = /^([^/]+)\/data\.pkl$/.exec(name);
    if (m !== null) found.push(m[1]);
  }
  if (found.length === 1) return found[0];
  if (found.length === 0) {
    const some = [...dir.keys()].slice(0, 5).map((n) => JSON.stringify(n)).join(', ');
    throw new PthError(path, `zip has no <archive>/data.pkl entry, so it is not a torch.save checkpoint (entries: ${some || 'none'})`);
  }
  throw new PthError(path, `zip has several data.pkl entries (${found.join(', ')}); cannot tell which is the checkpoint`);
}

async function checkByteOrder(file: RandomAccessFile, entry: ZipEntry | undefined): Promise<void> {
  if (entry === undefined) return;
  const order = new TextDecoder().decode(await readZipEntry(file, entry, 16)).trim();
  if (order === 'little') return;
  throw new PthError(file.path, `checkpoint byte order is ${JSON.stringify(order)}; only little-endian checkpoints are supported`);
}

/** Storage key -> entry; the local header (hence data offset) is read on first use. */
function indexStorages(file: RandomAccessFile, dir: Map<string, ZipEntry>, prefix: string, source: TensorSource): void {
  for (const [name, entry] of dir) {
    if (!name.startsWith(prefix) || name.length === prefix.length || name.includes('/', prefix.length)) continue;
    let offset: Promise<number> | undefined;
    source.table.set(name.slice(prefix.length), {
      byteLength: entry.size,
      dataOffset: () => (offset ??= entryDataOffset(file, entry)),
      unsupported:
        entry.method === 0
          ? undefined
          : `storage entry "${name}" is compressed (zip method ${entry.method}); torch writes tensor data uncompressed, re-save it with torch.save`,
    });
  }
}
