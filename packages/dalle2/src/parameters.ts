// The parameters an image was made with, stored in its PNG as text chunks (keyword `dalle2-ts`, JSON;
// `Description`: the prompt; `Software`) and read back by `dalle2 info`, so any image can be remade.
import { createHash } from 'node:crypto';
import { basename } from 'node:path';
import type { ModelLoadConfig } from './config/index.js';
import { readPngText, withPngText } from './image/pngText.js';
import type { SamplingPlan } from './plan.js';

export const SOFTWARE = 'dalle2-ts 0.1.0';
export const PARAMETERS_KEY = 'dalle2-ts';

export interface GenerationParameters {
  kind: 'dream' | 'variation' | 'inpaint';
  /** Prompt (dream, inpaint) or the decoder text (variation, text-conditioned decoders). */
  prompt?: string;
  /** Input image / mask file names (variation, inpaint). */
  image?: string;
  mask?: string;
  /** The image's own seed: run seed + sample index (remake it alone with this seed and one sample). */
  seed: number;
  runSeed: number;
  sample: number;
  plan: SamplingPlan;
  /** sha256 (first 16 hex digits) of the model load config, and where it was read from. */
  model: { digest: string; config?: string };
  software: string;
}

/**
 * A short, stable digest of a load config: what is loaded, not where it lies, so the same config on
 * two machines (files in other folders, other cache dirs) has the same digest. Local file paths count
 * by their file name; URLs in full.
 */
export function configDigest(config: ModelLoadConfig): string {
  return createHash('sha256').update(canonicalJson(config)).digest('hex').slice(0, 16);
}

const PATH_KEYS = new Set(['path', 'checksum_file_path']);
const IGNORED_KEYS = new Set(['cache_dir', 'origin']);

function canonicalJson(v: unknown, key?: string): string {
  if (Array.isArray(v)) return `[${v.map((x) => canonicalJson(x)).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const entries = Object.entries(v as Record<string, unknown>)
      .filter(([k, x]) => x !== undefined && !IGNORED_KEYS.has(k))
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${canonicalJson(x, k)}`).join(',')}}`;
  }
  if (typeof v === 'string' && key && PATH_KEYS.has(key) && !/^[a-z][a-z0-9+.-]*:\/\//i.test(v)) return JSON.stringify(basename(v));
  return JSON.stringify(v) ?? 'null';
}

/** The PNG with the parameters written into it. */
export function pngWithParameters(png: Buffer, p: GenerationParameters): Buffer {
  const text: Record<string, string> = { Software: p.software, [PARAMETERS_KEY]: JSON.stringify(p) };
  if (p.prompt !== undefined) text.Description = p.prompt;
  return withPngText(png, text);
}

/** The parameters stored in a PNG, or undefined when it has none. Throws on a malformed entry. */
export function readParameters(png: Buffer): GenerationParameters | undefined {
  const raw = readPngText(png)[PARAMETERS_KEY];
  if (raw === undefined) return undefined;
  let p: unknown;
  try {
    p = JSON.parse(raw) as unknown;
  } catch (err) {
    throw new Error(`its ${PARAMETERS_KEY} text chunk is not JSON: ${(err as Error).message}`);
  }
  const o = p as Partial<GenerationParameters> | null;
  if (!o || typeof o !== 'object' || typeof o.seed !== 'number' || !o.plan || !Array.isArray(o.plan.decoderSteps) || typeof o.kind !== 'string') {
    throw new Error(`its ${PARAMETERS_KEY} text chunk is not a parameter record`);
  }
  return o as GenerationParameters;
}

function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The `dalle2` command that makes this image again (alone: its own seed, one sample). */
export function remakeCommand(p: GenerationParameters): string {
  const args = ['dalle2', p.kind];
  if (p.kind === 'dream' && p.prompt !== undefined) args.push(shellQuote(p.prompt));
  if (p.kind === 'variation' && p.image) args.push(shellQuote(p.image));
  if (p.kind === 'variation' && p.prompt !== undefined) args.push('--text', shellQuote(p.prompt));
  if (p.kind === 'inpaint') args.push('--image', shellQuote(p.image ?? '<image>'), '--mask', shellQuote(p.mask ?? '<mask>'), '--prompt', shellQuote(p.prompt ?? ''));
  if (p.model.config) args.push('--model-config', shellQuote(p.model.config));
  args.push('--seed', String(p.seed));
  if (p.plan.priorSteps !== undefined) args.push('--prior-steps', String(p.plan.priorSteps));
  args.push('--decoder-steps', p.plan.decoderSteps.join(','));
  if (p.plan.priorCondScale !== undefined) args.push('--prior-cond-scale', String(p.plan.priorCondScale));
  args.push('--cond-scale', p.plan.decoderCondScale.join(','));
  return args.join(' ');
}
