// The three CLIP makes of DALLE2-pytorch 1.1.0's AdapterConfig, built from weights: where each make's
// keys sit in a checkpoint (bare, or under `clip.` / `clip.clip.` inside a prior), and the adapter for a
// make from its weights and `base_model_kwargs`.
import type { Weights } from '../weights.js';
import { WeightError } from '../weights.js';
import { ClipModel } from './model.js';
import { OpenAIClipAdapter } from './adapter.js';
import { clipKeyPrefix } from './load.js';
import type { ClipAdapter, ClipMakeName } from './types.js';
import { parseXClipConfig } from '../xclip/config.js';
import { XClipModel } from '../xclip/model.js';
import { XClipAdapter } from '../xclip/adapter.js';
import { parseCoCaConfig } from '../coca/config.js';
import { CoCaModel } from '../coca/model.js';
import { CoCaAdapter } from '../coca/adapter.js';

export type AnyClipAdapter = OpenAIClipAdapter | XClipAdapter | CoCaAdapter;

const PREFIXES = ['', 'clip.', 'clip.clip.'];

/** A key every state dict of the make has (x_clip.CLIP / CoCa). */
export const CLIP_MARKER_KEYS: Record<Exclude<ClipMakeName, 'openai'>, string> = {
  'x-clip': 'text_transformer.token_emb.weight',
  coca: 'text_cls_token',
};

/** The prefix under which a make's weights sit among `keys`, or undefined when there are none. */
export function clipKeyPrefixFor(make: ClipMakeName, keys: readonly string[]): string | undefined {
  if (make === 'openai') return clipKeyPrefix(keys);
  const set = new Set(keys);
  return PREFIXES.find((p) => set.has(`${p}${CLIP_MARKER_KEYS[make]}`));
}

/** What a make's state dict looks like, for "no weights found" errors. */
export function clipWeightsHint(make: ClipMakeName): string {
  if (make === 'openai') return 'OpenAI CLIP state dict keys such as "visual.proj", or Hugging Face CLIPModel keys';
  const what = make === 'x-clip' ? 'an x_clip.CLIP (x-clip 0.7.0) state dict' : 'a CoCa (CoCa-pytorch 0.0.6) state dict';
  return `${what} with keys such as "${CLIP_MARKER_KEYS[make]}", bare or under "clip." / "clip.clip."`;
}

/**
 * The adapter of `make` over `weights` (keys without prefix). x-clip and coca are built from
 * `base_model_kwargs` (errors name `path`) and checked strictly against it; openai reads its shape off the weights.
 */
export async function createClipAdapter(
  make: ClipMakeName,
  weights: Weights,
  kwargs: Record<string, unknown> | undefined,
  path = 'clip.base_model_kwargs',
  source = 'clip config',
): Promise<AnyClipAdapter> {
  if (make === 'openai') return new OpenAIClipAdapter(new ClipModel(weights));
  if (kwargs === undefined) {
    const ctor = make === 'x-clip' ? 'x_clip.CLIP' : 'CoCa';
    throw new WeightError(`${source}: ${path}: is required for make "${make}" (the ${ctor} constructor arguments the weights were trained with)`);
  }
  if (make === 'x-clip') return new XClipAdapter(await XClipModel.create(weights, parseXClipConfig(kwargs, path, source)));
  return new CoCaAdapter(await CoCaModel.create(weights, parseCoCaConfig(kwargs, path, source)));
}

