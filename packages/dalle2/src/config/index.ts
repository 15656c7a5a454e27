// ModelLoadConfig: dalle2-laion's model load JSON, validated. See README.md in this folder.
export type {
  ClipLoadConfig,
  ClipMake,
  ConfigIssue,
  DecoderLoadConfig,
  FileSpec,
  LoadType,
  ModelLoadConfig,
  ParseOptions,
  PriorLoadConfig,
  SingleDecoderLoadConfig,
} from './types.js';
export { ConfigError } from './errors.js';
export { loadModelLoadConfig, parseModelLoadConfig } from './load.js';
export { CONFIG_JSON_BOUNDS, MAX_CONFIG_FILE_BYTES, jsonBoundsIssue, type JsonBounds } from './bounds.js';
