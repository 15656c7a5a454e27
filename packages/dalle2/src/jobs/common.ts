// What the three job kinds (dream, variation, inpaint) share: options, seeds and sample counts, the
// per-image parameter record, and previews indexed by the image's place in the job's output order
// (input-major, sample-minor), so a caller need not know how each script batches its rows.
import { encodePng, type RgbImage } from '../image/index.js';
import type { DalleModelManager } from '../manager/index.js';
import { SOFTWARE, configDigest, pngWithParameters, type GenerationParameters } from '../parameters.js';
import { OptionError, type PlanRequest, type SamplingPlan } from '../plan.js';
import type { DecodedImage, PreviewOptions, SamplingProgress } from '../scripts/index.js';

/** What every finished image carries (generate(), variation(), inpaint()). */
export interface FinishedImage {
  /** 0-based sample number within its prompt or input image. */
  sampleIndex: number;
  /** This image's own seed (run seed + sampleIndex): the same call with this seed remakes it alone. */
  seed: number;
  /** Everything it was made with (also written into the PNG's text chunks). */
  parameters: GenerationParameters;
  width: number;
  height: number;
  /** PNG file bytes with the parameters as text chunks. */
  png: Buffer;
  /** 8-bit RGB, row-major HWC (what the PNG holds). */
  rgb: Uint8Array;
  /** The decoder's float output, CHW [3, H, W] in [0, 1]. */
  pixels: Float32Array;
}

/** One finished image of a variation or inpaint job. */
export interface SampledImage extends FinishedImage {
  /** Place in the job's output order: input * samples + sampleIndex. */
  index: number;
  /** Index of the input image. */
  input: number;
}

/** A decoder preview: the job's images (by output index) as they stand after a step. */
export interface ImagePreview {
  unet: number;
  unets: number;
  step: number;
  steps: number;
  images: { index: number; image: RgbImage }[];
}

export interface PreviewRequest {
  /** A preview every `every` decoder steps of each unet. */
  every: number;
  onPreview: (p: ImagePreview) => void | Promise<void>;
}

/** Options of variation() and inpaint() (generate() has the same names). */
export interface ImageJobOptions {
  /** The loaded models (not disposed). */
  manager: DalleModelManager;
  /** Where the load config was read from (recorded in each image's parameters). */
  modelConfig?: string;
  /** Image k of each input uses seed + k (default 0). */
  seed?: number;
  /** Images per input (default 1). */
  samples?: number;
  steps?: number | { prior?: number; decoder?: number | readonly (number | undefined)[] };
  condScale?: number | { prior?: number; decoder?: number | readonly number[] };
  batchSize?: number | { prior?: number; decoder?: number };
  onProgress?: (p: SamplingProgress) => void;
  onImage?: (image: SampledImage) => void | Promise<void>;
  preview?: PreviewRequest;
  /** Stops at the next sampling step (the promise rejects with the signal's reason). */
  signal?: AbortSignal;
  truncate?: boolean;
  /** Notes about the inputs (cropping, resizing, ignored text); default console.warn. */
  warn?: (message: string) => void;
  verbose?: boolean;
  log?: (message: string) => void;
}

function perStage(v: unknown, stage: 'prior' | 'decoder'): unknown {
  if (v === undefined || typeof v !== 'object' || v === null || Array.isArray(v)) return v;
  return (v as Record<string, unknown>)[stage];
}

/** The per-stage request of the `steps` and `condScale` options (one number: every stage / every unet). */
export function jobPlanRequest(o: Pick<ImageJobOptions, 'steps' | 'condScale'>): PlanRequest {
  const { steps, condScale: cond } = o;
  return {
    priorSteps: typeof steps === 'number' ? steps : (perStage(steps, 'prior') as number | undefined),
    decoderSteps: typeof steps === 'number' ? steps : (perStage(steps, 'decoder') as number | (number | undefined)[] | undefined),
    priorCondScale: typeof cond === 'number' ? undefined : (perStage(cond, 'prior') as number | undefined),
    decoderCondScale: typeof cond === 'number' ? cond : (perStage(cond, 'decoder') as number | number[] | undefined),
  };
}

/** The batch size of a stage. */
export function batchOf(o: Pick<ImageJobOptions, 'batchSize'>, stage: 'prior' | 'decoder'): number | undefined {
  return typeof o.batchSize === 'number' ? o.batchSize : (perStage(o.batchSize, stage) as number | undefined);
}

/** Checks samples, seed and batch sizes (throws OptionError). */
export function checkCounts(o: Pick<ImageJobOptions, 'samples' | 'seed' | 'batchSize'>): { samples: number; seed: number } {
  const samples = o.samples ?? 1;
  if (!Number.isInteger(samples) || samples < 1) throw new OptionError('samples', `samples must be a positive integer, got ${samples}`);
  const seed = o.seed ?? 0;
  if (!Number.isSafeInteger(seed) || seed < 0 || !Number.isSafeInteger(seed + samples)) throw new OptionError('seed', `seed must be an integer in [0, 2^53 - samples], got ${seed}`);
  for (const b of [batchOf(o, 'prior'), batchOf(o, 'decoder')]) {
    if (b !== undefined && (!Number.isInteger(b) || b < 1)) throw new OptionError('batchSize', `batch size must be a positive integer, got ${b}`);
  }
  return { samples, seed };
}

/** The parameter record of one image. */
export function imageParameters(
  manager: DalleModelManager,
  at: { kind: GenerationParameters['kind']; plan: SamplingPlan; runSeed: number; sample: number; modelConfig?: string },
  extra: Pick<GenerationParameters, 'prompt' | 'image' | 'mask'>,
): GenerationParameters {
  return {
    kind: at.kind, ...extra, seed: at.runSeed + at.sample, runSeed: at.runSeed, sample: at.sample, plan: at.plan,
    model: { digest: configDigest(manager.config), config: at.modelConfig }, software: SOFTWARE,
  };
}

/** A script's preview option for a job preview request; `indexOf` maps a decoder row to its output index. */
export function scriptPreview(req: PreviewRequest | undefined, indexOf: (k: { input: number; sample: number }) => number): PreviewOptions | undefined {
  if (!req) return undefined;
  return {
    every: req.every,
    onPreview: (p) => req.onPreview({ unet: p.unet, unets: p.unets, step: p.step, steps: p.steps, images: p.images.map((r) => ({ index: indexOf(r), image: r.image })) }),
  };
}

/** A decoded image as a job hands it out: its place, seed, parameters and the PNG carrying them. */
export async function sampledImage(d: DecodedImage, at: { input: number; sample: number; samples: number; seed: number }, parameters: GenerationParameters): Promise<SampledImage> {
  return {
    index: at.input * at.samples + at.sample, input: at.input, sampleIndex: at.sample, seed: at.seed + at.sample, parameters,
    width: d.image.width, height: d.image.height, png: pngWithParameters(await encodePng(d.image), parameters), rgb: d.image.data, pixels: d.pixels,
  };
}
