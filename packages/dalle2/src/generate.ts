// generate(): the simple Node API. Text in, PNGs (sharp) and raw pixels out, on the bundled demo model
// unless another ModelLoadConfig is given. Same semantics as dalle2-laion's BasicInference: prompts are
// tokenised with the DALLE2 tokenizer, the prior samples `samples` embeddings per prompt (best of 2
// candidates each), the decoder turns each into an image. Image k of every prompt draws its noise
// from its own stream seeded `seed + k` (prior draws, then decoder draws), so an image is the same
// whatever the batch size, sample count or other prompts, and remakes alone with seed + k.
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { NoiseSource } from '@dalle2/sampler';
import { tune, type Runtime } from '@dalle2/tensor';
import { loadModelLoadConfig, type ModelLoadConfig } from './config/index.js';
import { encodePng } from './image/index.js';
import { DalleModelManager, type LoadProgress } from './manager/index.js';
import { SOFTWARE, configDigest, pngWithParameters, type GenerationParameters } from './parameters.js';
import { checkPrompts, checkRequestAgainstConfig, resolvePlan } from './plan.js';
import { BasicInference, type DecodedImage, type SamplingProgress } from './scripts/index.js';
import { batchOf, checkCounts, jobPlanRequest, scriptPreview, type FinishedImage, type PreviewRequest } from './jobs/common.js';

/** The model shipped in this package (`models/demo`, a tiny 32x32 coloured-shapes DALLE2). */
export const DEFAULT_MODEL_CONFIG = fileURLToPath(new URL('../models/demo/model_config.json', import.meta.url));

export interface GeneratedImage extends FinishedImage {
  prompt: string;
  /** Index of the prompt in the input list. */
  promptIndex: number;
}

export type GenerateProgress = { stage: 'load'; event: LoadProgress } | SamplingProgress;

export interface GenerateOptions {
  /** Seed (default 0). Image k of each prompt uses seed + k: same seed, prompt and steps, same image. */
  seed?: number;
  /** Images per prompt (default 1). */
  samples?: number;
  /**
   * Sampling-step overrides: one number for every stage, or per stage (`decoder` may list one per
   * unet). Defaults come from the model config (demo model: prior 32, decoder 32 + 16, DDIM).
   */
  steps?: number | { prior?: number; decoder?: number | readonly (number | undefined)[] };
  /**
   * Classifier-free guidance: one number sets every decoder unet's scale; or per stage. Defaults come
   * from the model config (demo model: decoder [2, 1]). The 1.1.0 prior ignores its scale.
   */
  condScale?: number | { prior?: number; decoder?: number | readonly number[] };
  /** Most prompts per prior batch (default 100) and images per decoder batch (default 10). */
  batchSize?: number | { prior?: number; decoder?: number };
  /** A ModelLoadConfig (object or JSON path); default the bundled demo model. */
  modelConfig?: ModelLoadConfig | string;
  /** Already-loaded models to use instead of loading `modelConfig` (not disposed by generate). */
  manager?: DalleModelManager;
  /** GPU runtime for a manager generate() loads itself. */
  rt?: Runtime;
  onProgress?: (p: GenerateProgress) => void;
  /** One stream for every draw instead of per-image seeds (e.g. ReplayNoise of recorded upstream draws). */
  noise?: NoiseSource;
  /** Called with each image as soon as it is decoded (before later batches run). */
  onImage?: (image: GeneratedImage) => void | Promise<void>;
  /** Stops at the next sampling step; generate() then rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Cut prompts longer than the prior's 256 tokens to their first 256 instead of failing. */
  truncate?: boolean;
  /** Intermediate decoder images every few steps; image index = promptIndex * samples + sampleIndex. */
  preview?: PreviewRequest;
  /** Warnings from loading and sampling; default console.warn. */
  warn?: (message: string) => void;
  /**
   * After generating, measure the kernel choices for the shapes this run met and save them for this
   * adapter (per-adapter tuning cache), so later runs use them. Default false.
   */
  tune?: boolean;
}

/**
 * Tunes the shapes a run met without a stored kernel choice (see @dalle2/tensor's tuning.ts) and saves
 * them; `log` gets one summary line.
 */
export async function tuneAfterRun(rt: Runtime, log: (line: string) => void): Promise<void> {
  const pending = rt.tuning.misses().length;
  if (pending === 0) {
    log(`tuning: every shape of this run already has a stored choice (${rt.tuning.file ?? 'in memory'})`);
    return;
  }
  const t0 = Date.now();
  const results = await tune(rt);
  const changed = results.filter((r) => JSON.stringify(r.choice) !== JSON.stringify(r.candidates[0])).length;
  log(`tuning: measured ${results.length} shapes in ${((Date.now() - t0) / 1000).toFixed(0)} s, ${changed} now use another kernel; saved to ${rt.tuning.file ?? 'memory (DALLE2_TUNING=0)'}`);
}

/** Checks prompts and options that need no model (throws OptionError). */
function checkOptions(prompts: readonly string[], options: GenerateOptions): { samples: number; seed: number } {
  checkPrompts(prompts, options.truncate ?? false);
  return checkCounts(options);
}

/**
 * Generates `samples` images per prompt. Loads (and frees) the model unless `manager` is given. Every
 * option is checked before any sampling (OptionError naming it); images reach `onImage` as they finish.
 */
export async function generate(prompt: string | readonly string[], options: GenerateOptions = {}): Promise<GeneratedImage[]> {
  const prompts = typeof prompt === 'string' ? [prompt] : [...prompt];
  const { samples, seed } = checkOptions(prompts, options);
  const request = jobPlanRequest(options);
  const configSource = options.manager ? undefined : (options.modelConfig ?? DEFAULT_MODEL_CONFIG);
  let config: ModelLoadConfig | undefined;
  if (configSource !== undefined) {
    config = typeof configSource === 'string' ? await loadModelLoadConfig(configSource) : configSource;
    checkRequestAgainstConfig(config, request);
  }
  // The manager takes the config read above (relative CLIP paths resolve against its file's folder).
  const manager =
    options.manager ??
    (await DalleModelManager.load(config!, {
      rt: options.rt,
      baseDir: typeof configSource === 'string' ? dirname(resolve(configSource)) : undefined,
      warn: options.warn,
      onProgress: options.onProgress ? (event) => options.onProgress!({ stage: 'load', event }) : undefined,
    }));
  try {
    const plan = await resolvePlan(manager, request, true);
    const model = { digest: configDigest(manager.config), config: typeof options.modelConfig === 'string' ? options.modelConfig : typeof configSource === 'string' ? configSource : undefined };
    const script = new BasicInference(manager, { seed, noise: options.noise, onProgress: options.onProgress, signal: options.signal, truncateText: options.truncate,
      // the decoder's rows are the prior's embeddings, prompt-major, sample-minor: row e is output e
      preview: scriptPreview(options.preview, (k) => k.input),
    });
    const out: GeneratedImage[] = [];
    const finish = async (d: DecodedImage, promptIndex: number, sampleIndex: number) => {
      const parameters: GenerationParameters = {
        kind: 'dream', prompt: prompts[promptIndex], seed: seed + sampleIndex, runSeed: seed, sample: sampleIndex, plan, model, software: SOFTWARE,
      };
      const image: GeneratedImage = {
        prompt: prompts[promptIndex], promptIndex, sampleIndex, seed: seed + sampleIndex, parameters,
        width: d.image.width, height: d.image.height, png: pngWithParameters(await encodePng(d.image), parameters), rgb: d.image.data, pixels: d.pixels,
      };
      out.push(image);
      await options.onImage?.(image);
    };
    await script.run(prompts, {
      priorSampleCount: samples,
      priorCondScale: plan.priorCondScale,
      decoderCondScale: plan.decoderCondScale,
      priorTimesteps: plan.priorSteps,
      decoderTimesteps: plan.decoderSteps,
      priorBatchSize: batchOf(options, 'prior'),
      decoderBatchSize: batchOf(options, 'decoder'),
      onImage: (d, at) => finish(d, at.prompt, at.sample),
    });
    if (options.tune) await tuneAfterRun(manager.rt, options.warn ?? console.warn);
    // Results in prompt order, then sample order (images finish batch by batch).
    return out.sort((a, b) => a.promptIndex - b.promptIndex || a.sampleIndex - b.sampleIndex);
  } finally {
    if (!options.manager) await manager.dispose();
  }
}
