// zod schemas for the per-field shape of a ModelLoadConfig. Checks that span several fields (unet
// coverage, per-unet list lengths) live in semantics.ts: zod skips refinements on an object that already
// has issues, and we want every problem reported in one go.
import * as z from 'zod';
import type { ClipLoadConfig, FileSpec, ModelLoadConfig } from './types.js';

/** `null` is accepted wherever a field is optional (pydantic's `Optional[...]` accepts it) and becomes absent. */
const opt = <T extends z.ZodType>(schema: T) => schema.nullish().transform((v) => v ?? undefined);
const withDefault = <T extends z.ZodType>(schema: T, fallback: z.output<T>) =>
  schema.nullish().transform((v): z.output<T> => v ?? fallback);

// The custom phrase keeps "expected an integer" for non-numbers too (zod reports those as "number").
const positiveInt = z.int({ error: (iss) => (iss.code === 'invalid_type' ? 'expected an integer' : undefined) }).min(1);

/**
 * Highest unet number accepted. Upstream decoders have 1-4 unets; the bound keeps cross-field checks
 * (which enumerate 1..N) small whatever number a config names.
 */
export const MAX_UNET_NUMBER = 64;
const unetNumber = positiveInt.max(MAX_UNET_NUMBER);

export function isHttpUrl(text: string): boolean {
  try {
    const url = new URL(text);
    return url.protocol === 'http:' || url.protocol === 'https:';
  } catch {
    return false;
  }
}

/** A cache file name must stay inside cache_dir. */
const fileName = z
  .string()
  .min(1)
  .refine((s) => !/[/\\]/.test(s) && s !== '.' && s !== '..', 'must be a plain file name (no "/", "\\", "." or "..")');

/** Keys each object kind allows; used both to build the schemas and to suggest fixes for typos. */
export const FILE_KEYS = ['load_type', 'path', 'checksum_file_path', 'cache_dir', 'filename_override', 'check_updates'] as const;
export const CLIP_KEYS = ['make', 'model', 'base_model_kwargs', 'load_model_from', 'load_config_from'] as const;
export const PRIOR_KEYS = ['load_model_from', 'load_config_from', 'default_sample_timesteps', 'default_cond_scale'] as const;
export const SOURCE_KEYS = [
  'unet_numbers',
  'load_model_from',
  'load_config_from',
  'default_sample_timesteps',
  'default_cond_scale',
] as const;
export const DECODER_KEYS = ['unet_sources', 'final_unet_number'] as const;
export const TOP_KEYS = ['clip', 'prior', 'decoder', 'devices', 'load_on_cpu', 'strict_loading'] as const;

/** Parsed shape before paths are resolved (FileSpec.origin is added afterwards). */
export type ParsedConfig = ModelLoadConfig;

/** Builds the schema; `strict` rejects unknown keys, otherwise they are dropped like upstream does. */
export function makeConfigSchema(strict: boolean): z.ZodType<ParsedConfig> {
  const obj = <S extends z.ZodRawShape>(shape: S) => (strict ? z.strictObject(shape) : z.object(shape));

  const file = obj({
    load_type: z.enum(['local', 'url']),
    path: z.string().min(1),
    checksum_file_path: opt(z.string().min(1)),
    cache_dir: opt(z.string().min(1)),
    filename_override: opt(fileName),
    check_updates: withDefault(z.boolean(), true),
  }).superRefine((f, ctx) => {
    if (f.load_type === 'url' && !isHttpUrl(f.path)) {
      ctx.addIssue({ code: 'custom', path: ['path'], message: `load_type "url" needs an http(s) URL, got "${f.path}"` });
    }
  }) satisfies z.ZodType<FileSpec>;

  const clip = obj({
    make: withDefault(z.enum(['openai', 'open_clip', 'x-clip', 'coca']), 'openai'),
    model: withDefault(z.string().min(1), 'ViT-L/14'),
    base_model_kwargs: opt(z.record(z.string(), z.unknown())),
    load_model_from: opt(file),
    load_config_from: opt(file),
  }) satisfies z.ZodType<ClipLoadConfig>;

  const prior = obj({
    load_model_from: file,
    load_config_from: opt(file),
    default_sample_timesteps: opt(positiveInt),
    default_cond_scale: opt(z.number()),
  });

  const source = obj({
    unet_numbers: z.array(unetNumber).min(1).max(MAX_UNET_NUMBER),
    load_model_from: file,
    load_config_from: opt(file),
    default_sample_timesteps: opt(z.array(positiveInt)),
    default_cond_scale: opt(z.array(z.number())),
  });

  const decoder = obj({
    unet_sources: z.array(source).min(1),
    // Upstream computes it; accepted so upstream dumps parse, and checked in semantics.ts.
    final_unet_number: opt(unetNumber),
  }).transform((d) => ({
    unet_sources: d.unet_sources,
    final_unet_number: d.unet_sources.reduce((m, s) => s.unet_numbers.reduce((a, b) => Math.max(a, b), m), 0),
  }));

  const devices = z.union([z.string(), z.array(z.string())], {
    error: 'expected a device name or a list of device names',
  });

  return obj({
    clip: opt(clip),
    prior: opt(prior),
    decoder: opt(decoder),
    devices: opt(devices),
    load_on_cpu: withDefault(z.boolean(), true),
    strict_loading: withDefault(z.boolean(), true),
  });
}

/** Allowed keys of the object found at a JSON path (segments as zod reports them). */
export function allowedKeysAt(path: readonly PropertyKey[]): readonly string[] {
  const last = path[path.length - 1];
  if (path.length === 0) return TOP_KEYS;
  if (last === 'load_model_from' || last === 'load_config_from') return FILE_KEYS;
  if (typeof last === 'number') return SOURCE_KEYS;
  if (last === 'clip') return CLIP_KEYS;
  if (last === 'prior') return PRIOR_KEYS;
  if (last === 'decoder') return DECODER_KEYS;
  return [];
}
