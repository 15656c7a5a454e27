// DALLE2-pytorch 1.1.0 `Decoder` hyper-parameters, parsed from a released TrainDecoderConfig JSON (the
// `decoder` section: DecoderConfig fields plus the Decoder kwargs its `extra = "allow"` passes through),
// with `Decoder.__init__`'s defaults and casts. Errors name the JSON path. Upstream fails on an unknown
// kwarg (TypeError in Decoder(**kwargs)); so do we, by name. Options that only matter for training are
// accepted and ignored; options that change sampling in ways we do not implement are rejected.
import { readFile } from 'node:fs/promises';
import { BETA_SCHEDULES, type BetaScheduleKind } from '@dalle2/sampler';
import {
  ConfigReader, isBool, isInt, isObject, joinPath, parseUnetConfig, castUnetConfig, decoderUnetCast, type ConfigFields, type UnetConfig,
} from '@dalle2/models';

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

const LOSS_TYPES = ['l1', 'l2', 'huber'] as const;

/** Keys accepted with any value (UNSUPPORTED's are checked by value). */
const KNOWN_KEYS: readonly string[] = [...SAMPLING_KEYS, ...IGNORED_KEYS];

function unsupportedValue(key: string, v: unknown): boolean {
  const def = UNSUPPORTED[key];
  if (v === undefined || v === null) return false;
  if (key === 'vae') return !(Array.isArray(v) && v.length === 0);
  if (key === 'use_noise_for_lowres_cond') return Array.isArray(v) ? v.some((x) => x !== false) : v !== def;
  return v !== def;
}

/** Fails on a kwarg upstream's Decoder does not take, or an unsupported value of one we do not implement. */
function rejectUnknownKeys(f: ConfigFields): void {
  const dec = f.obj;
  for (const key of Object.keys(dec)) {
    if (Object.hasOwn(UNSUPPORTED, key)) {
      if (unsupportedValue(key, dec[key])) f.fail(key, `unsupported value ${f.describe(dec[key])} (only ${JSON.stringify(UNSUPPORTED[key])} is implemented)`);
      continue;
    }
    if (!KNOWN_KEYS.includes(key)) f.fail(key, 'unsupported option (not a DALLE2-pytorch 1.1.0 Decoder argument)');
  }
}

/** image_size xor image_sizes; then sorted(set(image_sizes)), one per unet. */
function readImageSizes(f: ConfigFields, n: number): number[] {
  const hasSize = f.has('image_size');
  const hasSizes = f.has('image_sizes');
  if (hasSize === hasSizes) f.fail(hasSize ? 'image_sizes' : 'image_size', 'give exactly one of image_size and image_sizes');
  const sizes = hasSize
    ? [f.int('image_size')]
    : [...new Set(f.list('image_sizes', (s): s is number => isInt(s, 1), 'a list of integers >= 1'))].sort((a, b) => a - b);
  if (sizes.length !== n) f.fail(hasSize ? 'image_size' : 'image_sizes', `${sizes.length} distinct image size(s) ${JSON.stringify(sizes)} for ${n} unet(s)`);
  return sizes;
}

/** beta_schedule: one per unet; None = ('cosine', ..., 'linear' for the last of several unets). */
function readBetaSchedules(f: ConfigFields, n: number): BetaScheduleKind[] {
  const isKind = (v: unknown): v is BetaScheduleKind => typeof v === 'string' && (BETA_SCHEDULES as readonly string[]).includes(v);
  return f.has('beta_schedule')
    ? f.tuple('beta_schedule', n, isKind, `one of ${BETA_SCHEDULES.join(' | ')}`, { def: undefined, per: 'unet', nullIsAbsent: true })
    : Array.from({ length: n }, (_, i): BetaScheduleKind => (n > 1 && i === n - 1 ? 'linear' : 'cosine'));
}

/** learned_variance: pad_tuple_to_length(cast_tuple(lv), n, False) (default True = first unet only). */
function readLearnedVariance(f: ConfigFields, n: number): boolean[] {
  const lv = f.obj.learned_variance ?? true;
  if (typeof lv === 'boolean') return Array.from({ length: n }, (_, i) => (i === 0 ? lv : false));
  if (Array.isArray(lv) && lv.every(isBool)) return Array.from({ length: n }, (_, i) => (lv[i] as boolean | undefined) ?? false);
  return f.fail('learned_variance', `expected true/false or a list of them, got ${f.describe(lv)}`);
}

/**
 * Parses a TrainDecoderConfig document (object or JSON text; the `decoder` section is used) or a bare
 * DecoderConfig object (one with `unets`). Every unet config is cast the way `Decoder.__init__` casts it.
 */
export function parseDecoderConfig(json: unknown, source = 'decoder config'): DecoderConfig {
  const r = new ConfigReader(source, DecoderConfigError);
  const doc = r.document(json);
  const f = isObject(doc.decoder) ? r.fields(doc.decoder, 'decoder') : r.fields(doc, '');
  const dec = f.obj;
  if (!('unets' in dec) && !('unet' in dec)) f.fail('unets', 'expected a non-empty list of unet configs, got nothing');

  rejectUnknownKeys(f);
  if ('unets' in dec && 'unet' in dec) f.fail('unet', 'give either unets or unet, not both');
  const unetKey = 'unets' in dec ? 'unets' : 'unet';
  const rawUnets = Array.isArray(dec[unetKey]) ? (dec[unetKey] as unknown[]) : isObject(dec[unetKey]) ? [dec[unetKey]] : undefined;
  if (!rawUnets || rawUnets.length === 0) return f.fail(unetKey, `expected a non-empty list of unet configs, got ${f.describe(dec[unetKey])}`);
  const n = rawUnets.length;
  /** Upstream `cast_tuple(val, n)` over the unets; absent or null gives n copies of `def`. */
  const perUnet = <T>(key: string, ok: (v: unknown) => v is T, what: string, def?: T) =>
    f.tuple(key, n, ok, what, { def, per: 'unet', nullIsAbsent: true });

  const channels = f.int('channels', 3);
  const timesteps = f.int('timesteps', 1000);

  const sizes = readImageSizes(f, n);

  // sample_timesteps: None, an int, or one (int | None) per unet; each <= timesteps
  const isSteps = (v: unknown): v is number | null => v === null || isInt(v, 1);
  const sampleTimesteps = perUnet('sample_timesteps', isSteps, 'null or an integer >= 1', null);
  sampleTimesteps.forEach((s, i) => {
    if (s !== null && s > timesteps) f.fail('sample_timesteps', `unet ${i + 1}: ${s} sampling steps exceed the ${timesteps} training timesteps`);
  });

  const betaSchedules = readBetaSchedules(f, n);

  const learnedVariance = readLearnedVariance(f, n);

  const predictXStart = perUnet('predict_x_start', isBool, 'true/false', false);
  const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
  const p2LossWeightGamma = perUnet('p2_loss_weight_gamma', isNum, 'a number', 0);
  f.oneOf('loss_type', LOSS_TYPES, 'l2', ' | ');

  const unconditional = f.bool('unconditional', false);
  // Each unet: its kwargs with upstream defaults, then Decoder.__init__'s cast_model_parameters.
  const unets = rawUnets.map((raw, i) => {
    const upath = joinPath(f.path, `${unetKey}[${i}]`);
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
    learnedVarianceConstrainFrac: f.bool('learned_variance_constrain_frac', false),
    predictXStart,
    ddimSamplingEta: f.number('ddim_sampling_eta', 1, 0),
    imageCondDropProb: f.number('image_cond_drop_prob', 0.1, 0, 1),
    textCondDropProb: f.number('text_cond_drop_prob', 0.5, 0, 1),
    autoNormalizeImg: f.bool('auto_normalize_img', true),
    unconditional,
    p2LossWeightGamma,
    p2LossWeightK: f.number('p2_loss_weight_k', 1, -Infinity),
  };
}

/** Whether `v` is an already parsed DecoderConfig (rather than JSON to parse). */
export function isDecoderConfig(v: unknown): v is DecoderConfig {
  return typeof v === 'object' && v !== null && Array.isArray((v as DecoderConfig).imageSizes) && Array.isArray((v as DecoderConfig).betaSchedules);
}

/** Reads a TrainDecoderConfig JSON file. */
export async function loadDecoderConfig(path: string | URL): Promise<DecoderConfig> {
  return parseDecoderConfig(await readFile(path, 'utf8'), String(path));
}
