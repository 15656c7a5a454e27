// The one place the scripts call decoder sampling: @dalle2/models `Decoder.sample` (DALLE2-pytorch 1.1.0
// semantics, including RePaint inpainting) over the manager's combined unets, with step progress.
import type { Tensor } from '@dalle2/tensor';
import type { NoiseSource } from '@dalle2/sampler';
import type { LoadedDecoder } from '../manager/index.js';

export interface DecoderStepEvent {
  /** 1-based unet number and how many unets run. */
  unet: number;
  unets: number;
  /** 0-based network call within this unet and the calls it makes (RePaint resamples included). */
  step: number;
  steps: number;
}

export interface SampleDecoderArgs {
  /** CLIP image embeddings [B, D]. */
  imageEmbed: Tensor;
  /** CLIP text encodings [B, L, W], for text-conditioned unets only. */
  textEncodings?: Tensor;
  /** Guidance scale per unet (or one for all). */
  condScale: number | readonly number[];
  /** Sampling steps per unet (undefined entries: the unet's default). */
  timesteps?: readonly (number | undefined)[];
  noise: NoiseSource;
  /** Inpainting: images [B, 3, H, W] in [0, 1] and i32 masks [B, H, W] (1 = keep). */
  inpaint?: { images: Tensor; masks: Tensor };
  /** RePaint resamples per step when inpainting (upstream default 5). */
  inpaintResampleTimes?: number;
  /** Called after every network call, with the step's tensors (alive only during the call). */
  onStep?: (e: DecoderStepEvent, tensors: DecoderStepTensors) => void | Promise<void>;
}

/** A step's tensors: the unet input x_t, its output, and x after the step (all in the unets' [-1, 1]). */
export interface DecoderStepTensors {
  x: Tensor;
  modelOutput: Tensor;
  next: Tensor;
  /** Timestep x was at. */
  time: number;
}

/** Decoder.sample: images [B, channels, H, W] in [0, 1] (caller disposes). */
export async function sampleDecoder(loaded: LoadedDecoder, args: SampleDecoderArgs): Promise<Tensor> {
  const { decoder, config, unets } = loaded;
  const n = unets.length;
  const steps = unets.map((u, i) => args.timesteps?.[i] ?? u.sampleTimesteps ?? null);
  const resample = args.inpaint ? (args.inpaintResampleTimes ?? 5) : 1;
  const calls = steps.map((s) => (s !== null && s < config.timesteps ? s : config.timesteps) * resample);
  return decoder.sample({
    imageEmbed: args.imageEmbed,
    textEncodings: loaded.condOnText ? args.textEncodings : undefined,
    condScale: args.condScale,
    sampleTimesteps: steps,
    noise: args.noise,
    inpaintImage: args.inpaint?.images,
    inpaintMask: args.inpaint?.masks,
    inpaintResampleTimes: args.inpaint ? resample : undefined,
    onStep: args.onStep ? (info) => args.onStep!({ unet: info.unet + 1, unets: n, step: info.call, steps: calls[info.unet] }, { x: info.x, modelOutput: info.modelOutput, next: info.next, time: info.time }) : undefined,
  });
}
