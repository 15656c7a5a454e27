// The Decoder pipeline's interfaces: construction, per-step and per-unet info, and sample()'s arguments.
import type { LoadOptions, Unet } from '@dalle2/models';
import type { LoopStepInfo, NoiseSchedule, NoiseSource, RowCoef } from '@dalle2/sampler';
import type { Tensor } from '@dalle2/tensor';
import type { DecoderConfig } from './config.js';

/** Loads one unet on demand (e.g. from a checkpoint file), so unets not in use need not hold GPU memory. */
export type UnetLoader = () => Promise<Unet>;

export interface DecoderInit {
  /** One per config unet: a built Unet or a loader called at first use. */
  unets: readonly (Unet | UnetLoader)[];
  /** Per-unet noise schedules; default: computed from the config (beta_schedule, timesteps). */
  schedules?: readonly NoiseSchedule[];
  config: DecoderConfig;
}

export interface DecoderLoadOptions extends Pick<LoadOptions, 'dtype'> {
  /** Load each unet at its first use instead of now (default false). */
  lazy?: boolean;
  /**
   * Where the schedules come from: 'config' (default; computed as NoiseScheduler.__init__ does) or
   * 'checkpoint' (the file's `noise_schedulers.N.*` buffers, as load_state_dict would install them).
   */
  schedules?: 'config' | 'checkpoint';
  /** Name of the config for error messages. */
  configSource?: string;
}

/**
 * One network evaluation of the sampling loop, handed to `onStep` (tensors live only during the call):
 * x is the unet input (after the RePaint merge), modelOutput the forward_with_cond_scale output
 * (variance channels included), next x after the step (before RePaint re-noising).
 */
export interface DecoderStepInfo extends LoopStepInfo {
  /** Unet index (0-based). */
  unet: number;
}

/** A unet's finished loop, handed to `onUnet` (tensors live only during the call). */
export interface DecoderUnetInfo {
  unet: number;
  /** p_sample_loop output (unnormalized: [0, 1] with auto_normalize_img) [B, C, S, S]. */
  output: Tensor;
  /** Low-res conditioning as handed to p_sample_loop (resized, clamped, not yet normalized); upsamplers only. */
  lowresCondImg?: Tensor;
}

export interface DecoderSampleArgs {
  /** CLIP image embedding [B, D]; required unless the decoder is unconditional. B is the batch size. */
  imageEmbed?: Tensor;
  /** Batch size of an unconditional decoder (default 1). */
  batchSize?: number;
  /** CLIP text encodings [B, L, text_embed_dim] (zero rows = padding); required iff a unet conditions on text. */
  textEncodings?: Tensor;
  /** Optional i32 [B, L] (nonzero = real token): other rows of textEncodings are zeroed, i.e. treated as padding. */
  textMask?: Tensor;
  /** Guidance scale, one for every unet or one per unet (default 1). */
  condScale?: number | readonly number[];
  /** DDIM steps per unet (null = full DDPM; DDIM when fewer than the training timesteps); default from the config. */
  sampleTimesteps?: number | null | readonly (number | null | undefined)[];
  /** RePaint inpainting: known image [B, C, H, W] in [0, 1] (the decoder's image range). */
  inpaintImage?: Tensor;
  /** i32 [B, H, W] or [B, 1, H, W]: nonzero = pixel known (taken from inpaintImage). */
  inpaintMask?: Tensor;
  /** RePaint resampling per timestep (upstream default 5). */
  inpaintResampleTimes?: number;
  /** Where every randn / randn_like draw comes from, in upstream's order. */
  noise: NoiseSource;
  /** Awaited after each unet evaluation; may throw to abort (everything the run holds is freed). */
  onStep?: (info: DecoderStepInfo) => void | Promise<void>;
  onUnet?: (info: DecoderUnetInfo) => void | Promise<void>;
  /** First unet to run (1-based unet number, as upstream's start_at_unet_number); > 1 needs `image`. */
  startAtUnet?: number;
  /** Image [B, C, h, w] in the decoder's image range, standing in for the output of unet startAtUnet - 1. */
  image?: Tensor;
  /** Last unet to run (1-based unet number, as upstream's stop_at_unet_number); its output is returned. */
  stopAtUnet?: number;
  /** Release each unet once its loop is done (it reloads at next use only if it has a loader). */
  releaseUnets?: boolean;
}

/** One p_mean_variance / p_sample call on given inputs (Decoder.p_mean_variance's arguments). */
export interface DecoderStepArgs {
  /** x_t [B, C, S, S] in [-1, 1] space. */
  x: Tensor;
  /** One timestep for the batch or one per row. */
  t: number | readonly number[];
  imageEmbed?: Tensor;
  textEncodings?: Tensor;
  /** Low-res conditioning already resized and normalized to [-1, 1] (upsamplers). */
  lowresCondImg?: Tensor;
  condScale?: number;
  /** The unet's forward_with_cond_scale output, if already computed (then the unet is not run). */
  modelOutput?: Tensor;
}

/** One update of the sampling loop from a given unet output (see Decoder.loopStep). */
export interface DecoderLoopStepArgs {
  /** x_t [B, C, S, S]. */
  x: Tensor;
  time: number;
  /** DDIM: the time the step goes to; DDPM: ignored. */
  timeNext: number;
  /** forward_with_cond_scale output at (x, time), variance channels included. */
  modelOutput: Tensor;
  /** The step's randn_like draw: always for DDPM, only when timeNext > 0 for DDIM. */
  noise?: Tensor;
  ddim: boolean;
}

export interface DecoderMeanVariance {
  mean: Tensor;
  /** Learned (a tensor like x) or fixed (posterior_log_variance_clipped per row). */
  logVariance: Tensor | RowCoef;
  /** The forward_with_cond_scale output it came from. */
  modelOutput: Tensor;
}

/** Conditioning shared by every step of a sample() call. */
export interface DecoderCond {
  imageEmbed?: Tensor;
  textEncodings?: Tensor;
}

/** Inputs of one unet's p_sample_loop (internal to the pipeline). */
export interface UnetLoopArgs {
  index: number;
  unet: Unet;
  shape: [number, number, number, number];
  cond: DecoderCond;
  condScale: number;
  sampleSteps: number | null;
  /** Low-res conditioning in the image range (normalized inside the loop, as upstream does). */
  lowres?: Tensor;
  inpaintImage?: Tensor;
  inpaintMask?: Tensor;
  resampleTimes: number;
  noise: NoiseSource;
  onStep?: (info: DecoderStepInfo) => void | Promise<void>;
}
