// Finds and loads the CLIP weights a model needs. Upstream calls `clip.load(<model name>)` for make
// "openai", which downloads OpenAI's weights by name, and builds x-clip / coca with random weights; we
// do neither, so the weights come from (in order):
//   1. `clip.load_model_from` (our File field),
//   2. `clip.model` when it names an existing local weights file (the demo model does this; openai only:
//      the other makes ignore `model`, as upstream),
//   3. the make's keys inside the prior checkpoint (`clip.` / `clip.clip.`; LAION's prior has them, fp16).
// x-clip and coca are built from `clip.base_model_kwargs` and must match their weights exactly.
import { stat } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import type { Runtime } from '@dalle2/tensor';
import {
  Weights, clipKeyPrefixFor, clipWeightsFromHost, clipWeightsHint, createClipAdapter, type AnyClipAdapter, type ClipMakeName,
} from '@dalle2/models';
import type { ClipLoadConfig, FileSpec } from '../config/index.js';
import { resolveFile, type ResolveOptions } from '../files/index.js';
import { dtypeSummary, openCheckpoint, readTensors, type CheckpointFile } from './checkpointFile.js';

export class ClipLoadError extends Error {
  override name = 'ClipLoadError';
}

/** Where the CLIP weights were found. */
export type ClipSourceKind = 'load_model_from' | 'model_path' | 'prior_checkpoint';

export interface LoadedClip {
  make: ClipMakeName;
  adapter: AnyClipAdapter;
  weights: Weights;
  kind: ClipSourceKind;
  /** File the weights came from. */
  path: string;
  /** Stored dtypes of the CLIP tensors (uploaded as f32). */
  storedDtypes: Record<string, number>;
}

function howToProvide(make: ClipMakeName): string {
  const inModel = make === 'openai' ? ', or put the path of such a file in clip.model' : '';
  return (
    `set clip.load_model_from to a File with the weights (${clipWeightsHint(make)}; .safetensors or .pth)${inModel}, ` +
    'or use a prior checkpoint that contains clip.* keys (as LAION\'s does)'
  );
}

/** The make to load, or an error for makes we cannot run (naming the JSON path). */
export function checkClipMake(clip: ClipLoadConfig | undefined): ClipMakeName {
  const make = clip?.make ?? 'openai';
  if (make === 'openai' || make === 'x-clip' || make === 'coca') return make;
  throw new ClipLoadError(`clip.make: "${make}" is not supported (supported: "openai", "x-clip", "coca"; open_clip has no weight mapping here)`);
}

/** `clip.model` as a local file path, when it names one (relative to the config's directory; make openai only). */
export async function clipModelPath(clip: ClipLoadConfig | undefined, baseDir: string | undefined): Promise<string | undefined> {
  if (checkClipMake(clip) !== 'openai') return undefined;
  if (!clip?.model || !/\.(safetensors|pth|pt|bin|ckpt)$/i.test(clip.model)) return undefined;
  const full = isAbsolute(clip.model) ? clip.model : resolve(baseDir ?? process.cwd(), clip.model);
  const info = await stat(full).catch(() => undefined);
  return info?.isFile() ? full : undefined;
}

export interface ClipLoadOptions {
  rt: Runtime;
  clip: ClipLoadConfig | undefined;
  /** Directory relative `clip.model` paths resolve against. */
  baseDir: string | undefined;
  /** The prior checkpoint, if one is open: its `clip.*` keys are the last resort. */
  priorCheckpoint?: CheckpointFile;
  /** Why CLIP is needed (for the error message), e.g. "the prior config names a clip". */
  neededBy: string;
  resolve?: ResolveOptions;
}

/** Loads CLIP from the first source that has it; throws a ClipLoadError saying what to provide otherwise. */
export async function loadClip(opts: ClipLoadOptions): Promise<LoadedClip> {
  const clip = opts.clip;
  const make = checkClipMake(clip);
  if (make !== 'openai' && !clip?.base_model_kwargs) {
    throw new ClipLoadError(
      `clip.base_model_kwargs: is required for make "${make}" (the ${make === 'x-clip' ? 'x_clip.CLIP' : 'CoCa'} constructor arguments the weights were trained with` +
        `${make === 'coca' ? ', plus the adapter\'s image_size, image_channels and max_text_len' : ''})`,
    );
  }
  if (clip?.load_model_from) {
    const path = await resolveFile(clip.load_model_from, opts.resolve);
    return fromFile(opts, make, path, 'load_model_from', 'clip.load_model_from');
  }
  const modelPath = await clipModelPath(clip, opts.baseDir);
  if (modelPath) return fromFile(opts, make, modelPath, 'model_path', 'clip.model');
  const prior = opts.priorCheckpoint;
  if (prior && clipKeyPrefixFor(make, prior.keys()) !== undefined) return fromCheckpoint(opts, make, prior, 'prior_checkpoint', 'prior.load_model_from');
  if (make !== 'openai') {
    throw new ClipLoadError(
      `clip: the "${make}" CLIP is required (${opts.neededBy}) but no weights for it were found; ${howToProvide(make)}. ` +
        'Upstream would build a randomly initialised model here; we never do.',
    );
  }
  const named = clip?.model ? ` "${clip.model}"` : '';
  throw new ClipLoadError(
    `clip: CLIP${named} is required (${opts.neededBy}) but no CLIP weights were found; ${howToProvide(make)}. ` +
      'OpenAI weights cannot be downloaded by model name here.',
  );
}

async function fromFile(opts: ClipLoadOptions, make: ClipMakeName, path: string, kind: ClipSourceKind, label: string): Promise<LoadedClip> {
  const file = await openCheckpoint(path, label);
  try {
    return await fromCheckpoint(opts, make, file, kind, label);
  } finally {
    await file.close();
  }
}

async function fromCheckpoint(opts: ClipLoadOptions, make: ClipMakeName, file: CheckpointFile, kind: ClipSourceKind, label: string): Promise<LoadedClip> {
  const prefix = clipKeyPrefixFor(make, file.keys());
  if (prefix === undefined) {
    throw new ClipLoadError(`${label}: ${file.path} holds no "${make}" CLIP weights (expected ${clipWeightsHint(make)}); ${howToProvide(make)}`);
  }
  const host = await readTensors(file, (k) => (k.startsWith(prefix) ? k : undefined));
  const weights =
    make === 'openai'
      ? clipWeightsFromHost(opts.rt, host, file.path)
      : Weights.fromHost(opts.rt, host, `${file.path}${prefix ? ` (keys under "${prefix}")` : ''}`, { prefix });
  try {
    const adapter = await createClipAdapter(make, weights, opts.clip?.base_model_kwargs, 'clip.base_model_kwargs', 'model config');
    return {
      make,
      adapter,
      weights,
      kind,
      path: file.path,
      storedDtypes: dtypeSummary(file, (k) => k.startsWith(prefix)),
    };
  } catch (err) {
    weights.dispose();
    throw err;
  }
}

/** A File spec for a local path (used when a config names weights by plain path). */
export function localFile(path: string, origin: string): FileSpec {
  return { load_type: 'local', path, origin };
}

/** One line on what was loaded, for progress and reports. */
export function describeClip(clip: LoadedClip): string {
  const a = clip.adapter;
  if (a.make === 'openai') {
    const c = a.clip.config;
    return `OpenAI CLIP ViT (${c.visionLayers} vision / ${c.textLayers} text layers, width ${c.visionWidth}/${c.textWidth}, embed ${c.embedDim}, ${c.imageResolution}px, from ${clip.kind})`;
  }
  if (a.make === 'x-clip') {
    const c = a.clip.config;
    return `x-clip CLIP (${c.visualEncDepth} vision / ${c.textEncDepth} text layers, width ${c.dimImage}/${c.dimText}, latent ${c.dimLatent}, ${c.visualImageSize}px, text ${c.textSeqLen} tokens, from ${clip.kind})`;
  }
  const c = a.clip.config;
  return `CoCa (${c.unimodalDepth} unimodal / ${c.multimodalDepth} multimodal layers, dim ${c.dim}, text ${c.maxTextLen} tokens, text only: no image encoder, from ${clip.kind})`;
}
