// Strict state-dict loading for models built from a config (x-clip, CoCa), like torch's
// `load_state_dict(strict=True)`: every expected key present with its shape, nothing unexpected. All
// problems are reported in one error, each with its key.
import { shapeStr } from '@dalle2/tensor';
import { WeightError, type Weights } from '../weights.js';

/** Expected key -> shape, in module order. */
export type StateDictSpec = Map<string, readonly number[]>;

const list = (items: string[]) => items.slice(0, 12).join('; ') + (items.length > 12 ? `; ... (${items.length} in all)` : '');

/** Checks `weights` against `spec` and marks every key used; throws a WeightError naming each problem. */
export function checkStateDict(weights: Weights, spec: StateDictSpec, model: string): void {
  const missing: string[] = [];
  const shapes: string[] = [];
  for (const [key, shape] of spec) {
    if (!weights.has(key)) {
      missing.push(key);
      continue;
    }
    const got = weights.shapeOf(key);
    if (got.length !== shape.length || got.some((d, i) => d !== shape[i])) shapes.push(`"${key}" is ${shapeStr(got)}, expected ${shapeStr(shape)}`);
    else weights.get(key);
  }
  const unexpected = weights.keys().filter((k) => !spec.has(k));
  const problems: string[] = [];
  if (missing.length) problems.push(`missing keys: ${list(missing)}`);
  if (unexpected.length) problems.push(`unexpected keys: ${list(unexpected)}`);
  if (shapes.length) problems.push(`shape mismatches: ${list(shapes)}`);
  if (problems.length) throw new WeightError(`${weights.source}: ${model} state dict does not match its config: ${problems.join('. ')}`);
}
