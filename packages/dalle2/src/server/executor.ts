// Runs one validated job on the loaded models (the in-process runner's worker): generate(),
// variation() or inpaint(), with progress, previews (PNG data URLs) and images handed to hooks.
import { generate } from '../generate.js';
import { decodeImage, encodePng } from '../image/index.js';
import { inpaint, variation, type ImagePreview } from '../jobs/index.js';
import type { DalleModelManager } from '../manager/index.js';
import type { GenerationParameters } from '../parameters.js';
import { resolvePlan } from '../plan.js';
import type { SamplingProgress } from '../scripts/index.js';
import type { JobPreviewEvent, JobSpec } from './jobTypes.js';

/** Upstream's default batch sizes (what the scripts use when not told). */
const PRIOR_BATCH = 100;
const DECODER_BATCH = 10;
/** RePaint resamples per step when inpainting (upstream default). */
const INPAINT_RESAMPLES = 5;

export interface ExecutorHooks {
  signal: AbortSignal;
  /** Network calls the job will make in all (for the fraction done and the ETA); sampling starts. */
  onStart: (totalCalls: number) => void;
  /** A remote executor's job waits in its queue at this 1-based place (until onStart). */
  onQueued?: (position: number) => void;
  onProgress: (p: SamplingProgress) => void;
  onPreview: (p: JobPreviewEvent) => void;
  onImage: (image: { index: number; png: Buffer; seed: number; parameters: GenerationParameters }) => Promise<void>;
  note: (message: string) => void;
}

/** Runs a job to the end (or rejects: failed, or aborted through hooks.signal). */
export type JobExecutor = (spec: JobSpec, hooks: ExecutorHooks) => Promise<void>;

export interface ExecutorOptions {
  /** Where the model config was read from (recorded in the PNGs). */
  modelConfig?: string;
  /** A preview every N decoder steps; default about 8 per unet; 0 turns previews off. */
  previewEvery?: number;
}

async function previewEvent(p: ImagePreview): Promise<JobPreviewEvent> {
  const images = await Promise.all(p.images.map(async (r) => ({ index: r.index, url: `data:image/png;base64,${(await encodePng(r.image)).toString('base64')}` })));
  return { unet: p.unet, unets: p.unets, step: p.step, steps: p.steps, images };
}

/** Network calls of a job (prior steps per prior batch, decoder steps per unet per decoder batch). */
async function totalCalls(manager: DalleModelManager, spec: JobSpec): Promise<{ calls: number; maxDecoderSteps: number }> {
  const withPrior = spec.kind !== 'variation';
  const plan = await resolvePlan(manager, { priorSteps: spec.steps.prior, decoderSteps: spec.steps.decoder, priorCondScale: spec.condScale.prior, decoderCondScale: spec.condScale.decoder }, withPrior);
  const images = (spec.kind === 'dream' ? spec.prompts.length : 1) * spec.samples;
  const prior = withPrior ? Math.ceil(images / PRIOR_BATCH) * (plan.priorSteps ?? 0) : 0;
  const resample = spec.kind === 'inpaint' ? INPAINT_RESAMPLES : 1;
  const decoder = Math.ceil(images / DECODER_BATCH) * plan.decoderSteps.reduce((a, b) => a + b, 0) * resample;
  return { calls: prior + decoder, maxDecoderSteps: Math.max(...plan.decoderSteps) * resample };
}

/** The in-process executor: runs jobs on `manager` in this process. */
export function inProcessExecutor(manager: DalleModelManager, options: ExecutorOptions = {}): JobExecutor {
  return async (spec, hooks) => {
    const { calls, maxDecoderSteps } = await totalCalls(manager, spec);
    hooks.onStart(calls);
    const every = options.previewEvery ?? Math.max(1, Math.ceil(maxDecoderSteps / 8));
    const common = {
      manager, modelConfig: options.modelConfig, seed: spec.seed, samples: spec.samples, steps: spec.steps, condScale: spec.condScale,
      batchSize: { prior: PRIOR_BATCH, decoder: DECODER_BATCH }, truncate: spec.truncate, signal: hooks.signal, onProgress: hooks.onProgress, warn: hooks.note,
      preview: every > 0 ? { every, onPreview: async (p: ImagePreview) => hooks.onPreview(await previewEvent(p)) } : undefined,
    };
    const onImage = (im: { index?: number; promptIndex?: number; sampleIndex: number; png: Buffer; seed: number; parameters: GenerationParameters }) =>
      hooks.onImage({ index: im.index ?? im.promptIndex! * spec.samples + im.sampleIndex, png: im.png, seed: im.seed, parameters: im.parameters });
    if (spec.kind === 'dream') {
      await generate(spec.prompts, { ...common, onProgress: (p) => p.stage !== 'load' && hooks.onProgress(p), onImage });
    } else if (spec.kind === 'variation') {
      const image = await decodeImage(spec.image);
      await variation([{ image, name: 'upload', text: spec.text }], { ...common, centerCrop: true, onImage });
    } else {
      const [image, mask] = [await decodeImage(spec.image), await decodeImage(spec.mask)];
      await inpaint([{ image, mask, prompt: spec.prompt, name: 'upload', maskName: 'painted mask' }], { ...common, onImage });
    }
  };
}
