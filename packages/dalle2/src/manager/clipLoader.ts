// Finds and loads the CLIP weights a model needs. Upstream calls `clip.load(<model name>)`, which
// downloads OpenAI's weights by name; we cannot, so the weights come from (in order):
//   1. `clip.load_model_from` (our File field),
//   2. `clip.model` when it names an existing local weights file (the demo model does this),
//   3. CLIP keys inside the prior checkpoint (`clip.` / `clip.clip.`; LAION's prior has them, fp16).
import { stat } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import type { Runtime } from '@dalle2/tensor';
import { ClipModel, OpenAIClipAdapter, clipKeyPrefix, clipWeightsFromHost, type Weights } from '@dalle2/models';
import type { ClipLoadConfig, FileSpec } from '../config/index.js';
import { resolveFile, type ResolveOptions } from '../files/index.js';
import { dtypeSummary, openCheckpoint, readTensors, type CheckpointFile } from './checkpointFile.js';

export class ClipLoadError extends Error {
  override name = 'ClipLoadError';
}

/** Where the CLIP weights were found. */
export type ClipSourceKind = 'load_model_from' | 'model_path' | 'prior_checkpoint';

export interface LoadedClip {
  model: ClipModel;
  adapter: OpenAIClipAdapter;
  weights: Weights;
  kind: ClipSourceKind;
  /** File the weights came from. */
  path: string;
  /** Stored dtypes of the CLIP tensors (uploaded as f32). */
  storedDtypes: Record<string, number>;
}

const HOW_TO_PROVIDE =
  'set clip.load_model_from to a File with the weights (OpenAI CLIP state dict keys such as "visual.proj", ' +
  'or Hugging Face CLIPModel keys; .safetensors or .pth), or put the path of such a file in clip.model, ' +
  'or use a prior checkpoint that contains clip.* keys (as LAION\'s does)';

/** Rejects CLIP makes we cannot run, naming the JSON path. */
export function checkClipMake(clip: ClipLoadConfig): void {
  if (clip.make === 'openai') return;
  throw new ClipLoadError(
    `clip.make: "${clip.make}" is not supported yet (only "openai" CLIP ViT weights can be loaded; ` +
      `x-clip, coca and open_clip checkpoints have no weight mapping here)`,
  );
}

/** `clip.model` as a local file path, when it names one (relative to the config's directory). */
export async function clipModelPath(clip: ClipLoadConfig | undefined, baseDir: string | undefined): Promise<string | undefined> {
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
  if (clip) checkClipMake(clip);
  if (clip?.load_model_from) {
    const path = await resolveFile(clip.load_model_from, opts.resolve);
    return fromFile(opts.rt, path, 'load_model_from', 'clip.load_model_from');
  }
  const modelPath = await clipModelPath(clip, opts.baseDir);
  if (modelPath) return fromFile(opts.rt, modelPath, 'model_path', 'clip.model');
  const prior = opts.priorCheckpoint;
  if (prior && clipKeyPrefix(prior.keys()) !== undefined) return fromCheckpoint(opts.rt, prior, 'prior_checkpoint', 'prior.load_model_from');
  const named = clip?.model ? ` "${clip.model}"` : '';
  throw new ClipLoadError(
    `clip: CLIP${named} is required (${opts.neededBy}) but no CLIP weights were found; ${HOW_TO_PROVIDE}. ` +
      'OpenAI weights cannot be downloaded by model name here.',
  );
}

async function fromFile(rt: Runtime, path: string, kind: ClipSourceKind, label: string): Promise<LoadedClip> {
  const file = await openCheckpoint(path, label);
  try {
    return await fromCheckpoint(rt, file, kind, label);
  } finally {
    await file.close();
  }
}

async function fromCheckpoint(rt: Runtime, file: CheckpointFile, kind: ClipSourceKind, label: string): Promise<LoadedClip> {
  const prefix = clipKeyPrefix(file.keys());
  if (prefix === undefined) {
    throw new ClipLoadError(`${label}: ${file.path} holds no CLIP weights (no "visual.proj" or Hugging Face CLIPModel keys); ${HOW_TO_PROVIDE}`);
  }
  const host = await readTensors(file, (k) => (k.startsWith(prefix) ? k : undefined));
  const weights = clipWeightsFromHost(rt, host, file.path);
  try {
    const model = new ClipModel(weights);
    return {
      model,
      adapter: new OpenAIClipAdapter(model),
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
