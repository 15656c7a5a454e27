// DiffusionPriorNetwork hyper-parameters, parsed from a released TrainDiffusionPriorConfig JSON
// (`prior.net`, DALLE2-pytorch 1.1.0 `DiffusionPriorNetworkConfig`). Errors name the JSON path.
import { readFile } from 'node:fs/promises';
import { ConfigReader, type ConfigErrorClass, type ConfigFields } from '../configFields.js';

export interface PriorNetConfig {
  /** Token width = CLIP embedding width (`dim`). */
  dim: number;
  /** Transformer layers (`depth`). */
  depth: number;
  /** Text-encoding slots, padded with the learned `null_text_embed` (`max_text_len`). */
  maxTextLen: number;
  /** Rows of the learned timestep embedding table (`num_timesteps`). */
  numTimesteps: number;
  numTimeEmbeds: number;
  numImageEmbeds: number;
  numTextEmbeds: number;
  dimHead: number;
  heads: number;
  /** Feed-forward width multiplier (`ff_mult`): inner width int(ff_mult * dim). */
  ffMult: number;
  /** `norm_in`: LayerNorm before the first layer. */
  normIn: boolean;
  /** `norm_out`: final stable LayerNorm. */
  normOut: boolean;
  /** `final_proj`: final bias-free projection. */
  finalProj: boolean;
  /** `normformer`: LayerNorm after the SwiGLU in each feed-forward. */
  normformer: boolean;
  /** `rotary_emb`: rotary embedding on min(32, dim_head) features of q and k. */
  rotaryEmb: boolean;
}

export class PriorConfigError extends Error {
  override name = 'PriorConfigError';
}

/** Keys DiffusionPriorNetworkConfig 1.1.0 knows (unknown ones would reach CausalTransformer and fail there). */
const NET_KEYS = [
  'dim', 'depth', 'max_text_len', 'num_timesteps', 'num_time_embeds', 'num_image_embeds', 'num_text_embeds',
  'dim_head', 'heads', 'ff_mult', 'norm_in', 'norm_out', 'attn_dropout', 'ff_dropout', 'final_proj',
  'normformer', 'rotary_emb',
] as const;

/** The prior parsers name a JSON list's type `object` in errors (typeof), as they always have. */
export function priorConfigReader(source: string, error: ConfigErrorClass): ConfigReader {
  return new ConfigReader(source, error, { arrayType: 'object' });
}

/** Parses the `net` object of a DiffusionPriorConfig (`path` names it in errors). */
export function parsePriorNetSection(net: unknown, path = 'prior.net', source = 'prior config'): PriorNetConfig {
  return readNetSection(priorConfigReader(source, PriorConfigError).fields(net, path));
}

function readNetSection(f: ConfigFields): PriorNetConfig {
  f.rejectUnknown(NET_KEYS, `unknown option (DiffusionPriorNetwork 1.1.0 takes ${NET_KEYS.join(', ')})`);
  // Upstream's config default None is not buildable (null_text_embed needs a length; the Sinusoidal +
  // MLP time embedding is fed int64 timesteps and truncates its sin/cos to integers), so both are required.
  if (!f.has('max_text_len')) f.fail('max_text_len', 'is required (upstream cannot build null_text_embed without it)');
  if (!f.has('num_timesteps')) {
    f.fail('num_timesteps', 'null selects continuous SinusoidalPosEmb + MLP time embeddings, which are not supported');
  }
  // Dropout probabilities only matter in training; they are validated and otherwise ignored.
  f.prob('attn_dropout', 0, { belowOne: true });
  f.prob('ff_dropout', 0, { belowOne: true });
  return {
    dim: f.int('dim'),
    depth: f.int('depth'),
    maxTextLen: f.int('max_text_len'),
    numTimesteps: f.int('num_timesteps'),
    numTimeEmbeds: f.int('num_time_embeds', 1),
    numImageEmbeds: f.int('num_image_embeds', 1),
    numTextEmbeds: f.int('num_text_embeds', 1),
    dimHead: f.int('dim_head', 64),
    heads: f.int('heads', 8),
    ffMult: f.int('ff_mult', 4),
    normIn: f.bool('norm_in', false),
    normOut: f.bool('norm_out', true),
    finalProj: f.bool('final_proj', true),
    normformer: f.bool('normformer', false),
    rotaryEmb: f.bool('rotary_emb', true),
  };
}

/** Parses a TrainDiffusionPriorConfig JSON document (object or text): its `prior.net` section. */
export function parsePriorNetConfig(json: unknown, source = 'prior config'): PriorNetConfig {
  const r = priorConfigReader(source, PriorConfigError);
  const prior = r.fields(r.document(json).prior, 'prior');
  return readNetSection(r.fields(prior.obj.net, 'prior.net'));
}

/** Reads and parses a TrainDiffusionPriorConfig JSON file. */
export async function loadPriorNetConfig(path: string | URL): Promise<PriorNetConfig> {
  const text = await readFile(path, 'utf8');
  return parsePriorNetConfig(text, String(path));
}
