// The fuzz corpus: the demo model's files (../shared/demo-model and the bundled copy) and generated
// images, and one seeded mutation of one of them per case.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { concat, mutateBytes, truncate } from './bytes.js';
import { imageBases, imageCase, type ImageBases } from './images.js';
import { mutateJsonText } from './json.js';
import { hostilePickle, spliceOpcodes } from './pickles.js';
import { caseRng, type Rng } from './rng.js';
import { readZip, writeZip } from './zipEdit.js';

export const FORMATS = ['pth', 'safetensors', 'config', 'image'] as const;
export type Format = (typeof FORMATS)[number];

/** What the worker does with the file (the same entry points the CLI uses). */
export type Target = 'checkpoint' | 'model-load-config' | 'decoder-config' | 'prior-config' | 'image';

export interface FuzzCase {
  index: number;
  format: Format;
  /** Base file and mutation, e.g. `decoder.pth:hostile-stride0`. */
  kind: string;
  target: Target;
  /** File name the bytes are saved under. */
  name: string;
  bytes: Uint8Array;
  /** Built to be refused: loading it without an error is itself a finding. */
  mustRefuse: boolean;
}

interface Base {
  name: string;
  bytes: Uint8Array;
  target: Target;
}

export interface Corpus {
  pthZip: Base[];
  pthLegacy: Base[];
  safetensors: Base[];
  configs: Base[];
  images: ImageBases;
}

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DIRS = [join(ROOT, '../shared/demo-model'), join(ROOT, 'packages/dalle2/models/demo')];

/** Loads the bases, skipping byte-identical copies. */
export async function loadCorpus(dirs: readonly string[] = DIRS): Promise<Corpus> {
  const seen = new Set<string>();
  const corpus: Corpus = { pthZip: [], pthLegacy: [], safetensors: [], configs: [], images: await imageBases() };
  for (const dir of dirs) {
    for (const file of ['decoder.pth', 'decoder_fp16.pth', 'prior.pth', 'decoder_legacy.pth', 'decoder.safetensors', 'prior.safetensors', 'clip.safetensors',
      'model_config.json', 'model_config.upstream.json', 'decoder_config.json', 'prior_config.json']) {
      const path = join(dir, file);
      if (!existsSync(path)) continue;
      const bytes = new Uint8Array(readFileSync(path));
      const hash = createHash('sha256').update(bytes).digest('hex');
      if (seen.has(hash)) continue;
      seen.add(hash);
      const name = basename(path);
      if (name.endsWith('.safetensors')) corpus.safetensors.push({ name, bytes, target: 'checkpoint' });
      else if (name.endsWith('.pth')) (bytes[0] === 0x50 ? corpus.pthZip : corpus.pthLegacy).push({ name, bytes, target: 'checkpoint' });
      else corpus.configs.push({ name, bytes, target: name.startsWith('decoder') ? 'decoder-config' : name.startsWith('prior') ? 'prior-config' : 'model-load-config' });
    }
  }
  if (corpus.pthZip.length === 0 || corpus.safetensors.length === 0 || corpus.configs.length === 0) {
    throw new Error(`fuzz corpus incomplete: demo model not found in ${dirs.join(', ')}`);
  }
  return corpus;
}

/** Case `index` of run `seed`; formats are taken in turn so every format gets its share. */
export function makeCase(corpus: Corpus, seed: number, index: number, formats: readonly Format[] = FORMATS): FuzzCase {
  const rng = caseRng(seed, index);
  const format = formats[index % formats.length];
  const made = format === 'pth' ? pthCase(rng, corpus) : format === 'safetensors' ? safetensorsCase(rng, corpus) : format === 'config' ? configCase(rng, corpus) : imageFile(rng, corpus);
  return { index, format, ...made };
}

type Made = Omit<FuzzCase, 'index' | 'format'>;

function pthCase(rng: Rng, corpus: Corpus): Made {
  if (corpus.pthLegacy.length > 0 && rng.chance(0.2)) {
    const base = rng.pick(corpus.pthLegacy);
    const head = 1 << 20; // the pickles sit at the front, the storages after them
    const how = rng.pick(['truncated', 'pickle-splice', 'pickle-bytes'] as const);
    const bytes =
      how === 'truncated' ? truncate(rng, base.bytes)
      : how === 'pickle-splice' ? concat([spliceOpcodes(rng, base.bytes.subarray(0, head)), base.bytes.subarray(head)])
      : mutateBytes(rng, base.bytes, 0, 1 << 16);
    return { kind: `${base.name}:legacy-${how}`, target: 'checkpoint', name: base.name, bytes, mustRefuse: false };
  }
  const base = rng.pick(corpus.pthZip);
  const parts = readZip(base.bytes);
  const pklIndex = parts.findIndex((p) => p.name.endsWith('/data.pkl'));
  const archive = parts[pklIndex].name.slice(0, -'/data.pkl'.length);
  const withPkl = (pkl: Uint8Array) => writeZip(parts.map((p, i) => (i === pklIndex ? { name: p.name, data: pkl } : p)));
  const made = (how: string, bytes: Uint8Array, mustRefuse = false): Made => ({ kind: `${base.name}:${how}`, target: 'checkpoint', name: base.name, bytes, mustRefuse });
  switch (rng.int(0, 7)) {
    case 0: return made('pickle-bytes', withPkl(mutateBytes(rng, parts[pklIndex].data)));
    case 1: return made('pickle-splice', withPkl(spliceOpcodes(rng, parts[pklIndex].data)));
    case 2: case 3: {
      const storage0 = parts.find((p) => p.name === `${archive}/data/0`);
      const h = hostilePickle(rng, storage0 === undefined ? 1 : Math.max(1, Math.floor(storage0.data.length / 4)));
      return made(`hostile-${h.kind}`, withPkl(h.bytes), h.kind === 'stride0' || h.kind === 'long-string');
    }
    case 4: { // zip records: somewhere in the central directory / end records, or a local header
      const rebuilt = writeZip(parts);
      const cdStart = new DataView(rebuilt.buffer).getUint32(rebuilt.length - 6, true);
      if (rng.chance(0.5)) return made('zip-directory', mutateBytes(rng, rebuilt, cdStart, rebuilt.length));
      const entry = rng.int(0, parts.length);
      let at = 0;
      for (let i = 0; i < entry; i++) at += 30 + new TextEncoder().encode(parts[i].name).length + 4 + 64 + parts[i].data.length; // approximate
      return made('zip-local-header', mutateBytes(rng, rebuilt, Math.min(at, cdStart - 1), Math.min(at + 128, cdStart)));
    }
    case 5: { // entries renamed, dropped or duplicated
      const victim = rng.int(0, parts.length);
      const edited = parts.map((p) => ({ ...p }));
      const how = rng.pick(['rename', 'drop', 'duplicate', 'swap-data'] as const);
      if (how === 'rename') edited[victim].name = rng.pick([`${archive}/data/0`, `${archive}/data.pkl`, '../evil', `${archive}/data/${rng.int(0, 1e6)}`]);
      else if (how === 'drop') edited.splice(victim, 1);
      else if (how === 'duplicate') edited.push({ ...edited[victim] });
      else edited[victim].data = edited[rng.int(0, parts.length)].data;
      return made(`zip-entries-${how}`, writeZip(edited));
    }
    default: return made('truncated', truncate(rng, base.bytes));
  }
}

function safetensorsCase(rng: Rng, corpus: Corpus): Made {
  const base = rng.pick(corpus.safetensors);
  const len = Number(new DataView(base.bytes.buffer, base.bytes.byteOffset).getBigUint64(0, true));
  const header = new TextDecoder().decode(base.bytes.subarray(8, 8 + len));
  const data = base.bytes.subarray(8 + len);
  const made = (how: string, bytes: Uint8Array): Made => ({ kind: `${base.name}:${how}`, target: 'checkpoint', name: base.name, bytes, mustRefuse: false });
  const withHeader = (text: string) => {
    const json = new TextEncoder().encode(text);
    const prefix = new Uint8Array(8);
    new DataView(prefix.buffer).setBigUint64(0, BigInt(json.length), true);
    return concat([prefix, json, data]);
  };
  switch (rng.int(0, 5)) {
    case 0: case 1: return made('header-json', withHeader(mutateJsonText(rng, header)));
    case 2: return made('header-bytes', mutateBytes(rng, base.bytes, 0, 8 + len));
    case 3: { // a tensor entry duplicated under its own name (JSON.parse would keep the last)
      const m = /^\{("[^"]+":\{[^}]*\})/.exec(header.startsWith('{"__metadata__"') ? header.replace(/^\{"__metadata__":\{[^}]*\},/, '{') : header);
      const text = m === null ? header : `{${m[1]},${header.slice(1)}`;
      return { ...made('duplicate-name', withHeader(text)), mustRefuse: m !== null };
    }
    default: return made('truncated', truncate(rng, base.bytes));
  }
}

function configCase(rng: Rng, corpus: Corpus): Made {
  const base = rng.pick(corpus.configs);
  const text = new TextDecoder().decode(base.bytes);
  const mutated = rng.chance(0.8) ? new TextEncoder().encode(mutateJsonText(rng, text)) : mutateBytes(rng, base.bytes);
  return { kind: `${base.name}:${mutated.length > 0 ? 'json' : 'empty'}`, target: base.target, name: base.name, bytes: mutated, mustRefuse: false };
}

function imageFile(rng: Rng, corpus: Corpus): Made {
  const c = imageCase(rng, corpus.images);
  const mustRefuse = c.kind === 'svg-as-raster' || c.kind === 'tiff-as-raster' || c.kind === 'forged-png-size';
  return { kind: c.kind, target: 'image', name: `input${c.ext}`, bytes: c.bytes, mustRefuse };
}
