import { DTYPE_SIZES, type SafetensorsDType } from '@dalle2/tensor';
import type { PthTensor } from './tensor.js';

/**
 * Values the unpickler produces. Python dicts (and OrderedDicts) become Maps that keep
 * insertion order, lists and tuples become arrays, ints become numbers (bigint past 2^53),
 * `bytes` become Uint8Arrays, tensors are lazy PthTensors and version objects PthVersions.
 */
export type PthKey = string | number | bigint | boolean | null;
export type PthDict = Map<PthKey, PthValue>;
export type PthValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | PthValue[]
  | PthDict
  | PthTensor
  | PthVersion
  | PthTorchDType;

/** Element types of tensors: the safetensors names and sizes, shared with our safetensors reader. */
export type PthDType = SafetensorsDType;
export const PTH_DTYPE_SIZES: Readonly<Record<PthDType, number>> = DTYPE_SIZES;

/**
 * A `packaging.version.Version` / `distutils.version.LooseVersion` object, reduced to its
 * string form (e.g. the `version` field of LAION decoder checkpoints).
 */
export class PthVersion {
  #version: string;

  constructor(version: string) {
    this.#version = version;
  }

  get version(): string {
    return this.#version;
  }

  toString(): string {
    return this.#version;
  }

  /** Used by the unpickler: the object is created empty (NEWOBJ) and filled by BUILD. */
  static fill(v: PthVersion, version: string): void {
    v.#version = version;
  }
}

/** A torch dtype global such as `torch.float16` (appears in configs and newer storage ids). */
export class PthTorchDType {
  constructor(
    /** Python name, e.g. `torch.float16`. */
    readonly name: string,
    readonly dtype: PthDType,
  ) {}

  toString(): string {
    return this.name;
  }
}

/**
 * A storage named by a persistent id: the tensor bytes live in the zip entry
 * `<archive>/data/<key>` or in the legacy storage section. `baseOffset` (elements) is
 * non-zero only for legacy storage views.
 */
export class PthStorage {
  constructor(
    readonly key: string,
    readonly dtype: PthDType,
    /** Declared element count (of the view, for legacy views). */
    readonly numel: number,
    readonly baseOffset: number,
  ) {}
}
