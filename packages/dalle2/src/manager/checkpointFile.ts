// One interface over the checkpoint files a ModelLoadConfig can name: PyTorch `.pth` (zip or legacy,
// bare state dict or LAION's `{config, version, model}`) and safetensors (format told by the file's
// bytes, not its name). Tensors stay in the file until read; reads widen f16/bf16 to f32.
import { open } from 'node:fs/promises';
import { SafetensorsFile, type Runtime } from '@dalle2/tensor';
import { Weights, type HostWeight } from '@dalle2/models';
import { readPth, toPlain, type PlainValue, type PthCheckpoint, type PthTensor } from '../checkpoint/index.js';
import { jsonBoundsIssue } from '../config/index.js';

export type CheckpointFormat = 'pth-zip' | 'pth-legacy' | 'safetensors';

/** What one tensor of a checkpoint looks like, before reading it. */
export interface CheckpointTensorInfo {
  dtype: string;
  shape: readonly number[];
}

export interface CheckpointFile {
  readonly path: string;
  readonly format: CheckpointFormat;
  /** `config` stored with the weights (LAION decoder files), as plain JSON; undefined for bare state dicts. */
  readonly config: PlainValue | undefined;
  /** `version` stored with the weights (e.g. "1.1.0"); undefined when absent. */
  readonly version: string | undefined;
  /** True for `{config?, version?, model}` wrappers. */
  readonly wrapped: boolean;
  /** State-dict keys in file order. */
  keys(): string[];
  info(key: string): CheckpointTensorInfo;
  /** One tensor as float32 host data. */
  read(key: string): Promise<HostWeight>;
  close(): Promise<void>;
}

export class CheckpointFormatError extends Error {
  override name = 'CheckpointFormatError';
}

/** An embedded config, bounded in size and depth like a config file (its parsers recurse over it). */
function boundedConfig(doc: PlainValue, path: string): PlainValue {
  const issue = jsonBoundsIssue(doc);
  if (issue !== undefined) throw new CheckpointFormatError(`${path}: embedded config: ${issue.path}: ${issue.message}`);
  return doc;
}

/** Sniffs the first bytes: zip (`PK`), pickle protocol 2+ (0x80) or a safetensors header. */
async function sniff(path: string): Promise<CheckpointFormat | undefined> {
  const fh = await open(path, 'r');
  try {
    const head = new Uint8Array(16);
    const { bytesRead } = await fh.read(head, 0, 16, 0);
    // safetensors first: its u64 little-endian header length may itself start with 0x80 or "PK" (a
    // header of 128 + 256k bytes), while byte 8 of a zip or legacy .pth is never "{".
    if (bytesRead >= 9 && head[8] === 0x7b && head[6] === 0 && head[7] === 0) return 'safetensors';
    if (bytesRead >= 2 && head[0] === 0x50 && head[1] === 0x4b) return 'pth-zip';
    if (bytesRead >= 1 && head[0] === 0x80) return 'pth-legacy';
    return undefined;
  } finally {
    await fh.close();
  }
}

/** Opens a checkpoint of any supported format. `label` (e.g. the config's JSON path) prefixes errors. */
export async function openCheckpoint(path: string, label?: string): Promise<CheckpointFile> {
  const format = await sniff(path);
  const where = label ? `${label}: ` : '';
  if (format === undefined) {
    throw new CheckpointFormatError(`${where}${path} is neither a PyTorch checkpoint (.pth) nor a safetensors file`);
  }
  if (format === 'safetensors') {
    const st = await SafetensorsFile.open(path);
    return closingOnError(st, () => new SafetensorsCheckpoint(st));
  }
  const ck = await readPth(path);
  return closingOnError(ck, () => PthCheckpointFile.create(ck));
}

/** Wraps an opened file; if wrapping fails (e.g. a refused embedded config) the file is closed first. */
async function closingOnError<T>(opened: { close(): Promise<void> }, wrap: () => T): Promise<T> {
  try {
    return wrap();
  } catch (err) {
    await opened.close();
    throw err;
  }
}

class SafetensorsCheckpoint implements CheckpointFile {
  readonly format = 'safetensors';
  readonly wrapped = false;
  readonly config: PlainValue | undefined;
  readonly version: string | undefined;

  constructor(private readonly file: SafetensorsFile) {
    // Optional metadata some exporters write; never required.
    const meta = file.metadata;
    this.version = meta.version;
    this.config = undefined;
    if (meta.config !== undefined) {
      try {
        this.config = JSON.parse(meta.config) as PlainValue;
      } catch {
        this.config = undefined;
      }
      if (this.config !== undefined) this.config = boundedConfig(this.config, file.path);
    }
  }

  get path(): string {
    return this.file.path;
  }

  keys(): string[] {
    return this.file.keys();
  }

  info(key: string): CheckpointTensorInfo {
    const i = this.file.info(key);
    return { dtype: i.dtype, shape: i.shape };
  }

  async read(key: string): Promise<HostWeight> {
    return { shape: [...this.file.info(key).shape], data: await this.file.readFloat32(key) };
  }

  close(): Promise<void> {
    return this.file.close();
  }
}

class PthCheckpointFile implements CheckpointFile {
  private constructor(
    private readonly ck: PthCheckpoint,
    private readonly tensors: Map<string, PthTensor>,
    readonly config: PlainValue | undefined,
    readonly version: string | undefined,
    readonly wrapped: boolean,
  ) {}

  static create(ck: PthCheckpoint): PthCheckpointFile {
    const layout = ck.layout();
    const wrapped = layout.kind === 'wrapped';
    const config = wrapped && layout.config !== undefined && layout.config !== null ? boundedConfig(toPlain(layout.config, { file: ck.path }), ck.path) : undefined;
    const version = wrapped ? layout.version : undefined;
    return new PthCheckpointFile(ck, ck.stateDict(), config, version, wrapped);
  }

  get path(): string {
    return this.ck.path;
  }

  get format(): CheckpointFormat {
    return this.ck.format === 'zip' ? 'pth-zip' : 'pth-legacy';
  }

  keys(): string[] {
    return [...this.tensors.keys()];
  }

  private tensor(key: string): PthTensor {
    const t = this.tensors.get(key);
    if (!t) throw new CheckpointFormatError(`${this.path}: no tensor "${key}"`);
    return t;
  }

  info(key: string): CheckpointTensorInfo {
    const t = this.tensor(key);
    return { dtype: t.dtype, shape: t.shape };
  }

  async read(key: string): Promise<HostWeight> {
    const t = this.tensor(key);
    return { shape: [...t.shape], data: await t.readFloat32() };
  }

  close(): Promise<void> {
    return this.ck.close();
  }
}

/**
 * Builds a model over the checkpoint's shapes alone (`Weights.shapesOnly`), so a checkpoint that does
 * not fit the model (missing or misshapen weights) fails by weight name before any tensor data is read.
 * `build` gets the shapes of the keys passing `select` and must only construct the model.
 */
export function checkShapesFirst(rt: Runtime, file: CheckpointFile, select: (key: string) => boolean, build: (w: Weights) => void): void {
  const shapes = file.keys().filter(select).map((k): [string, readonly number[]] => [k, file.info(k).shape]);
  const probe = Weights.shapesOnly(rt, shapes, file.path);
  try {
    build(probe);
  } finally {
    probe.dispose();
  }
}

/** Reads the tensors whose keys pass `select` (which may rename them; undefined = skip). */
export async function readTensors(file: CheckpointFile, select: (key: string) => string | undefined): Promise<Map<string, HostWeight>> {
  const out = new Map<string, HostWeight>();
  for (const key of file.keys()) {
    const name = select(key);
    if (name !== undefined) out.set(name, await file.read(key));
  }
  return out;
}

/** Counts tensors per dtype among keys that pass `filter` (for reports: "F32 x 120, F16 x 4"). */
export function dtypeSummary(file: CheckpointFile, filter: (key: string) => boolean = () => true): Record<string, number> {
  const out: Record<string, number> = {};
  for (const key of file.keys()) {
    if (!filter(key)) continue;
    const d = file.info(key).dtype;
    out[d] = (out[d] ?? 0) + 1;
  }
  return out;
}
