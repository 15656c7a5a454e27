// JSON mutations at the structure level: a random node replaced by a hostile value (huge numbers, long
// lists, deep nesting, __proto__ keys, duplicate keys...). Deep values are spliced in as text, because
// JSON.stringify itself overflows on them.
import type { Rng } from './rng.js';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

const PLACEHOLDER = '\u0000FUZZ\u0000';

/** Paths of every node, root first. */
function paths(v: Json, at: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  out.push(at);
  if (Array.isArray(v)) v.forEach((x, i) => paths(x, [...at, i], out));
  else if (v !== null && typeof v === 'object') for (const [k, x] of Object.entries(v)) paths(x, [...at, k], out);
  return out;
}

function setAt(root: Json, path: (string | number)[], value: Json): Json {
  if (path.length === 0) return value;
  let node = root as Record<string | number, Json>;
  for (const k of path.slice(0, -1)) node = node[k] as Record<string | number, Json>;
  node[path[path.length - 1]] = value;
  return root;
}

function deepText(rng: Rng): string {
  const n = rng.pick([100, 1000, 10_000, 100_000]);
  return rng.chance(0.5) ? '['.repeat(n) + ']'.repeat(n) : '{"a":'.repeat(n) + '1' + '}'.repeat(n);
}

/** A hostile replacement: a JSON value, or raw text to splice in. */
function hostileValue(rng: Rng): { value: Json } | { text: string } {
  switch (rng.int(0, 12)) {
    case 0: return { value: rng.pick([1e8, 1e9, 2 ** 31, 2 ** 32, 2 ** 53, 1e308, -1, 0, -0.5, 1.5, 64, 65]) };
    case 1: return { value: Array.from({ length: rng.pick([1000, 200_000]) }, (_, i) => i + 1) };
    case 2: return { value: Array.from({ length: rng.pick([1000, 150_000]) }, () => 'x') };
    case 3: return { text: deepText(rng) };
    case 4: return { value: 'x'.repeat(rng.pick([100, 100_000, 1_000_000])) };
    case 5: return { value: rng.pick([null, true, false, '', [], {}]) };
    case 6: return { text: '{"__proto__":{"polluted":1},"constructor":{"prototype":{"x":1}}}' };
    case 7: return { value: rng.pick(['/..', '../../etc/passwd', 'http://127.0.0.1:1/x/..', 'file:///etc/passwd', '\u0000', '.']) };
    case 8: return { text: '1e999' };
    case 9: return { value: [rng.pick([1e308, 2 ** 32, -5]), 1] };
    case 10: return { text: '{"a":1,"a":2}' };
    default: return { value: { load_type: 'url', path: 'http://127.0.0.1:9/m/..', cache_dir: '.' } };
  }
}

/** Keys where hostile values did damage before (issue 15); nodes at or under them are picked more often. */
const HOT_KEYS = new Set(['unet_numbers', 'final_unet_number', 'base_model_kwargs', 'path', 'cache_dir', 'filename_override', 'default_sample_timesteps',
  'default_cond_scale', 'shape', 'dtype', 'data_offsets', 'unets', 'image_sizes', 'dim', 'timesteps', 'dim_mults', '__metadata__']);

/** Text of `base` with 1-3 nodes replaced (or a key dropped/duplicated). */
export function mutateJsonText(rng: Rng, baseText: string): string {
  let doc = JSON.parse(baseText) as Json;
  const texts: string[] = [];
  for (let r = rng.int(1, 4); r > 0; r--) {
    const all = paths(doc);
    const hot = all.filter((p) => p.some((k) => typeof k === 'string' && HOT_KEYS.has(k)));
    const path = rng.pick(hot.length > 0 && rng.chance(0.6) ? hot : all);
    if (path.length > 0 && rng.chance(0.15)) { // drop the key / element
      const parent = path.slice(0, -1).reduce<Json>((n, k) => (n as Record<string | number, Json>)[k], doc);
      if (Array.isArray(parent)) parent.splice(path[path.length - 1] as number, 1);
      else if (parent !== null && typeof parent === 'object') delete parent[path[path.length - 1] as string];
      continue;
    }
    const h = hostileValue(rng);
    if ('value' in h) doc = setAt(doc, path, h.value);
    else {
      texts.push(h.text);
      doc = setAt(doc, path, `${PLACEHOLDER}${texts.length - 1}`);
    }
  }
  let text = JSON.stringify(doc, null, rng.chance(0.5) ? 2 : undefined);
  texts.forEach((t, i) => (text = text.replace(JSON.stringify(`${PLACEHOLDER}${i}`), () => t)));
  return text;
}
