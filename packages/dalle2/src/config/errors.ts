// Turns zod issues into short messages that name the JSON path and say what was found, because the
// person reading them is editing a JSON file, not our schema.
import type * as z from 'zod';
import { allowedKeysAt } from './schema.js';
import type { ConfigIssue } from './types.js';
import { closestWord } from '../util/suggest.js';

const MAX_LISTED = 50;

/** Thrown for an invalid config; `issues` lists every problem found (not just the first). */
export class ConfigError extends Error {
  readonly issues: readonly ConfigIssue[];
  readonly source: string | undefined;

  constructor(issues: readonly ConfigIssue[], source?: string) {
    const where = source ? ` ${source}` : '';
    // The full list stays in `issues`; the message shows the first ones (a hostile file can have 10^5).
    const shown = issues.slice(0, MAX_LISTED).map((i) => `  - ${i.path}: ${i.message}`);
    if (issues.length > MAX_LISTED) shown.push(`  - ... and ${issues.length - MAX_LISTED} more`);
    const lines = shown.join('\n');
    super(`Invalid model load config${where} (${issues.length} problem${issues.length === 1 ? '' : 's'}):\n${lines}`);
    this.name = 'ConfigError';
    this.issues = issues;
    this.source = source;
  }
}

/** `['decoder', 'unet_sources', 1, 'unet_numbers']` -> `decoder.unet_sources[1].unet_numbers`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out ? `.${String(seg)}` : String(seg);
  }
  return out || '(root)';
}

/** Short description of a JSON value for "got ..." messages. */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return `string ${JSON.stringify(value.length > 60 ? value.slice(0, 57) + '...' : value)}`;
  if (typeof value === 'object') return 'an object';
  return `${typeof value} ${String(value)}`;
}

/** Reads the raw value at a path, and whether its parent object lacks the key (a missing field). */
function lookup(root: unknown, path: readonly PropertyKey[]): { value: unknown; missing: boolean } {
  let cur: unknown = root;
  for (let i = 0; i < path.length; i++) {
    if (cur === null || typeof cur !== 'object') return { value: undefined, missing: false };
    const key = path[i] as string | number;
    const record = cur as Record<string | number, unknown>;
    if (!(key in record)) return { value: undefined, missing: i === path.length - 1 };
    cur = record[key];
  }
  return { value: cur, missing: false };
}

const EXPECTED: Record<string, string> = {
  int: 'an integer',
  number: 'a number',
  string: 'a string',
  boolean: 'true or false',
  object: 'a JSON object',
  array: 'an array',
  record: 'a JSON object',
};

function typeMessage(issue: z.core.$ZodIssueInvalidType, found: { value: unknown; missing: boolean }): string {
  if (found.missing) return 'required field is missing';
  // A schema may set its own "expected ..." phrase; zod's defaults start with "Invalid input".
  const phrase = issue.message.startsWith('expected ') ? issue.message : `expected ${EXPECTED[issue.expected] ?? issue.expected}`;
  return `${phrase}, got ${describeValue(found.value)}`;
}

function unknownKeyMessage(key: string, allowed: readonly string[]): string {
  const best = closestWord(key, allowed, Math.max(2, Math.floor(key.length / 4)));
  const hint = best ? ` (did you mean "${best}"?)` : '';
  const list = allowed.length ? `; allowed keys: ${allowed.join(', ')}` : '';
  return `unknown key${hint}${list}`;
}

function sizeMessage(issue: z.core.$ZodIssueTooSmall, found: unknown): string {
  if (issue.origin === 'array') return `must list at least ${String(issue.minimum)} entr${issue.minimum === 1 ? 'y' : 'ies'}`;
  if (issue.origin === 'string') return 'must not be empty';
  return `must be >= ${String(issue.minimum)}, got ${describeValue(found)}`;
}

/** Maps zod issues (unrecognized keys split one per key) to ConfigIssues. */
export function fromZodIssues(issues: readonly z.core.$ZodIssue[], raw: unknown): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  for (const issue of issues) {
    const found = lookup(raw, issue.path);
    const at = formatPath(issue.path);
    switch (issue.code) {
      case 'unrecognized_keys':
        for (const key of issue.keys) {
          out.push({ path: formatPath([...issue.path, key]), message: unknownKeyMessage(key, allowedKeysAt(issue.path)) });
        }
        break;
      case 'invalid_type':
        out.push({ path: at, message: typeMessage(issue, found) });
        break;
      case 'invalid_value': {
        const options = issue.values.map((v) => JSON.stringify(v)).join(', ');
        const got = found.missing ? 'it is missing' : `got ${describeValue(found.value)}`;
        out.push({ path: at, message: `expected one of ${options}, ${got}` });
        break;
      }
      case 'too_small':
        out.push({ path: at, message: sizeMessage(issue, found.value) });
        break;
      case 'too_big':
        out.push({
          path: at,
          message: issue.origin === 'array' ? `must list at most ${String(issue.maximum)} entries` : `must be <= ${String(issue.maximum)}, got ${describeValue(found.value)}`,
        });
        break;
      default:
        out.push({ path: at, message: found.missing ? 'required field is missing' : issue.message });
    }
  }
  return out;
}
