// DALLE2-pytorch 1.1.0 `Decoder` hyper-parameters, parsed from a released TrainDecoderConfig JSON (the
// `decoder` section: DecoderConfig fields plus the Decoder kwargs its `extra = "allow"` passes through),
// with `Decoder.__init__`'s defaults and casts. Errors name the JSON path. Upstream fails on an unknown
// kwarg (TypeError in Decoder(**kwargs)); so do we, by name. Options that only matter for training are
// accepted and ignored; options that change sampling in ways we do not implement are rejected.
import { readFile } from 'node:fs/promises';
import { BETA_SCHEDULES, type BetaScheduleKind } from '@dalle2/sampler';
import { parseUnetConfig, castUnetConfig, decoderUnetCast, type UnetConfig } from '../unet/index.js';

/** Everything `Decoder.sample` needs, resolved per unet. */
export interface DecoderConfig {
  /** Unet kwargs as `Decoder.__init__` casts them (lowres_cond, image/text conditioning, channels_out). */
  unets: UnetConfig[];
  /** `sorted(set(image_sizes))`: output side of each unet. */
  imageSizes: number[];
  channels: number;
  /** Training timesteps T (every unet's NoiseScheduler). */
  timesteps: number;
  /** Per unet: DDIM steps, or null for the full DDPM loop (`sample_timesteps`). */
  sampleTimesteps: (number | null)[];
  betaSchedules: BetaScheduleKind[];
  /** Per unet: the unet also predicts the variance interpolation (output channels doubled). */
  learnedVariance: boolean[];
  /** `learned_variance_constrain_frac`: sigmoid on the interpolation fraction. */
  learnedVarianceConstrainFrac: boolean;
  /** Per unet: the unet predicts x0 instead of the noise. */
  predictXStart: boolean[];
  /** `ddim_sampling_eta` (1.0 upstream). */
  ddimSamplingEta: number;
  imageCondDropProb: number;
  textCondDropProb: number;
  /** Images in [0, 1] are mapped to [-1, 1] and back (`auto_normalize_img`, default true). */
  autoNormalizeImg: boolean;
  unconditional: boolean;
  /** Per unet `p2_loss_weight_gamma` and the shared `p2_loss_weight_k` (only the p2_loss_weight buffer). */
  p2LossWeightGamma: number[];
  p2LossWeightK: number;
}

export class DecoderConfigError extends Error {
  override name = 'DecoderConfigError';
}

type Json = Record<string, unknown>;

/** Decoder kwargs that shape sampling (parsed below). */
const SAMPLING_KEYS = [
  'unets', 'unet', 'image_size', 'image_sizes', 'channels', 'timesteps', 'sample_timesteps', 'beta_schedule', 'learned_variance',
  'learned_variance_constrain_frac', 'predict_x_start', 'ddim_sampling_eta', 'image_cond_drop_prob', 'text_cond_drop_prob',
  'auto_normalize_img', 'unconditional', 'p2_loss_weight_gamma', 'p2_loss_weight_k', 'loss_type',
] as const;

/**
 * Decoder kwargs with no effect on `Decoder.sample` in 1.1.0 (training augmentation and losses, the
 * CLIP the Decoder may own, and `clip_denoised`, which sample() never reads: it always clamps).
 */
const IGNORED_KEYS = [
  'clip', 'clip_adapter_overrides', 'random_crop_sizes', 'use_blur_for_lowres_cond', 'lowres_downsample_first', 'blur_prob',
  'blur_sigma', 'blur_kernel_size', 'lowres_noise_sample_level', 'clip_denoised', 'clip_x_start', 'vb_loss_weight',
  'dynamic_thres_percentile',
] as const;

/** Decoder kwargs whose non-default values we do not implement (default shown). */
const UNSUPPORTED: Record<string, unknown> = {
  vae: [],
  predict_x_start_for_latent_diffusion: false,
  use_dynamic_thres: false,
  use_noise_for_lowres_cond: false,
};

const LOSS_TYPES = ['l1', 'l2', 'huber'];

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function describe(v: unknown): string {
  return v === undefined ? 'nothing' : `${JSON.stringify(v)} (${v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v})`;
}

const isInt = (v: unknown, min: number): v is number => typeof v === 'number' && Number.isInteger(v) && v >= min;

/** Upstream `cast_tuple(val, n)`: a scalar repeated n times; a list must have length n (validate=True). */
function castTuple<T>(v: unknown, n: number, ok: (x: unknown) => x is T, fail: (msg: string) => never, what: string): T[] {
  if (Array.isArray(v)) {
    if (v.length !== n) fail(`expected ${what} or a list of ${n} (one per unet), got ${describe(v)}`);
    v.forEach((x) => {
      if (!ok(x)) fail(`expected ${what} or a list of ${n} (one per unet), got ${describe(v)}`);
    });
    return v as T[];
  }
  if (!ok(v)) fail(`expected ${what} or a list of ${n} (one per unet), got ${describe(v)}`);
  return Array<T>(n).fill(v);
}

function unsupportedValue(key: string, v: unknown): boolean {
  const def = UNSUPPORTED[key];
  if (v === undefined || v === null) return false;
  if (key === 'vae') return !(Array.isArray(v) && v.length === 0);
  if (key === 'use_noise_for_lowres_cond') return Array.isArray(v) ? v.some((x) => x !== false) : v !== def;
  return v !== def;
}

/**
 * Parses a TrainDecoderConfig document (object or JSON text; the `decoder` section is used) or a bare
 * DecoderConfig object (one with `unets`). Every unet config is cast the way `Decoder.__init__` casts it.
 */
export function parseDecoderConfig(json: unknown, source = 'decoder config'): DecoderConfig {
  let doc = json;
  if (typeof json === 'string') {
    try {
      doc = JSON.parse(json) as unknown;
    } catch (e) {
      throw new DecoderConfigError(`${source}: not valid JSON: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  if (!isObject(doc)) throw new DecoderConfigError(`${source}: expected a JSON object, got ${describe(doc)}`);
  const path = isObject(doc.decoder) ? 'decoder' : '';
  const dec = isObject(doc.decoder) ? doc.decoder : doc;
  const at = (key: string) => (path ? `${path}.${key}` : key);
  const fail = (key: string, msg: string): never => {
    throw new DecoderConfigError(`${source}: ${at(key)}: ${msg}`);
  };
  if (!('unets' in dec) && !('unet' in dec)) fail('unets', 'expected a non-empty list of unet configs, got nothing');

  for (const key of Object.keys(dec)) {
    if (key in UNSUPPORTED) {
      if (unsupportedValue(key, dec[key])) fail(key, `unsupported value ${describe(dec[key])} (only ${JSON.stringify(UNSUPPORTED[key])} is implemented)`);
      continue;
    }
    if (!(SAMPLING_KEYS as readonly string[]).includes(key) && !(IGNORED_KEYS as readonly string[]).includes(key)) {
      fail(key, 'unsupported option (not a DALLE2-pytorch 1.1.0 Decoder argument)');
    }
  }
  if ('unets' in dec && 'unet' in dec) fail('unet', 'give either unets or unet, not both');
  const unetKey = 'unets' in dec ? 'unets' : 'unet';
  const rawUnets = Array.isArray(dec[unetKey]) ? (dec[unetKey] as unknown[]) : isObject(dec[unetKey]) ? [dec[unetKey]] : undefined;
  if (!rawUnets || rawUnets.length === 0) return fail(unetKey, `expected a non-empty list of unet configs, got ${describe(dec[unetKey])}`);
  const n = rawUnets.length;

  const num = (key: string, def: number, min: number, max = Infinity): number => {
    const v = dec[key];
    if (v === undefined) return def;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) {
      fail(key, `expected a number in [${min}, ${max === Infinity ? 'inf' : max}], got ${describe(v)}`);
    }
    return v as number;
  };
  const bool = (key: string, def: boolean): boolean => {
    const v = dec[key];
    if (v === undefined) return def;
    if (typeof v !== 'boolean') fail(key, `expected true or false, got ${describe(v)}`);
    return v as boolean;
  };
  const isBool = (v: unknown): v is boolean => typeof v === 'boolean';

  const channels = dec.channels === undefined ? 3 : isInt(dec.channels, 1) ? dec.channels : fail('channels', `expected an integer >= 1, got ${describe(dec.channels)}`);
  const timesteps = dec.timesteps === undefined ? 1000 : isInt(dec.timesteps, 1) ? dec.timesteps : fail('timesteps', `expected an integer >= 1, got ${describe(dec.timesteps)}`);

  // image_size xor image_sizes; then sorted(set(image_sizes)), one per unet
  const hasSize = dec.image_size !== undefined && dec.image_size !== null;
  const hasSizes = dec.image_sizes !== undefined && dec.image_sizes !== null;
  if (hasSize === hasSizes) fail(hasSize ? 'image_sizes' : 'image_size', 'give exactly one of image_size and image_sizes');
  let sizes: number[];
  if (hasSize) {
    if (!isInt(dec.image_size, 1)) fail('image_size', `expected an integer >= 1, got ${describe(dec.image_size)}`);
    sizes = [dec.image_size as number];
  } else {
    const v = dec.image_sizes;
    if (!Array.isArray(v) || v.length === 0 || !v.every((s) => isInt(s, 1))) fail('image_sizes', `expected a list of integers >= 1, got ${describe(v)}`);
    sizes = [...new Set(v as number[])].sort((a, b) => a - b);
  }
  if (sizes.length !== n) fail(hasSize ? 'image_size' : 'image_sizes', `${sizes.length} distinct image size(s) ${JSON.stringify(sizes)} for ${n} unet(s)`);

  // sample_timesteps: None, an int, or one (int | None) per unet; each <= timesteps
  const st = dec.sample_timesteps ?? null;
  const isSteps = (v: unknown): v is number | null => v === null || isInt(v, 1);
  const sampleTimesteps = castTuple(st, n, isSteps, (m) => fail('sample_timesteps', m), 'null or an integer >= 1');
  sampleTimesteps.forEach((s, i) => {
    if (s !== null && s > timesteps) fail('sample_timesteps', `unet ${i + 1}: ${s} sampling steps exceed the ${timesteps} training timesteps`);
  });

  // beta_schedule: None = ('cosine', ..., 'linear' for the last of several unets)
  const isKind = (v: unknown): v is BetaScheduleKind => typeof v === 'string' && (BETA_SCHEDULES as readonly string[]).includes(v);
  const betaSchedules =
    dec.beta_schedule === undefined || dec.beta_schedule === null
      ? Array.from({ length: n }, (_, i): BetaScheduleKind => (n > 1 && i === n - 1 ? 'linear' : 'cosine'))
      : castTuple(dec.beta_schedule, n, isKind, (m) => fail('beta_schedule', m), `one of ${BETA_SCHEDULES.join(' | ')}`);

  // learned_variance: pad_tuple_to_length(cast_tuple(lv), n, False) (default True = first unet only)
  const lv = dec.learned_variance ?? true;
  let learnedVariance: boolean[];
  if (typeof lv === 'boolean') learnedVariance = Array.from({ length: n }, (_, i) => (i === 0 ? lv : false));
  else if (Array.isArray(lv) && lv.every(isBool)) learnedVariance = Array.from({ length: n }, (_, i) => (lv[i] as boolean | undefined) ?? false);
  else return fail('learned_variance', `expected true/false or a list of them, got ${describe(lv)}`);

  const predictXStart = castTuple(dec.predict_x_start ?? false, n, isBool, (m) => fail('predict_x_start', m), 'true/false');
  const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
  const p2LossWeightGamma = castTuple(dec.p2_loss_weight_gamma ?? 0, n, isNum, (m) => fail('p2_loss_weight_gamma', m), 'a number');
  const lossType = dec.loss_type ?? 'l2';
  if (typeof lossType !== 'string' || !LOSS_TYPES.includes(lossType)) fail('loss_type', `expected one of ${LOSS_TYPES.join(' | ')}, got ${describe(lossType)}`);

  const unconditional = bool('unconditional', false);
  // Each unet: its kwargs with upstream defaults, then Decoder.__init__'s cast_model_parameters.
  const unets = rawUnets.map((raw, i) => {
    const upath = path ? `${path}.${unetKey}[${i}]` : `${unetKey}[${i}]`;
    const config = parseUnetConfig(raw, upath, source);
    const cast = decoderUnetCast({ ...dec, channels, unconditional }, i, config, source);
    return castUnetConfig(config, { ...cast, channelsOut: channels * (learnedVariance[i] ? 2 : 1) }, upath, source);
  });

  return {
    unets,
    imageSizes: sizes,
    channels,
    timesteps,
    sampleTimesteps,
    betaSchedules,
    learnedVariance,
    learnedVarianceConstrainFrac: bool('learned_variance_constrain_frac', false),
    predictXStart,
    ddimSamplingEta: num('ddim_sampling_eta', 1, 0),
    imageCondDropProb: num('image_cond_drop_prob', 0.1, 0, 1),
    textCondDropProb: num('text_cond_drop_prob', 0.5, 0, 1),
    autoNormalizeImg: bool('auto_normalize_img', true),
    unconditional,
    p2LossWeightGamma,
    p2LossWeightK: num('p2_loss_weight_k', 1, -Infinity),
  };
}

/** Reads a TrainDecoderConfig JSON file. */
export async function loadDecoderConfig(path: string | URL): Promise<DecoderConfig> {
  return parseDecoderConfig(await readFile(path, 'utf8'), String(path));
}
