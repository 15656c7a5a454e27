import { PthError } from './errors.js';
import { GlobalRef, Opaque, describe, type Item } from './items.js';
import { PthTensor, type TensorSource } from './tensor.js';
import { PTH_DTYPE_SIZES, PthStorage, type PthValue } from './values.js';

export interface TreeLimits {
  /** Deepest container nesting accepted. */
  maxDepth: number;
  /** Largest tensor (contiguous bytes) accepted; bounds what a read may allocate. */
  maxTensorBytes: number;
  /**
   * Most bytes all tensors together may view (what reading every tensor allocates). Views may share
   * storage (tied weights), so this exceeds the file size, but many views of one storage must not
   * turn a small file into gigabytes. Default (undefined): 4x the file size + 64 MiB.
   */
  maxTotalTensorBytes?: number;
}

/** Default of `maxTotalTensorBytes` for a file of `fileSize` bytes. */
export const defaultMaxTotalTensorBytes = (fileSize: number): number => 4 * fileSize + 2 ** 26;

/** Joins key path segments the way state dict keys are written. */
export function joinKey(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

/**
 * Walks the unpickled tree once: names every tensor by its first key path, checks that its
 * storage exists and holds every element it views, and rejects cycles and internal objects
 * (bare globals, storages) so the result is plain PthValue data.
 */
export function validateTree(root: Item, source: TensorSource, limits: TreeLimits): PthValue {
  const file = source.file.path;
  const done = new Set<object>();
  const active = new Set<object>();
  const maxTotal = limits.maxTotalTensorBytes ?? defaultMaxTotalTensorBytes(source.file.size);
  let total = 0;
  const visit = (x: Item, path: string, depth: number): void => {
    const keyPath = path === '' ? '<root>' : path;
    if (depth > limits.maxDepth) throw new PthError(file, `nested deeper than ${limits.maxDepth} levels`, { keyPath });
    if (x instanceof GlobalRef || x instanceof PthStorage || x instanceof Opaque) {
      throw new PthError(file, `unsupported object ${describe(x)} in the checkpoint`, { keyPath });
    }
    if (!(x instanceof Map || Array.isArray(x) || x instanceof PthTensor) || done.has(x)) return;
    if (active.has(x)) throw new PthError(file, 'cyclic reference in the checkpoint', { keyPath });
    active.add(x);
    if (x instanceof PthTensor) {
      checkTensor(x, source, keyPath, limits);
      total += x.byteLength;
      if (total > maxTotal) {
        throw new PthError(file, `tensors view more than ${maxTotal} bytes in all (a ${source.file.size}-byte file; storages reused by many views?)`, { keyPath });
      }
    }
    else if (x instanceof Map) for (const [k, v] of x) visit(v, joinKey(path, String(k)), depth + 1);
    else x.forEach((v, i) => visit(v, joinKey(path, String(i)), depth + 1));
    active.delete(x);
    done.add(x);
  };
  visit(root, '', 0);
  // Every internal item type was rejected above, so the tree is PthValue data.
  return root as PthValue;
}

function checkTensor(t: PthTensor, source: TensorSource, keyPath: string, limits: TreeLimits): void {
  PthTensor.setName(t, keyPath);
  const file = source.file.path;
  const { key, numel: storageNumel, baseOffset } = t.storage;
  const entry = source.table.get(key);
  if (entry === undefined) throw new PthError(file, `storage "${key}" is missing from the file`, { keyPath });
  if (entry.unsupported !== undefined) throw new PthError(file, entry.unsupported, { keyPath });
  if (t.byteLength > limits.maxTensorBytes) {
    throw new PthError(file, `tensor of shape ${JSON.stringify(t.shape)} is ${t.byteLength} bytes (limit ${limits.maxTensorBytes})`, { keyPath });
  }
  if (t.numel === 0) return;
  const { first, end } = t.span();
  const view = `${t.dtype} tensor (offset ${t.storageOffset}, shape ${JSON.stringify(t.shape)}, stride ${JSON.stringify(t.stride)}) needs storage elements [${first}, ${end})`;
  if (end > baseOffset + storageNumel) {
    throw new PthError(file, `${view} but storage "${key}" has ${baseOffset + storageNumel} elements`, { keyPath });
  }
  if (end * PTH_DTYPE_SIZES[t.dtype] > entry.byteLength) {
    throw new PthError(file, `${view} but storage "${key}" holds only ${entry.byteLength} bytes`, { keyPath });
  }
  if (t.byteLength > entry.byteLength) {
    // Overlapping views (stride 0, expand()) can name far more elements than the file holds; reading
    // one would materialise its logical size, so a view may never exceed its storage's real bytes.
    throw new PthError(file, `${t.dtype} tensor of shape ${JSON.stringify(t.shape)} (stride ${JSON.stringify(t.stride)}) is ${t.byteLength} bytes but storage "${key}" holds only ${entry.byteLength}; overlapping views larger than their storage are refused`, { keyPath });
  }
}
