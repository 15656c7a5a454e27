// Typed form of dalle2-laion's `ModelLoadConfig` JSON (dalle2_laion/config.py). Field names stay
// snake_case so a JSON key, an error path and a TypeScript property are the same word.

/** Where a file comes from: a local path or an http(s) URL (downloaded into a cache). */
export type LoadType = 'local' | 'url';

/** dalle2-laion `File`, plus `check_updates` and `origin` (ours). */
export interface FileSpec {
  load_type: LoadType;
  /** Local path (absolute once parsed from a config file) or URL. */
  path: string;
  /**
   * Where a checksum text for `path` lives (URL, or local path). Upstream compares this text with the
   * copy stored next to the cached file to notice updates. Hugging Face `.../resolve/...` URLs default
   * to the matching `.../raw/...` URL (an LFS pointer with `oid sha256:` and `size`).
   */
  checksum_file_path?: string;
  /** Download directory for `url` files; default `os.tmpdir()/dalle2-ts-cache`. */
  cache_dir?: string;
  /** Cached file name; default the last URL path segment without query. */
  filename_override?: string;
  /** Ask the server whether a cached copy is still current (default true). */
  check_updates?: boolean;
  /** JSON path the spec was read from (e.g. `prior.load_model_from`), used in error messages. */
  origin?: string;
}

/** CLIP adapter makes known to dalle2-pytorch's `AdapterConfig`. */
export type ClipMake = 'openai' | 'open_clip' | 'x-clip' | 'coca';

/** dalle2-pytorch `AdapterConfig` plus our optional weight/config files. */
export interface ClipLoadConfig {
  /** Default "openai" (as upstream). */
  make: ClipMake;
  /** Model name such as "ViT-L/14" (default, as upstream). */
  model: string;
  base_model_kwargs?: Record<string, unknown>;
  /** Ours: where the CLIP weights are (upstream downloads them by `model` name). */
  load_model_from?: FileSpec;
  /** Ours: CLIP constructor arguments as JSON. */
  load_config_from?: FileSpec;
}

export interface PriorLoadConfig {
  load_model_from: FileSpec;
  /** Needed when the checkpoint does not embed its config. */
  load_config_from?: FileSpec;
  default_sample_timesteps?: number;
  default_cond_scale?: number;
}

export interface SingleDecoderLoadConfig {
  /** 1-based unet numbers this checkpoint supplies. */
  unet_numbers: number[];
  load_model_from: FileSpec;
  load_config_from?: FileSpec;
  /** One entry per unet in `unet_numbers`, same order. */
  default_sample_timesteps?: number[];
  /** One entry per unet in `unet_numbers`, same order. */
  default_cond_scale?: number[];
}

export interface DecoderLoadConfig {
  unet_sources: SingleDecoderLoadConfig[];
  /** Highest unet number (computed, as upstream's `final_unet_number`). */
  final_unet_number: number;
}

export interface ModelLoadConfig {
  clip?: ClipLoadConfig;
  prior?: PriorLoadConfig;
  decoder?: DecoderLoadConfig;
  /** Accepted for compatibility (torch device names); unused by WebGPU inference. */
  devices?: string | string[];
  /** Accepted for compatibility; default true. */
  load_on_cpu: boolean;
  /** Error on unexpected/missing checkpoint keys; default true (as upstream). */
  strict_loading: boolean;
}

/** One validation problem: a JSON path such as `decoder.unet_sources[1].unet_numbers` and what is wrong. */
export interface ConfigIssue {
  path: string;
  message: string;
}

export interface ParseOptions {
  /**
   * Unknown keys: 'error' (default) reports them, so a typo such as `default_cond_scales` cannot be
   * silently dropped; 'ignore' drops them like upstream's pydantic v1 models do.
   */
  unknownKeys?: 'error' | 'ignore';
  /** Directory that relative local paths resolve against; default the directory of `source`. */
  baseDir?: string;
}
