// Size and depth bounds on raw JSON, checked before anything recursive (zod, our own helpers, error
// formatting) touches it: a hostile config can otherwise overflow the stack (deep nesting), or make a
// validator build hundreds of thousands of issues (long lists). Iterative, so any input is safe here.
import { formatPath } from './errors.js';
import type { ConfigIssue } from './types.js';

export interface JsonBounds {
  /** Deepest nesting of objects/arrays (the root object is depth 1). */
  maxDepth: number;
  /** Most values in the whole document (objects, arrays and scalars). */
  maxValues: number;
  /** Longest array. */
  maxArrayLength: number;
  /** Longest string (keys included). */
  maxStringLength: number;
}

/** A real model load or model config is ~6 levels deep and a few hundred values. */
export const CONFIG_JSON_BOUNDS: Readonly<JsonBounds> = { maxDepth: 32, maxValues: 100_000, maxArrayLength: 10_000, maxStringLength: 65_536 };

/** Largest config file read (real ones are a few KB). */
export const MAX_CONFIG_FILE_BYTES = 16 * 2 ** 20;

interface Frame {
  value: unknown;
  depth: number;
  parent: Frame | undefined;
  key: string | number | undefined;
}

const pathOf = (f: Frame): string => {
  const segs: (string | number)[] = [];
  for (let x: Frame | undefined = f; x !== undefined && x.key !== undefined; x = x.parent) segs.push(x.key);
  return formatPath(segs.reverse());
};

/** The first bound the document breaks, as an issue naming its JSON path; undefined when within bounds. */
export function jsonBoundsIssue(root: unknown, bounds: Readonly<JsonBounds> = CONFIG_JSON_BOUNDS): ConfigIssue | undefined {
  const stack: Frame[] = [{ value: root, depth: 1, parent: undefined, key: undefined }];
  let count = 0;
  while (stack.length > 0) {
    const f = stack.pop() as Frame;
    if (++count > bounds.maxValues) return { path: '(root)', message: `holds more than ${bounds.maxValues} values (a config holds a few hundred)` };
    const v = f.value;
    if (typeof v === 'string' && v.length > bounds.maxStringLength) {
      return { path: pathOf(f), message: `string of ${v.length} characters (limit ${bounds.maxStringLength})` };
    }
    if (v === null || typeof v !== 'object') continue;
    if (f.depth > bounds.maxDepth) return { path: pathOf(f), message: `nested deeper than ${bounds.maxDepth} levels` };
    if (Array.isArray(v)) {
      if (v.length > bounds.maxArrayLength) return { path: pathOf(f), message: `lists ${v.length} entries (limit ${bounds.maxArrayLength})` };
      for (let i = v.length - 1; i >= 0; i--) stack.push({ value: v[i] as unknown, depth: f.depth + 1, parent: f, key: i });
    } else {
      for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
        if (k.length > bounds.maxStringLength) return { path: pathOf(f), message: `key of ${k.length} characters (limit ${bounds.maxStringLength})` };
        stack.push({ value: x, depth: f.depth + 1, parent: f, key: k });
      }
    }
  }
  return undefined;
}
