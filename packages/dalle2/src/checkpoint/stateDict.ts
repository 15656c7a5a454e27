import type { PthCheckpoint } from './checkpoint.js';
import { PthError } from './errors.js';
import { PthTensor } from './tensor.js';
import { joinKey } from './validate.js';
import { PthTorchDType, PthVersion, type PthDict, type PthValue } from './values.js';

/**
 * How a checkpoint is laid out: LAION decoder files wrap the weights as
 * `{config, version, model}` (also accepted: a `state_dict` member, as trainers write),
 * prior files are a bare state dict.
 */
export type PthLayout =
  | { kind: 'wrapped'; modelKey: string; model: PthDict; config: PthValue | undefined; version: string | undefined }
  | { kind: 'bare'; model: PthValue };

const MODEL_KEYS = ['model', 'state_dict'] as const;

export function checkpointLayout(root: PthValue): PthLayout {
  if (root instanceof Map && ![...root.values()].some((v) => v instanceof PthTensor)) {
    for (const modelKey of MODEL_KEYS) {
      const model = root.get(modelKey);
      if (!(model instanceof Map)) continue;
      const version = root.get('version');
      const versionText = version instanceof PthVersion || typeof version === 'string' ? String(version) : undefined;
      return { kind: 'wrapped', modelKey, model, config: root.get('config'), version: versionText };
    }
  }
  return { kind: 'bare', model: root };
}

/**
 * Tensors of a (nested) dict flattened to dotted names, in file order. Without `path` the
 * model part of a `{config, version, model}` checkpoint is used, else the whole object;
 * `path` (dotted, e.g. `model` or `ema.model`) selects a sub-object explicitly. Non-tensor
 * leaves are skipped; a container referenced twice contributes its tensors under its first path.
 */
export function stateDict(obj: PthValue | PthCheckpoint, path?: string): Map<string, PthTensor> {
  const isCheckpoint = isPthCheckpoint(obj);
  const root = isCheckpoint ? obj.root : obj;
  const file = isCheckpoint ? obj.path : '<checkpoint>';
  const start = path === undefined ? checkpointLayout(root).model : lookup(root, path, file);
  const out = new Map<string, PthTensor>();
  // Each container is walked once, under its first key path: a pickle can share sub-objects (the
  // memo), and re-walking every reference is exponential in the nesting (a 1 KB file, ~2^40 paths).
  // Once-only also stops cycles, though validated trees have none.
  const seen = new Set<object>();
  const walk = (x: PthValue, prefix: string): void => {
    if (x instanceof PthTensor) {
      if (out.has(prefix)) throw new PthError(file, 'two tensors flatten to the same name', { keyPath: prefix });
      out.set(prefix, x);
    } else if ((x instanceof Map || Array.isArray(x)) && !seen.has(x)) {
      seen.add(x);
      if (x instanceof Map) for (const [k, v] of x) walk(v, joinKey(prefix, String(k)));
      else x.forEach((v, i) => walk(v, joinKey(prefix, String(i))));
    }
  };
  walk(start, '');
  return out;
}

function isPthCheckpoint(x: PthValue | PthCheckpoint): x is PthCheckpoint {
  return typeof x === 'object' && x !== null && 'root' in x && 'format' in x;
}

/** Follows a dotted path; dict keys may themselves contain dots, so the longest match wins. */
function lookup(root: PthValue, path: string, file: string): PthValue {
  const parts = path === '' ? [] : path.split('.');
  let node = root;
  for (let i = 0; i < parts.length; ) {
    let next: { value: PthValue; used: number } | undefined;
    for (let j = parts.length; j > i && next === undefined; j--) {
      const key = parts.slice(i, j).join('.');
      if (node instanceof Map) {
        if (node.has(key)) next = { value: node.get(key) as PthValue, used: j };
        else if (/^-?\d+$/.test(key) && node.has(Number(key))) next = { value: node.get(Number(key)) as PthValue, used: j };
      } else if (Array.isArray(node) && j === i + 1 && /^\d+$/.test(key) && Number(key) < node.length) {
        next = { value: node[Number(key)], used: j };
      }
    }
    if (next === undefined) throw new PthError(file, `no such key "${parts[i]}"`, { keyPath: parts.slice(0, i + 1).join('.') });
    node = next.value;
    i = next.used;
  }
  return node;
}

/** JSON-friendly form of a value (e.g. a decoder `config`): Maps become objects, versions and dtypes strings, tensors `{dtype, shape}`. */
export type PlainValue = null | boolean | number | string | PlainValue[] | { [key: string]: PlainValue };

export interface ToPlainOptions {
  /** File named in errors. */
  file?: string;
  /** Most values produced; shared sub-objects are copied at each use, so this bounds the expansion. */
  maxValues?: number;
}

/** Enough for any real config (LAION's decoder config is a few hundred values; config files are bounded alike). */
export const DEFAULT_MAX_PLAIN_VALUES = 100_000;

/**
 * Objects are built with a null prototype, so a `__proto__` key is an ordinary key. A value that
 * expands past `maxValues` (sub-objects shared many times over) is a PthError, not a hang.
 */
export function toPlain(value: PthValue, opts: ToPlainOptions = {}): PlainValue {
  const file = opts.file ?? '<checkpoint>';
  const max = opts.maxValues ?? DEFAULT_MAX_PLAIN_VALUES;
  let count = 0;
  const spend = (n: number, path: string): void => {
    count += n;
    if (count > max) {
      throw new PthError(file, `value expands to more than ${max} values (sub-objects shared many times over?)`, { keyPath: path || '<root>' });
    }
  };
  const convert = (v: PthValue, path: string): PlainValue => {
    spend(1, path);
    if (v === null || typeof v === 'boolean' || typeof v === 'number' || typeof v === 'string') return v;
    if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
    if (v instanceof PthVersion || v instanceof PthTorchDType) return v.toString();
    if (v instanceof PthTensor) return { dtype: v.dtype, shape: [...v.shape] };
    if (v instanceof Uint8Array) {
      spend(v.length, path);
      return Array.from(v);
    }
    if (Array.isArray(v)) return v.map((x, i) => convert(x, joinKey(path, String(i))));
    const out = Object.create(null) as { [key: string]: PlainValue };
    for (const [k, x] of v) out[String(k)] = convert(x, joinKey(path, String(k)));
    return out;
  };
  return convert(value, '');
}
