// DiffusionPriorNetwork hyper-parameters, parsed from a released TrainDiffusionPriorConfig JSON
// (`prior.net`, DALLE2-pytorch 1.1.0 `DiffusionPriorNetworkConfig`). Errors name the JSON path.
import { readFile } from 'node:fs/promises';

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

type Json = Record<string, unknown>;

/** Keys DiffusionPriorNetworkConfig 1.1.0 knows (unknown ones would reach CausalTransformer and fail there). */
const NET_KEYS = [
  'dim', 'depth', 'max_text_len', 'num_timesteps', 'num_time_embeds', 'num_image_embeds', 'num_text_embeds',
  'dim_head', 'heads', 'ff_mult', 'norm_in', 'norm_out', 'attn_dropout', 'ff_dropout', 'final_proj',
  'normformer', 'rotary_emb',
] as const;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function describe(v: unknown): string {
  return v === undefined ? 'nothing' : `${JSON.stringify(v)} (${v === null ? 'null' : typeof v})`;
}

/** Reads typed fields of one JSON object; every error names `<source>: <path>.<key>`. */
class Fields {
  constructor(
    private readonly obj: Json,
    private readonly path: string,
    private readonly source: string,
  ) {}

  fail(key: string, msg: string): never {
    throw new PriorConfigError(`${this.source}: ${this.path}.${key}: ${msg}`);
  }

  int(key: string, def?: number, min = 1): number {
    const v = this.obj[key];
    if (v === undefined && def !== undefined) return def;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min) {
      this.fail(key, `expected an integer >= ${min}, got ${describe(v)}`);
    }
    return v;
  }

  bool(key: string, def: boolean): boolean {
    const v = this.obj[key];
    if (v === undefined) return def;
    if (typeof v !== 'boolean') this.fail(key, `expected true or false, got ${describe(v)}`);
    return v;
  }

  /** Dropout probabilities only matter in training; they are validated and otherwise ignored. */
  prob(key: string): void {
    const v = this.obj[key];
    if (v === undefined) return;
    if (typeof v !== 'number' || !(v >= 0 && v < 1)) this.fail(key, `expected a probability in [0, 1), got ${describe(v)}`);
  }
}

/** Parses the `net` object of a DiffusionPriorConfig (`path` names it in errors). */
export function parsePriorNetSection(net: unknown, path = 'prior.net', source = 'prior config'): PriorNetConfig {
  if (!isObject(net)) throw new PriorConfigError(`${source}: ${path}: expected an object, got ${describe(net)}`);
  const f = new Fields(net, path, source);
  for (const key of Object.keys(net)) {
    if (!(NET_KEYS as readonly string[]).includes(key)) {
      f.fail(key, `unknown option (DiffusionPriorNetwork 1.1.0 takes ${NET_KEYS.join(', ')})`);
    }
  }
  // Upstream's config default None is not buildable (null_text_embed needs a length; the Sinusoidal +
  // MLP time embedding is fed int64 timesteps and truncates its sin/cos to integers), so both are required.
  if (net.max_text_len === undefined || net.max_text_len === null) {
    f.fail('max_text_len', 'is required (upstream cannot build null_text_embed without it)');
  }
  if (net.num_timesteps === undefined || net.num_timesteps === null) {
    f.fail('num_timesteps', 'null selects continuous SinusoidalPosEmb + MLP time embeddings, which are not supported');
  }
  f.prob('attn_dropout');
  f.prob('ff_dropout');
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
  let doc = json;
  if (typeof json === 'string') {
    try {
      doc = JSON.parse(json) as unknown;
    } catch (e) {
      throw new PriorConfigError(`${source}: not valid JSON: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  if (!isObject(doc)) throw new PriorConfigError(`${source}: expected a JSON object, got ${describe(doc)}`);
  if (!isObject(doc.prior)) throw new PriorConfigError(`${source}: prior: expected an object, got ${describe(doc.prior)}`);
  return parsePriorNetSection(doc.prior.net, 'prior.net', source);
}

/** Reads and parses a TrainDiffusionPriorConfig JSON file. */
export async function loadPriorNetConfig(path: string | URL): Promise<PriorNetConfig> {
  const text = await readFile(path, 'utf8');
  return parsePriorNetConfig(text, String(path));
}
