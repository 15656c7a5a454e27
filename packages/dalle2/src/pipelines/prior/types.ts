// The DiffusionPrior pipeline's interfaces: the network and CLIP adapter it drives (structural, so a
// mock net fits), its text inputs, per-step info and results.
import type { Runtime, Tensor } from '@dalle2/tensor';
import type { NoiseSchedule, NoiseSource } from '@dalle2/sampler';
import type { DiffusionPriorConfig } from './config.js';

/** Inputs of the prior network's forward (DiffusionPriorNetwork's shape). */
export interface PriorNetInputs {
  /** Noised (scaled) image embedding x_t [B, D]. */
  imageEmbed: Tensor;
  /** One timestep per batch row. */
  timesteps: Int32Array | readonly number[];
  /** CLIP text embedding [B, D]. */
  textEmbed: Tensor;
  /** CLIP text encodings [B, L, W]; absent = every text slot is the learned null embedding. */
  textEncodings?: Tensor;
  /** i32 [B, L] keep-mask; absent = any(text_encodings != 0, -1) as upstream. */
  textMask?: Tensor;
}

/** What DiffusionPrior needs of the network (DiffusionPriorNetwork fits it). */
export interface PriorNet {
  readonly rt: Runtime;
  /** When present, `dim` must equal the prior's image_embed_dim. */
  readonly config?: { readonly dim: number };
  /**
   * The network's own statement that forward_with_cond_scale equals forward (true for DALLE2-pytorch
   * 1.1.0's DiffusionPriorNetwork): guidance is then skipped, with a one-time warning for scales != 1.
   */
  readonly condScaleIsNoop: boolean;
  /** Predicted x0 (or noise) [B, D]; rows flagged in `dropCond` get the null conditioning (guidance). */
  forward(inputs: PriorNetInputs, dropCond?: readonly boolean[]): Tensor;
}

/** What DiffusionPrior needs of a CLIP adapter (OpenAIClipAdapter fits it). */
export interface PriorTextEncoder {
  /** tokens [batch, L] row-major -> text embedding [batch, D] and encodings [batch, L', W]. */
  embedText(tokens: Int32Array, batch: number): { textEmbed: Tensor; textEncodings: Tensor };
}

/** Text conditioning per text (B rows); DiffusionPrior.sample repeats it per candidate. */
export interface PriorTextCond {
  /** [B, D] (upstream: the adapter's l2-normalised text embedding). */
  textEmbed: Tensor;
  /** [B, L, W]; ignored when condition_on_text_encodings is false. */
  textEncodings?: Tensor;
  /**
   * Optional i32 [B, L] keep-mask for the net. Upstream's DiffusionPrior.sample passes none (the net
   * derives it from the encodings), so leave it out for fidelity.
   */
  textMask?: Tensor;
}

/** Token input: `batch` rows of `tokens` (row-major [batch, L]), embedded by the prior's CLIP adapter. */
export interface PriorTokenInput {
  tokens: Int32Array;
  batch: number;
}

export type PriorTextInput = PriorTextCond | PriorTokenInput;

/** One sampling step, handed to `onStep`. The tensors are valid only until the callback returns. */
export interface PriorStepInfo {
  /** 0-based step index and the number of steps. */
  index: number;
  steps: number;
  sampler: 'ddim' | 'ddpm';
  /** Timestep fed to the net (every row), and for DDIM the step's time_next. */
  time: number;
  timeNext?: number;
  /** Net input x_t [batch, D]. */
  x: Tensor;
  /** Net output (forward_with_cond_scale) [batch, D]. */
  pred: Tensor;
  /** The step's result x_{t-1} / x_next [batch, D]. */
  next: Tensor;
}

export interface PriorLoopOptions {
  /** Sampling steps S (default: config sample_timesteps, else T). S < T selects DDIM. */
  timesteps?: number;
  /** Classifier-free guidance scale (a no-op in 1.1.0; warned about once). Default 1. */
  condScale?: number;
  /** Source of the randn / randn_like draws (SeededNoise, or ReplayNoise of recorded draws). */
  noise: NoiseSource;
  /** Called after each step; awaited; may throw to abort. Reading its tensors forces a readback (tests/tracing only). */
  onStep?: (step: PriorStepInfo) => void | Promise<void>;
}

export interface PriorSampleOptions extends PriorLoopOptions {
  /** Candidates per text, reranked by similarity to the text embedding (upstream default 2). */
  numSamplesPerBatch?: number;
}

export interface PriorSampleResult {
  /** The chosen candidate per text [B, D] (= DiffusionPrior.sample). */
  imageEmbed: Tensor;
  /** p_sample_loop output, still multiplied by image_embed_scale [(B r), D]. */
  loopOut: Tensor;
  /** loopOut / image_embed_scale as [B, r, D]. */
  candidates: Tensor;
  /** einsum(l2norm(text_embed), l2norm(candidate)) [B * r] (row-major [B, r]). */
  similarities: Float32Array;
  /** Chosen candidate per text [B] (topk k = 1). */
  topIndex: Int32Array;
}

export interface DiffusionPriorOptions {
  net: PriorNet;
  config: DiffusionPriorConfig;
  /** Default: NoiseSchedule.create(config.betaSchedule, config.timesteps). */
  schedule?: NoiseSchedule;
  /** CLIP adapter for token inputs (upstream `prior.clip`). */
  clip?: PriorTextEncoder;
  /** Where the one-time cond_scale warning goes (default console.warn). */
  warn?: (message: string) => void;
}
