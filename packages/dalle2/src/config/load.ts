// Entry points: validate a ModelLoadConfig, then resolve relative local paths against the config file's
// directory (so a config works from any cwd) and tag each FileSpec with its JSON path for later errors.
import { readFile, stat } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { MAX_CONFIG_FILE_BYTES, jsonBoundsIssue } from './bounds.js';
import { ConfigError, fromZodIssues } from './errors.js';
import { isHttpUrl, makeConfigSchema } from './schema.js';
import { checkSemantics } from './semantics.js';
import type { FileSpec, ModelLoadConfig, ParseOptions } from './types.js';

const schemas = { strict: makeConfigSchema(true), loose: makeConfigSchema(false) };

/**
 * Validates a parsed JSON value as a ModelLoadConfig. `source` is the file it came from: it is named in
 * errors and its directory is the base for relative local paths (`path`, `cache_dir`, local
 * `checksum_file_path`). Throws ConfigError listing every problem with its JSON path.
 */
export function parseModelLoadConfig(json: unknown, source?: string, options: ParseOptions = {}): ModelLoadConfig {
  // Bounds first: everything after this recurses over the document.
  const tooBig = jsonBoundsIssue(json);
  if (tooBig !== undefined) throw new ConfigError([tooBig], source);
  const schema = options.unknownKeys === 'ignore' ? schemas.loose : schemas.strict;
  const result = schema.safeParse(json);
  const issues = [...(result.success ? [] : fromZodIssues(result.error.issues, json)), ...checkSemantics(json)];
  if (!result.success || issues.length > 0) throw new ConfigError(issues, source);
  const baseDir = options.baseDir ?? (source !== undefined ? dirname(resolve(source)) : undefined);
  return dropUndefined(withResolvedFiles(result.data, baseDir));
}

/** Reads and validates a ModelLoadConfig JSON file. */
export async function loadModelLoadConfig(path: string, options: ParseOptions = {}): Promise<ModelLoadConfig> {
  let text: string;
  try {
    const { size } = await stat(path);
    if (size > MAX_CONFIG_FILE_BYTES) {
      throw new ConfigError([{ path: '(file)', message: `config file is ${size} bytes (limit ${MAX_CONFIG_FILE_BYTES})` }], path);
    }
    text = await readFile(path, 'utf8');
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError([{ path: '(file)', message: `cannot read config file: ${(err as Error).message}` }], path);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ConfigError([{ path: '(file)', message: `not valid JSON: ${(err as Error).message}` }], path);
  }
  return parseModelLoadConfig(json, path, options);
}

function resolveLocal(p: string, baseDir: string | undefined): string {
  return baseDir === undefined || isAbsolute(p) ? p : resolve(baseDir, p);
}

function fileAt(spec: FileSpec, origin: string, baseDir: string | undefined): FileSpec {
  const out: FileSpec = { ...spec, origin };
  if (spec.load_type === 'local') out.path = resolveLocal(spec.path, baseDir);
  if (spec.cache_dir !== undefined) out.cache_dir = resolveLocal(spec.cache_dir, baseDir);
  if (spec.checksum_file_path !== undefined && !isHttpUrl(spec.checksum_file_path)) {
    out.checksum_file_path = resolveLocal(spec.checksum_file_path, baseDir);
  }
  return out;
}

const maybeFile = (spec: FileSpec | undefined, origin: string, baseDir: string | undefined) =>
  spec === undefined ? undefined : fileAt(spec, origin, baseDir);

function withResolvedFiles(config: ModelLoadConfig, baseDir: string | undefined): ModelLoadConfig {
  const out: ModelLoadConfig = { ...config };
  if (config.clip) {
    out.clip = {
      ...config.clip,
      load_model_from: maybeFile(config.clip.load_model_from, 'clip.load_model_from', baseDir),
      load_config_from: maybeFile(config.clip.load_config_from, 'clip.load_config_from', baseDir),
    };
  }
  if (config.prior) {
    out.prior = {
      ...config.prior,
      load_model_from: fileAt(config.prior.load_model_from, 'prior.load_model_from', baseDir),
      load_config_from: maybeFile(config.prior.load_config_from, 'prior.load_config_from', baseDir),
    };
  }
  if (config.decoder) {
    const unet_sources = config.decoder.unet_sources.map((s, i) => ({
      ...s,
      load_model_from: fileAt(s.load_model_from, `decoder.unet_sources[${i}].load_model_from`, baseDir),
      load_config_from: maybeFile(s.load_config_from, `decoder.unet_sources[${i}].load_config_from`, baseDir),
    }));
    out.decoder = { ...config.decoder, unet_sources };
  }
  return out;
}

/** Optional fields that were absent (or null) become absent keys rather than `key: undefined`. */
function dropUndefined<T>(value: T): T {
  if (Array.isArray(value)) return value.map(dropUndefined) as T;
  if (value === null || typeof value !== 'object') return value;
  const entries = Object.entries(value).filter(([, v]) => v !== undefined);
  return Object.fromEntries(entries.map(([k, v]) => [k, dropUndefined(v)])) as T;
}
