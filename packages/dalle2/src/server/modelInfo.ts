// GET /api/model: what is loaded and the limits the API enforces, so the page builds the right
// sliders (one decoder cond scale per unet, step ranges) and scripts know what to send.
import type { DalleModelManager } from '../manager/index.js';
import { configDigest } from '../parameters.js';

/** Limits of the API (dalle2-laion's app: 8 prompts, 1-4 / 1-6 images, cond scales 0.5-5 in 0.05 steps). */
export const LIMITS = {
  maxPrompts: 8,
  maxPromptChars: 1000,
  samples: { dream: 4, variation: 6, inpaint: 6 },
  condScale: { min: 0.5, max: 5, step: 0.05 },
  maxSeed: 2 ** 32 - 1,
  /** Uploaded file size (bytes, after base64 decoding) and pixel dimensions, checked from the header. */
  maxUploadBytes: 8 * 1024 * 1024,
  maxImageSide: 4096,
  maxImagePixels: 4096 * 4096,
  imageTypes: ['png', 'jpeg', 'webp'] as const,
};

export interface ModelInfo {
  config: string;
  digest: string;
  adapter: string;
  /** Absent when the model has no prior (variations only). */
  prior?: { defaultSteps: number; maxSteps: number; defaultCondScale: number };
  decoder: {
    maxSteps: number;
    /** Output image size (of the last unet). */
    imageSize: number;
    conditionedOnText: boolean;
    unets: { number: number; imageSize: number; defaultSteps: number; defaultCondScale: number }[];
  };
  kinds: ('dream' | 'variation' | 'inpaint')[];
  limits: typeof LIMITS;
  queue: { maxQueued: number };
}

export async function modelInfo(manager: DalleModelManager, configPath: string, maxQueued: number): Promise<ModelInfo> {
  const decoder = await manager.decoder();
  const T = decoder.config.timesteps;
  let prior: ModelInfo['prior'];
  if (manager.config.prior) {
    const p = await manager.diffusionPrior();
    const d = manager.priorDefaults();
    const priorT = p.schedule.numTimesteps;
    prior = { defaultSteps: d.sampleTimesteps ?? priorT, maxSteps: priorT, defaultCondScale: d.condScale };
  }
  return {
    config: configPath,
    digest: configDigest(manager.config),
    adapter: manager.rt.describe(),
    prior,
    decoder: {
      maxSteps: T,
      imageSize: decoder.config.imageSizes.at(-1)!,
      conditionedOnText: decoder.condOnText,
      unets: decoder.unets.map((u, i) => ({ number: i + 1, imageSize: u.imageSize, defaultSteps: u.sampleTimesteps ?? T, defaultCondScale: u.condScale })),
    },
    kinds: prior ? ['dream', 'variation', 'inpaint'] : ['variation'],
    limits: LIMITS,
    queue: { maxQueued },
  };
}
