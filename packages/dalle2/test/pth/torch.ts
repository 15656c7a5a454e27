import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PickleWriter, pickle, type Py } from './pickle.js';
import { zipBytes, type ZipSpec } from './zip.js';

/** Crafts torch.save-style files (zip and legacy) around a pickle tree. */

export interface TorchZipOptions {
  archive?: string;
  /** Raw data.pkl bytes instead of pickling `root`. */
  pkl?: Uint8Array;
  pklMethod?: 0 | 8;
  omitPkl?: boolean;
  byteorder?: string;
  zip64?: boolean;
  /** Compression method of storage entries. */
  storageMethod?: 0 | 8;
}

export function torchZip(root: Py, storages: Record<string, Uint8Array>, opts: TorchZipOptions = {}): Uint8Array {
  const a = opts.archive ?? 'archive';
  const specs: ZipSpec[] = [];
  if (opts.omitPkl !== true) specs.push({ name: `${a}/data.pkl`, data: opts.pkl ?? pickle(root), method: opts.pklMethod ?? 0 });
  if (opts.byteorder !== undefined) specs.push({ name: `${a}/byteorder`, data: new TextEncoder().encode(opts.byteorder) });
  for (const [key, bytes] of Object.entries(storages)) specs.push({ name: `${a}/data/${key}`, data: bytes, method: opts.storageMethod ?? 0 });
  specs.push({ name: `${a}/version`, data: new TextEncoder().encode('3\n') });
  return zipBytes(specs, { align: 64, zip64: opts.zip64 });
}

/** Legacy (non-zip) serialization: magic, protocol, sys_info, main pickle, keys, storages. */
export function legacyFile(root: Py | Uint8Array, storages: [key: string, elementSize: number, bytes: Uint8Array][]): Uint8Array {
  const sysInfo = new Map<string, Py>([
    ['protocol_version', 1001],
    ['little_endian', true],
    ['type_sizes', new Map<string, Py>([['short', 2], ['int', 4], ['long', 4]])],
  ]);
  const parts: Uint8Array[] = [
    new PickleWriter().proto(2).long(0x1950a86a20f9469cfc6cn).stop().bytes(),
    pickle(1001),
    pickle(sysInfo),
    root instanceof Uint8Array ? root : pickle(root),
    pickle(storages.map(([k]) => k)),
  ];
  for (const [, size, bytes] of storages) {
    const head = new Uint8Array(8);
    new DataView(head.buffer).setBigUint64(0, BigInt(bytes.length / size), true);
    parts.push(head, bytes);
  }
  return concat(parts);
}

export function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export function f32Bytes(values: number[]): Uint8Array {
  return new Uint8Array(Float32Array.from(values).buffer);
}

/** A temp folder for crafted files; `cleanup()` removes it. */
export async function tempDir(): Promise<{ path(name: string): string; write(name: string, bytes: Uint8Array): Promise<string>; cleanup(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'pth-test-'));
  return {
    path: (name) => join(dir, name),
    write: async (name, bytes) => {
      const p = join(dir, name);
      await writeFile(p, bytes);
      return p;
    },
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}
