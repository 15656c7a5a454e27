import { PickleFault } from './cursor.js';
import { Opaque, type Item } from './items.js';

/**
 * Turns the pickled state of a `packaging.version.Version` (dict with `_version`, a 6-tuple
 * in packaging >= 22, or a slots pair) or a `LooseVersion` (`vstring`) into its string.
 */
export function versionFromState(state: Item): string {
  if (state instanceof Map) {
    const vstring = state.get('vstring');
    if (typeof vstring === 'string') return vstring;
    const parts = state.get('_version');
    if (parts !== undefined) return formatParts(partsOf(parts));
    if (state.has('_release')) {
      return formatParts(['_epoch', '_release', '_pre', '_post', '_dev', '_local'].map((k) => state.get(k) ?? null));
    }
  } else if (Array.isArray(state)) {
    if (state.length === 6) return formatParts(state);
    if (state.length === 2) return versionFromState(state[1] instanceof Map ? state[1] : state[0]);
  }
  throw new PickleFault('BUILD: unrecognised version object state');
}

/** `_Version(...)` arrives as an Opaque holding its constructor arguments (or as a plain tuple). */
function partsOf(x: Item): readonly Item[] {
  if (Array.isArray(x)) return x;
  if (x instanceof Opaque) return x.args;
  throw new PickleFault('BUILD: version `_version` is not a tuple');
}

function text(x: Item): string {
  if (typeof x === 'string' || typeof x === 'number' || typeof x === 'bigint') return String(x);
  throw new PickleFault('BUILD: version component is not a string or integer');
}

function seq(x: Item): readonly Item[] {
  if (!Array.isArray(x)) throw new PickleFault('BUILD: version component is not a tuple');
  return x;
}

/** Last element of a `('post', 2)`-style pair, or the number itself. */
function numberOf(x: Item): string {
  return Array.isArray(x) ? text(x[x.length - 1]) : text(x);
}

/** packaging's `Version.__str__`. */
function formatParts(parts: readonly Item[]): string {
  if (parts.length !== 6) throw new PickleFault('BUILD: version tuple must have 6 fields');
  const [epoch, release, pre, post, dev, local] = parts;
  let s = epoch !== null && epoch !== 0 ? `${text(epoch)}!` : '';
  s += seq(release).map(text).join('.');
  if (pre !== null) s += seq(pre).map(text).join('');
  if (post !== null) s += `.post${numberOf(post)}`;
  if (dev !== null) s += `.dev${numberOf(dev)}`;
  if (local !== null) s += `+${seq(local).map(text).join('.')}`;
  return s;
}
