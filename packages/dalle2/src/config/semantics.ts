// Cross-field checks on the raw JSON: decoder unet sources must supply 1..N exactly once (upstream's
// verify_unet_numbers_valid) and per-unet lists must have one entry per unet. They read the raw value
// defensively so they still run when zod found unrelated problems elsewhere.
import { MAX_UNET_NUMBER } from './schema.js';
import type { ConfigIssue } from './types.js';

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v);
// Out-of-range numbers are the schema's to report; coverage is only checked over 1..MAX_UNET_NUMBER.
const isUnetNumber = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= MAX_UNET_NUMBER;

/** All checks; returns issues in source order. */
export function checkSemantics(raw: unknown): ConfigIssue[] {
  if (!isObject(raw) || !isObject(raw.decoder) || !Array.isArray(raw.decoder.unet_sources)) return [];
  const sources = raw.decoder.unet_sources as unknown[];
  const issues: ConfigIssue[] = [];
  sources.forEach((s, i) => issues.push(...checkListLengths(s, i)));
  issues.push(...checkUnetCoverage(sources, raw.decoder.final_unet_number));
  return issues;
}

/** `default_sample_timesteps` / `default_cond_scale` give one value per unet in `unet_numbers`. */
function checkListLengths(source: unknown, index: number): ConfigIssue[] {
  if (!isObject(source) || !Array.isArray(source.unet_numbers)) return [];
  const count = source.unet_numbers.length;
  const issues: ConfigIssue[] = [];
  for (const key of ['default_sample_timesteps', 'default_cond_scale'] as const) {
    const list = source[key];
    if (!Array.isArray(list) || list.length === count) continue;
    issues.push({
      path: `decoder.unet_sources[${index}].${key}`,
      message: `has ${list.length} entr${list.length === 1 ? 'y' : 'ies'} but unet_numbers lists ${count} unet${count === 1 ? '' : 's'} (one value per unet, same order)`,
    });
  }
  return issues;
}

/** Every unet 1..N supplied exactly once across sources; names duplicates and gaps. */
function checkUnetCoverage(sources: readonly unknown[], declaredFinal: unknown): ConfigIssue[] {
  const lists = sources.map((s) => (isObject(s) && Array.isArray(s.unet_numbers) ? s.unet_numbers : undefined));
  // A malformed list is already reported by the schema; coverage messages on top would be noise.
  if (lists.some((l) => l === undefined || l.length === 0 || !l.every(isUnetNumber))) return [];
  const issues: ConfigIssue[] = [];
  const owner = new Map<number, number>();
  (lists as number[][]).forEach((list, i) => {
    for (const n of list) {
      const first = owner.get(n);
      if (first === undefined) {
        owner.set(n, i);
        continue;
      }
      const also = first === i ? 'listed twice in this source' : `also by decoder.unet_sources[${first}]`;
      issues.push({ path: `decoder.unet_sources[${i}].unet_numbers`, message: `unet ${n} is supplied twice (${also})` });
    }
  });
  let final = 0;
  for (const n of owner.keys()) final = Math.max(final, n);
  const missing = range(1, final).filter((n) => !owner.has(n));
  if (missing.length > 0) {
    const found = [...owner.keys()].sort((a, b) => a - b).join(', ');
    issues.push({
      path: 'decoder.unet_sources',
      message: `unet numbers must cover 1..${final} without gaps: missing ${plural('unet', missing)} (supplied: ${found})`,
    });
  }
  if (declaredFinal !== undefined && declaredFinal !== null && declaredFinal !== final) {
    issues.push({
      path: 'decoder.final_unet_number',
      message: `is ${JSON.stringify(declaredFinal)} but the unet sources supply unets up to ${final}`,
    });
  }
  return issues;
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, k) => from + k);
}

function plural(word: string, values: readonly number[]): string {
  return `${word}${values.length === 1 ? '' : 's'} ${values.join(', ')}`;
}
