// generate(): the simple Node API. Text in, PNGs (sharp) and raw pixels out, on the bundled demo model
// unless another ModelLoadConfig is given. Same semantics as dalle2-laion's BasicInference: prompts are
// tokenised with the DALLE2 tokenizer, the prior samples `samples` embeddings per prompt (best of 2
// candidates each), the decoder turns each into an image; all random draws come from one seeded
// stream (prior draws first, then decoder draws), so a seed reproduces a run exactly.
import { fileURLToPath } from 'node:url';
import type { NoiseSource } from '@dalle2/sampler';
import { tune, type Runtime } from '@dalle2/tensor';
import type { ModelLoadConfig } from './config/index.js';
import { encodePng } from './image/index.js';
import { DalleModelManager, type LoadProgress } from './manager/index.js';
import { BasicInference, type SamplingProgress } from './scripts/index.js';

/** The model shipped in this package (`models/demo`, a tiny 32x32 coloured-shapes DALLE2). */
export const DEFAULT_MODEL_CONFIG = fileURLToPath(new URL('../models/demo/model_config.json', import.meta.url));

export interface GeneratedImage {
  prompt: string;
  /** Index of the prompt in the input list. */
  promptIndex: number;
  /** 0-based sample number within its prompt. */
  sampleIndex: number;
  width: number;
  height: number;
  /** PNG file bytes. */
  png: Buffer;
  /** 8-bit RGB, row-major HWC (what the PNG holds). */
  rgb: Uint8Array;
  /** The decoder's float output, CHW [3, H, W] in [0, 1]. */
  pixels: Float32Array;
}

export type GenerateProgress = { stage: 'load'; event: LoadProgress } | SamplingProgress;

export interface GenerateOptions {
  /** Seed of the random stream (default 0). Same seed, prompts and options: same images. */
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
  /** Random draws from here instead of SeededNoise(seed) (e.g. ReplayNoise of recorded upstream draws). */
  noise?: NoiseSource;
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

function perStage<T>(v: T | { prior?: unknown; decoder?: unknown } | undefined, stage: 'prior' | 'decoder'): unknown {
  if (v === undefined || typeof v !== 'object' || Array.isArray(v)) return v;
  return (v as Record<string, unknown>)[stage];
}

/** Generates `samples` images per prompt. Loads (and frees) the model unless `manager` is given. */
export async function generate(prompt: string | readonly string[], options: GenerateOptions = {}): Promise<GeneratedImage[]> {
  const prompts = typeof prompt === 'string' ? [prompt] : [...prompt];
  if (prompts.length === 0) throw new Error('generate: no prompts');
  prompts.forEach((p, i) => {
    if (typeof p !== 'string' || p.trim() === '') throw new Error(`generate: prompt ${i} is empty`);
  });
  const samples = options.samples ?? 1;
  if (!Number.isInteger(samples) || samples < 1) throw new Error(`generate: samples must be a positive integer, got ${samples}`);
  const seed = options.seed ?? 0;
  if (!Number.isSafeInteger(seed)) throw new Error(`generate: seed must be a safe integer, got ${seed}`);
  const manager =
    options.manager ??
    (await DalleModelManager.load(options.modelConfig ?? DEFAULT_MODEL_CONFIG, {
      rt: options.rt,
      warn: options.warn,
      onProgress: options.onProgress ? (event) => options.onProgress!({ stage: 'load', event }) : undefined,
    }));
  try {
    const script = new BasicInference(manager, { seed, noise: options.noise, onProgress: options.onProgress });
    const steps = options.steps;
    const priorSteps = typeof steps === 'number' ? steps : (perStage(steps, 'prior') as number | undefined);
    const decoderSteps = typeof steps === 'number' ? steps : (perStage(steps, 'decoder') as number | (number | undefined)[] | undefined);
    const cond = options.condScale;
    const priorCond = typeof cond === 'number' ? undefined : (perStage(cond, 'prior') as number | undefined);
    const decoderCond = typeof cond === 'number' ? cond : (perStage(cond, 'decoder') as number | number[] | undefined);
    const batch = options.batchSize;
    const results = await script.run(prompts, {
      priorSampleCount: samples,
      priorCondScale: priorCond,
      decoderCondScale: decoderCond,
      priorTimesteps: priorSteps,
      decoderTimesteps: decoderSteps,
      priorBatchSize: typeof batch === 'number' ? batch : (perStage(batch, 'prior') as number | undefined),
      decoderBatchSize: typeof batch === 'number' ? batch : (perStage(batch, 'decoder') as number | undefined),
    });
    if (options.tune) await tuneAfterRun(manager.rt, options.warn ?? console.warn);
    const out: GeneratedImage[] = [];
    for (const [promptIndex, r] of results.entries()) {
      let sampleIndex = 0;
      for (const images of r.byEmbedding.values()) {
        for (const d of images) {
          out.push({
            prompt: r.prompt,
            promptIndex,
            sampleIndex: sampleIndex++,
            width: d.image.width,
            height: d.image.height,
            png: await encodePng(d.image),
            rgb: d.image.data,
            pixels: d.pixels,
          });
        }
      }
    }
    return out;
  } finally {
    if (!options.manager) await manager.dispose();
  }
}
