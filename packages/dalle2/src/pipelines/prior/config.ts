// DiffusionPrior sampling hyper-parameters, parsed from the `prior` section of a released
// TrainDiffusionPriorConfig JSON (DALLE2-pytorch 1.1.0 `DiffusionPriorConfig`, which passes every key
// but `clip` and `net` to `DiffusionPrior(**kwargs)`). Defaults are DiffusionPrior.__init__'s. Errors
// name the JSON path. The `net` section is DiffusionPriorNetwork's (parsed by @dalle2/models).
import { BETA_SCHEDULES, type BetaScheduleKind } from '@dalle2/sampler';
import { priorConfigReader, type ConfigFields } from '@dalle2/models';

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

/** Keyword arguments DiffusionPrior 1.1.0 accepts (plus `net`, which DiffusionPriorConfig pops). */
const PRIOR_KEYS = [
  'clip', 'net', 'image_embed_dim', 'image_size', 'image_channels', 'timesteps', 'sample_timesteps',
  'cond_drop_prob', 'loss_type', 'predict_x_start', 'beta_schedule', 'condition_on_text_encodings',
  'sampling_clamp_l2norm', 'sampling_final_clamp_l2norm', 'training_clamp_l2norm', 'init_image_embed_l2norm',
  'image_embed_scale', 'clip_adapter_overrides',
] as const;

const LOSS_TYPES = ['l1', 'l2', 'huber'] as const;

const isScale = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v !== 0;

/** Parses the `prior` object of a TrainDiffusionPriorConfig (`path` names it in errors). */
export function parseDiffusionPriorSection(prior: unknown, path = 'prior', source = 'prior config'): DiffusionPriorConfig {
  return readPriorSection(priorConfigReader(source, DiffusionPriorConfigError).fields(prior, path));
}

function readPriorSection(f: ConfigFields): DiffusionPriorConfig {
  f.rejectUnknown(PRIOR_KEYS, `unknown option (DiffusionPrior 1.1.0 takes ${PRIOR_KEYS.join(', ')})`);
  // clip = None in a released prior config means no adapter, so image_embed_dim cannot come from it
  if (f.obj.image_embed_dim === undefined) f.fail('image_embed_dim', 'is required (DiffusionPriorConfig has no default)');
  const imageEmbedDim = f.int('image_embed_dim');
  const timesteps = f.int('timesteps', 1000);
  const sampleTimesteps = f.optInt('sample_timesteps');
  if (sampleTimesteps !== undefined && sampleTimesteps > timesteps) {
    f.fail('sample_timesteps', `${sampleTimesteps} exceeds timesteps ${timesteps} (upstream asserts timesteps <= num_timesteps)`);
  }
  const betaSchedule = f.oneOf('beta_schedule', BETA_SCHEDULES, 'cosine');
  f.oneOf('loss_type', LOSS_TYPES, 'l2');
  const condDropProb = f.prob('cond_drop_prob', 0, { nullIsAbsent: true });
  const imageEmbedScale = f.optional('image_embed_scale', isScale, 'a finite non-zero number or null');
  return {
    imageEmbedDim,
    timesteps,
    sampleTimesteps,
    betaSchedule,
    predictXStart: f.bool('predict_x_start', true),
    conditionOnTextEncodings: f.bool('condition_on_text_encodings', true),
    condDropProb,
    imageEmbedScale,
    samplingClampL2norm: f.bool('sampling_clamp_l2norm', false),
    samplingFinalClampL2norm: f.bool('sampling_final_clamp_l2norm', false),
    initImageEmbedL2norm: f.bool('init_image_embed_l2norm', false),
  };
}

/** Parses a TrainDiffusionPriorConfig JSON document (object or text): its `prior` section. */
export function parseDiffusionPriorConfig(json: unknown, source = 'prior config'): DiffusionPriorConfig {
  const r = priorConfigReader(source, DiffusionPriorConfigError);
  return readPriorSection(r.fields(r.document(json).prior, 'prior'));
}
