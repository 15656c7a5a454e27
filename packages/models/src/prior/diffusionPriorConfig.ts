// DiffusionPrior sampling hyper-parameters, parsed from the `prior` section of a released
// TrainDiffusionPriorConfig JSON (DALLE2-pytorch 1.1.0 `DiffusionPriorConfig`, which passes every key
// but `clip` and `net` to `DiffusionPrior(**kwargs)`). Defaults are DiffusionPrior.__init__'s. Errors
// name the JSON path. The `net` section is DiffusionPriorNetwork's (parsed in ./config.ts).
import { BETA_SCHEDULES, type BetaScheduleKind } from '@dalle2/sampler';

export interface DiffusionPriorConfig {
  /** CLIP embedding width D (`image_embed_dim`). */
  imageEmbedDim: number;
  /** Training diffusion steps T (`timesteps`). */
  timesteps: number;
  /** Default sampling steps (`sample_timesteps`); undefined (null upstream) = T, i.e. DDPM. */
  sampleTimesteps?: number;
  betaSchedule: BetaScheduleKind;
  /** The net predicts x0 (true, upstream default) or the noise. */
  predictXStart: boolean;
  /** Pass the CLIP text encodings to the net (upstream default true). */
  conditionOnTextEncodings: boolean;
  /** Training cond-drop probability; upstream only allows cond_scale != 1 (DDPM path) when it is > 0. */
  condDropProb: number;
  /** Scale of the diffused (l2-normed) image embedding; undefined = sqrt(imageEmbedDim) as upstream. */
  imageEmbedScale?: number;
  /** l2norm(x0) * scale at every step (predict_x_start only). */
  samplingClampL2norm: boolean;
  /** l2norm(x) * scale after the loop (predict_x_start only). */
  samplingFinalClampL2norm: boolean;
  /** l2norm(x_T) * scale before the loop. */
  initImageEmbedL2norm: boolean;
}

export class DiffusionPriorConfigError extends Error {
  override name = 'DiffusionPriorConfigError';
}

type Json = Record<string, unknown>;

/** Keyword arguments DiffusionPrior 1.1.0 accepts (plus `net`, which DiffusionPriorConfig pops). */
const PRIOR_KEYS = [
  'clip', 'net', 'image_embed_dim', 'image_size', 'image_channels', 'timesteps', 'sample_timesteps',
  'cond_drop_prob', 'loss_type', 'predict_x_start', 'beta_schedule', 'condition_on_text_encodings',
  'sampling_clamp_l2norm', 'sampling_final_clamp_l2norm', 'training_clamp_l2norm', 'init_image_embed_l2norm',
  'image_embed_scale', 'clip_adapter_overrides',
] as const;

const LOSS_TYPES = ['l1', 'l2', 'huber'];

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function describe(v: unknown): string {
  return v === undefined ? 'nothing' : `${JSON.stringify(v)} (${v === null ? 'null' : typeof v})`;
}

/** Parses the `prior` object of a TrainDiffusionPriorConfig (`path` names it in errors). */
export function parseDiffusionPriorSection(prior: unknown, path = 'prior', source = 'prior config'): DiffusionPriorConfig {
  if (!isObject(prior)) throw new DiffusionPriorConfigError(`${source}: ${path}: expected an object, got ${describe(prior)}`);
  const fail = (key: string, msg: string): never => {
    throw new DiffusionPriorConfigError(`${source}: ${path}.${key}: ${msg}`);
  };
  for (const key of Object.keys(prior)) {
    if (!(PRIOR_KEYS as readonly string[]).includes(key)) {
      fail(key, `unknown option (DiffusionPrior 1.1.0 takes ${PRIOR_KEYS.join(', ')})`);
    }
  }
  const int = (key: string, def?: number, nullable = false): number | undefined => {
    const v = prior[key];
    if (v === undefined || (v === null && nullable)) return def;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) fail(key, `expected an integer >= 1, got ${describe(v)}`);
    return v as number;
  };
  const bool = (key: string, def: boolean): boolean => {
    const v = prior[key];
    if (v === undefined) return def;
    if (typeof v !== 'boolean') fail(key, `expected true or false, got ${describe(v)}`);
    return v as boolean;
  };
  const imageEmbedDim = int('image_embed_dim');
  // clip = None in a released prior config means no adapter, so image_embed_dim cannot come from it
  if (imageEmbedDim === undefined) fail('image_embed_dim', 'is required (DiffusionPriorConfig has no default)');
  const timesteps = int('timesteps', 1000)!;
  const sampleTimesteps = int('sample_timesteps', undefined, true);
  if (sampleTimesteps !== undefined && sampleTimesteps > timesteps) {
    fail('sample_timesteps', `${sampleTimesteps} exceeds timesteps ${timesteps} (upstream asserts timesteps <= num_timesteps)`);
  }
  const schedule = prior.beta_schedule ?? 'cosine';
  if (typeof schedule !== 'string' || !(BETA_SCHEDULES as readonly string[]).includes(schedule)) {
    fail('beta_schedule', `expected one of ${BETA_SCHEDULES.join(', ')}, got ${describe(schedule)}`);
  }
  const lossType = prior.loss_type ?? 'l2';
  if (typeof lossType !== 'string' || !LOSS_TYPES.includes(lossType)) fail('loss_type', `expected one of ${LOSS_TYPES.join(', ')}, got ${describe(lossType)}`);
  const drop = prior.cond_drop_prob ?? 0;
  if (typeof drop !== 'number' || !(drop >= 0 && drop <= 1)) fail('cond_drop_prob', `expected a probability in [0, 1], got ${describe(drop)}`);
  const scale = prior.image_embed_scale;
  if (scale !== undefined && scale !== null && (typeof scale !== 'number' || !Number.isFinite(scale) || scale === 0)) {
    fail('image_embed_scale', `expected a finite non-zero number or null, got ${describe(scale)}`);
  }
  return {
    imageEmbedDim: imageEmbedDim!,
    timesteps,
    sampleTimesteps,
    betaSchedule: schedule as BetaScheduleKind,
    predictXStart: bool('predict_x_start', true),
    conditionOnTextEncodings: bool('condition_on_text_encodings', true),
    condDropProb: drop as number,
    imageEmbedScale: typeof scale === 'number' ? scale : undefined,
    samplingClampL2norm: bool('sampling_clamp_l2norm', false),
    samplingFinalClampL2norm: bool('sampling_final_clamp_l2norm', false),
    initImageEmbedL2norm: bool('init_image_embed_l2norm', false),
  };
}

/** Parses a TrainDiffusionPriorConfig JSON document (object or text): its `prior` section. */
export function parseDiffusionPriorConfig(json: unknown, source = 'prior config'): DiffusionPriorConfig {
  let doc = json;
  if (typeof json === 'string') {
    try {
      doc = JSON.parse(json) as unknown;
    } catch (e) {
      throw new DiffusionPriorConfigError(`${source}: not valid JSON: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  if (!isObject(doc)) throw new DiffusionPriorConfigError(`${source}: expected a JSON object, got ${describe(doc)}`);
  return parseDiffusionPriorSection(doc.prior, 'prior', source);
}
