import { PickleFault } from './cursor.js';
import { GlobalRef, Opaque, describe, toKey, type GlobalKind, type Item, type ItemDict } from './items.js';
import { PthTensor, type TensorSource } from './tensor.js';
import { PthStorage, PthTorchDType, PthVersion, type PthDType } from './values.js';
import { versionFromState } from './version.js';

/** The only Python globals a checkpoint may name; nothing is ever looked up or executed by name. */
const FIXED: ReadonlyMap<string, GlobalKind> = new Map<string, GlobalKind>([
  ['collections.OrderedDict', 'OrderedDict'],
  ['torch._utils._rebuild_tensor_v2', 'rebuild_tensor_v2'],
  ['torch._utils._rebuild_parameter', 'rebuild_parameter'],
  ['torch.Size', 'Size'],
  ['packaging.version.Version', 'Version'],
  ['distutils.version.LooseVersion', 'Version'],
  // Pickled Version objects (packaging < 22) carry these inside their state.
  ['packaging.version._Version', 'VersionParts'],
  ['packaging._structures.InfinityType', 'Infinity'],
  ['packaging._structures.NegativeInfinityType', 'Infinity'],
  ['torch.UntypedStorage', 'storage'],
  ['torch.storage.UntypedStorage', 'storage'],
  ['torch.TypedStorage', 'storage'],
  ['torch.storage.TypedStorage', 'storage'],
]);

const STORAGE_DTYPES: Readonly<Record<string, PthDType>> = {
  FloatStorage: 'F32',
  HalfStorage: 'F16',
  BFloat16Storage: 'BF16',
  DoubleStorage: 'F64',
  LongStorage: 'I64',
  IntStorage: 'I32',
  ShortStorage: 'I16',
  CharStorage: 'I8',
  ByteStorage: 'U8',
  BoolStorage: 'BOOL',
};

const TORCH_DTYPES: Readonly<Record<string, PthDType>> = {
  float32: 'F32', float: 'F32', float16: 'F16', half: 'F16', bfloat16: 'BF16', float64: 'F64', double: 'F64',
  int64: 'I64', long: 'I64', int32: 'I32', int: 'I32', int16: 'I16', short: 'I16', int8: 'I8', uint8: 'U8', bool: 'BOOL',
};

const has = (o: object, k: string): boolean => Object.prototype.hasOwnProperty.call(o, k);

/** GLOBAL / STACK_GLOBAL: an allowed tag, or a refusal naming the global. */
export function resolveGlobal(module: string, name: string): GlobalRef | PthTorchDType {
  const qualname = `${module}.${name}`;
  const kind = FIXED.get(qualname);
  if (kind !== undefined) return new GlobalRef(qualname, kind, name === 'UntypedStorage' ? 'U8' : undefined);
  if (module === 'torch' && has(STORAGE_DTYPES, name)) return new GlobalRef(qualname, 'storage', STORAGE_DTYPES[name]);
  if (module === 'torch' && has(TORCH_DTYPES, name)) return new PthTorchDType(qualname, TORCH_DTYPES[name]);
  throw new PickleFault(`refusing to unpickle global "${qualname}" (only torch tensor/storage rebuilders, OrderedDict and version objects are allowed)`);
}

function asArgs(args: Item, what: string): Item[] {
  if (!Array.isArray(args)) throw new PickleFault(`${what}: arguments must be a tuple, got ${describe(args)}`);
  return args;
}

/** REDUCE: call an allowed global with a tuple of arguments. */
export function callGlobal(fn: Item, argsItem: Item, source: TensorSource): Item {
  if (!(fn instanceof GlobalRef)) throw new PickleFault(`REDUCE: cannot call ${describe(fn)}`);
  const args = asArgs(argsItem, fn.qualname);
  switch (fn.kind) {
    case 'OrderedDict': return orderedDict(args);
    case 'rebuild_tensor_v2': return rebuildTensor(args, source);
    case 'rebuild_parameter': {
      if (args.length < 1 || !(args[0] instanceof PthTensor)) throw new PickleFault(`${fn.qualname}: first argument must be a tensor`);
      return args[0];
    }
    case 'Size': return intList(args[0], `${fn.qualname} argument`).slice();
    case 'Version':
      if (args.length === 1 && typeof args[0] === 'string') return new PthVersion(args[0]);
      break;
    case 'VersionParts':
    case 'Infinity':
      return new Opaque(fn.qualname, args);
    case 'storage':
      break;
  }
  throw new PickleFault(`REDUCE: refusing to call ${fn.qualname} with these arguments`);
}

/** NEWOBJ: `cls.__new__(cls, *args)` for the few classes pickled that way. */
export function newObject(cls: Item, argsItem: Item): Item {
  if (!(cls instanceof GlobalRef)) throw new PickleFault(`NEWOBJ: ${describe(cls)} is not a class`);
  const args = asArgs(argsItem, cls.qualname);
  switch (cls.kind) {
    case 'OrderedDict':
      if (args.length === 0) return new Map();
      break;
    case 'Version':
      if (args.length === 0) return new PthVersion('');
      break;
    case 'VersionParts':
    case 'Infinity':
      return new Opaque(cls.qualname, args);
    default:
      break;
  }
  throw new PickleFault(`NEWOBJ: refusing to instantiate ${cls.qualname}`);
}

/** BUILD: only OrderedDict attributes (ignored) and version state are accepted. */
export function buildObject(target: Item, state: Item): void {
  if (target instanceof Map) {
    // state_dict() OrderedDicts carry `_metadata` in their __dict__; it is not needed for inference.
    if (state === null || state instanceof Map || (Array.isArray(state) && state.length === 2)) return;
    throw new PickleFault(`BUILD: unexpected ${describe(state)} state for a dict`);
  }
  if (target instanceof PthVersion) {
    PthVersion.fill(target, versionFromState(state));
    return;
  }
  throw new PickleFault(`BUILD: refusing to set state on ${describe(target)}`);
}

function orderedDict(args: Item[]): ItemDict {
  const out: ItemDict = new Map();
  if (args.length === 0 || args[0] === null) return out;
  for (const pair of asArgs(args[0], 'OrderedDict items')) {
    const kv = asArgs(pair, 'OrderedDict item');
    if (kv.length !== 2) throw new PickleFault('OrderedDict items must be (key, value) pairs');
    out.set(toKey(kv[0]), kv[1]);
  }
  return out;
}

function nonNegativeInt(x: Item, what: string): number {
  if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < 0) throw new PickleFault(`${what} must be a non-negative integer, got ${String(x)}`);
  return x;
}

function intList(x: Item, what: string): number[] {
  return asArgs(x, what).map((d, i) => nonNegativeInt(d, `${what}[${i}]`));
}

/** `_rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])`. */
function rebuildTensor(args: Item[], source: TensorSource): PthTensor {
  const what = 'torch._utils._rebuild_tensor_v2';
  if (args.length < 6 || args.length > 7) throw new PickleFault(`${what}: expected 6 or 7 arguments, got ${args.length}`);
  const [storage, offsetItem, sizeItem, strideItem, , hooks] = args;
  if (!(storage instanceof PthStorage)) throw new PickleFault(`${what}: first argument must be a storage, got ${describe(storage)}`);
  const offset = nonNegativeInt(offsetItem, `${what} storage_offset`);
  const shape = intList(sizeItem, `${what} size`);
  const stride = intList(strideItem, `${what} stride`);
  if (stride.length !== shape.length) throw new PickleFault(`${what}: size ${JSON.stringify(shape)} and stride ${JSON.stringify(stride)} differ in rank`);
  if (hooks !== null && !(hooks instanceof Map && hooks.size === 0)) throw new PickleFault(`${what}: backward hooks are not supported`);
  let numel = 1;
  let extent = offset + storage.baseOffset + 1;
  for (let d = 0; d < shape.length; d++) {
    numel *= shape[d];
    extent += Math.max(0, shape[d] - 1) * stride[d];
  }
  if (!Number.isSafeInteger(numel) || !Number.isSafeInteger(extent)) {
    throw new PickleFault(`${what}: size ${JSON.stringify(shape)} / stride ${JSON.stringify(stride)} overflow`);
  }
  return new PthTensor(source, storage, offset, shape, stride);
}

/** BINPERSID: `('storage', storage_type, key, location, numel[, view_metadata | dtype])`. */
export function storageFromPersistentId(pid: Item): PthStorage {
  const what = 'persistent id';
  const t = asArgs(pid, what);
  if (t.length < 5 || t[0] !== 'storage') throw new PickleFault(`${what}: expected ('storage', type, key, location, numel), got ${describe(pid)} of length ${t.length}`);
  const [, type, keyItem, , numelItem, ...extra] = t;
  let dtype = type instanceof GlobalRef && type.kind === 'storage' ? type.dtype : type instanceof PthTorchDType ? type.dtype : undefined;
  if (!(type instanceof GlobalRef && type.kind === 'storage') && !(type instanceof PthTorchDType)) {
    throw new PickleFault(`${what}: ${describe(type)} is not a storage type`);
  }
  if (typeof keyItem !== 'string' && typeof keyItem !== 'number') throw new PickleFault(`${what}: storage key must be a string`);
  let numel = nonNegativeInt(numelItem, `${what} numel`);
  let baseOffset = 0;
  for (const x of extra) {
    if (x instanceof PthTorchDType) dtype ??= x.dtype;
    else if (Array.isArray(x) && x.length === 3) {
      // Legacy view_metadata: (view_key, offset, size) into the root storage.
      baseOffset = nonNegativeInt(x[1], `${what} view offset`);
      numel = nonNegativeInt(x[2], `${what} view size`);
    } else if (x !== null) throw new PickleFault(`${what}: unexpected trailing ${describe(x)}`);
  }
  if (dtype === undefined) throw new PickleFault(`${what}: ${describe(type)} without a dtype`);
  return new PthStorage(String(keyItem), dtype, numel, baseOffset);
}
