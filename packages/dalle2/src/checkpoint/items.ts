import { PickleFault } from './cursor.js';
import type { PthTensor } from './tensor.js';
import { PthStorage, PthTorchDType, type PthDType, type PthKey, type PthVersion } from './values.js';

/**
 * Unpickler-internal stack items. Globals are tags the unpickler interprets itself; the
 * loader rejects any that survive into the final object tree.
 */
export type GlobalKind =
  | 'OrderedDict'
  | 'rebuild_tensor_v2'
  | 'rebuild_parameter'
  | 'storage'
  | 'Size'
  | 'Version'
  | 'VersionParts'
  | 'Infinity';

export class GlobalRef {
  constructor(
    readonly qualname: string,
    readonly kind: GlobalKind,
    /** Element type for storage classes (undefined for TypedStorage, whose dtype comes separately). */
    readonly dtype?: PthDType,
  ) {}
}

/** Inert stand-ins for packaging internals that version objects drag along. */
export class Opaque {
  constructor(
    readonly qualname: string,
    readonly args: readonly Item[],
  ) {}
}

/** Anything that can sit on the unpickler's stack (containers may hold internal items until validated). */
export type Item =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | Item[]
  | ItemDict
  | PthTensor
  | PthVersion
  | PthTorchDType
  | GlobalRef
  | PthStorage
  | Opaque;
export type ItemDict = Map<PthKey, Item>;

/** Short description of an item for error messages. */
export function describe(x: Item): string {
  if (x instanceof GlobalRef || x instanceof Opaque) return x.qualname;
  if (x instanceof PthTorchDType) return x.name;
  if (x instanceof PthStorage) return 'storage';
  if (x === null) return 'None';
  if (x instanceof Map) return 'dict';
  if (Array.isArray(x)) return 'tuple/list';
  return typeof x === 'object' ? x.constructor.name : typeof x;
}

/** Dict keys must be scalars (Maps compare objects by identity, unlike Python). */
export function toKey(k: Item): PthKey {
  if (k === null || typeof k === 'string' || typeof k === 'number' || typeof k === 'bigint' || typeof k === 'boolean') return k;
  throw new PickleFault(`unsupported dict key of type ${describe(k)}`);
}
