import { fileURLToPath } from 'node:url';
import { loadZipCheckpoint } from './archive.js';
import { PthError } from './errors.js';
import { RandomAccessFile } from './file.js';
import type { Item } from './items.js';
import { loadLegacyCheckpoint } from './legacy.js';
import { checkpointLayout, stateDict, type PthLayout } from './stateDict.js';
import { TensorSource, type PthTensor } from './tensor.js';
import { DEFAULT_PICKLE_LIMITS, type PickleLimits } from './unpickler.js';
import { validateTree, type TreeLimits } from './validate.js';
import type { PthValue } from './values.js';

export interface PthLimits extends PickleLimits, TreeLimits {
  /** Largest pickle (data.pkl, or the legacy main pickle) accepted. */
  maxPickleBytes: number;
  /** Largest zip central directory accepted. */
  maxDirectoryBytes: number;
}

export const DEFAULT_PTH_LIMITS: Readonly<PthLimits> = {
  ...DEFAULT_PICKLE_LIMITS,
  maxDepth: 1000,
  // A JS typed array holds at most 2^32 bytes here, so larger tensors could not be read anyway.
  maxTensorBytes: 2 ** 32,
  // Real data.pkl files are ~200 bytes per tensor (a few MB at most); an inflated or string-stuffed
  // pickle beyond this is refused before it is held in memory.
  maxPickleBytes: 2 ** 26,
  maxDirectoryBytes: 2 ** 28,
};

export interface ReadPthOptions {
  limits?: Partial<PthLimits>;
}

/**
 * An opened checkpoint: the unpickled object tree (tensors are lazy) plus the open file
 * the tensors read from. Call `close()` when done; tensor reads fail afterwards.
 */
export class PthCheckpoint {
  constructor(
    readonly path: string,
    /** `zip` (torch >= 1.6 default) or `legacy` (non-zip serialization). */
    readonly format: 'zip' | 'legacy',
    readonly root: PthValue,
    /** Zip only: the archive's top-level folder name. */
    readonly archiveName: string | undefined,
    private readonly file: RandomAccessFile,
  ) {}

  /** Flattened tensors; see `stateDict()`. */
  stateDict(path?: string): Map<string, PthTensor> {
    return stateDict(this, path);
  }

  /** `{config, version, model}` wrapper or bare state dict; see `checkpointLayout()`. */
  layout(): PthLayout {
    return checkpointLayout(this.root);
  }

  async close(): Promise<void> {
    await this.file.close();
  }
}

/** Opens a `torch.save` checkpoint (zip or legacy format) without executing anything in it. */
export async function readPth(path: string | URL, opts: ReadPthOptions = {}): Promise<PthCheckpoint> {
  const name = typeof path === 'string' ? path : fileURLToPath(path);
  const limits: PthLimits = { ...DEFAULT_PTH_LIMITS, ...opts.limits };
  const file = await RandomAccessFile.open(name);
  try {
    const source = new TensorSource(file);
    const head = await file.read(0, Math.min(4, file.size), 'file header');
    let root: Item;
    let archive: string | undefined;
    if (head[0] === 0x50 && head[1] === 0x4b) {
      ({ root, archive } = await loadZipCheckpoint(file, source, limits));
    } else if (head[0] === 0x80) {
      root = await loadLegacyCheckpoint(file, source, limits);
    } else {
      throw new PthError(name, 'not a torch checkpoint (neither a zip archive nor a pickle)');
    }
    const tree = validateTree(root, source, limits);
    return new PthCheckpoint(name, archive === undefined ? 'legacy' : 'zip', tree, archive, file);
  } catch (err) {
    await file.close();
    throw err;
  }
}
