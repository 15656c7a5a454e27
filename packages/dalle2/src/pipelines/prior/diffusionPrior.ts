// DALLE2-pytorch 1.1.0 `DiffusionPrior` sampling as a pipeline over @dalle2/sampler: p_mean_variance /
// p_sample, p_sample_loop (DDPM or DDIM through the sampler's one loop) and sample (repeat each text
// num_samples_per_batch times, sample, divide by image_embed_scale, rerank by cosine similarity to the
// text embedding; no re-normalisation). Method names follow upstream so the file reads side by side.
//
// Upstream behaviours kept on purpose (see shared/fixtures/NOTES.md 1, 4-6):
// - DDIM when the sampling steps S < T, else DDPM. DDIM uses alphas = alphas_cumprod_prev, eta = 1.0
//   (p_sample_loop_ddim's hard default), times linspace(0, T, S + 2)[:-1].int() reversed.
// - Noise draws, in order: DDIM one randn for x_T, then one randn_like per step except the last
//   (S draws); DDPM one randn for x_T, then one randn_like at every step including t = 0 (T + 1 draws).
// - cond_scale reaches forward_with_cond_scale, which the 1.1.0 network ignores (the net states it:
//   condScaleIsNoop; warned once); the DDPM path (p_mean_variance) still asserts cond_scale == 1
//   unless cond_drop_prob > 0.
// - x0 is clamped to [-1, 1] only when the net predicts noise; sampling_clamp_l2norm,
//   sampling_final_clamp_l2norm and init_image_embed_l2norm are honoured (sampler hooks).
import { Tensor, tidy, mulScalar, divScalar, l2normRows, type Runtime } from '@dalle2/tensor';
import {
  NoiseSchedule, classifierFreeGuidance, extractRows, pMeanVariance, pSampleStep, rerank, sampleLoop, timePlan,
  type LoopHooks, type RowCoef, type StepMath, type Timesteps,
} from '@dalle2/sampler';
import type { DiffusionPriorConfig } from './config.js';
import { netCond, repeatedCond } from './cond.js';
import type {
  DiffusionPriorOptions, PriorLoopOptions, PriorNet, PriorNetInputs, PriorSampleOptions, PriorSampleResult, PriorTextCond,
  PriorTextEncoder, PriorTextInput,
} from './types.js';

/** forward_with_cond_scale: the net's forward, guided (@dalle2/sampler) unless the net states guidance is a no-op. */
export function priorForwardWithCondScale(net: PriorNet, inputs: PriorNetInputs, condScale: number): Tensor {
  if (net.condScaleIsNoop) return net.forward(inputs);
  return classifierFreeGuidance({ rt: net.rt, batch: inputs.imageEmbed.shape[0], condScale, inputs, denoise: (i, drop) => net.forward(i, drop) });
}

export class DiffusionPrior {
  readonly net: PriorNet;
  readonly config: DiffusionPriorConfig;
  readonly schedule: NoiseSchedule;
  readonly clip: PriorTextEncoder | undefined;
  /** image_embed_scale (default sqrt(image_embed_dim)). */
  readonly imageEmbedScale: number;
  private readonly warn: (message: string) => void;
  private warnedCondScale = false;

  constructor(opts: DiffusionPriorOptions) {
    const { net, config } = opts;
    this.net = net;
    this.config = config;
    this.clip = opts.clip;
    const D = config.imageEmbedDim;
    if (!Number.isInteger(D) || D < 1) throw new Error(`DiffusionPrior: image_embed_dim ${D} must be a positive integer`);
    if (net.config && net.config.dim !== D) {
      throw new Error(`DiffusionPrior: the net's dim ${net.config.dim} differs from image_embed_dim ${D}`);
    }
    this.schedule = opts.schedule ?? NoiseSchedule.create(config.betaSchedule, config.timesteps);
    if (this.schedule.numTimesteps !== config.timesteps) {
      throw new Error(`DiffusionPrior: the schedule has ${this.schedule.numTimesteps} timesteps, the config ${config.timesteps}`);
    }
    if (config.sampleTimesteps !== undefined) this.resolveSteps(config.sampleTimesteps);
    this.imageEmbedScale = config.imageEmbedScale ?? D ** 0.5;
    this.warn = opts.warn ?? ((m) => console.warn(m));
  }

  get rt(): Runtime {
    return this.net.rt;
  }

  /** Whether the net ignores cond_scale (the net's own statement; true for DALLE2-pytorch 1.1.0's DiffusionPriorNetwork). */
  get condScaleIsNoop(): boolean {
    return this.net.condScaleIsNoop;
  }

  /** Sampling steps for `timesteps` (default: sample_timesteps, else T) and the sampler they select. */
  resolveSteps(timesteps?: number): { steps: number; sampler: 'ddim' | 'ddpm' } {
    const T = this.schedule.numTimesteps;
    const steps = timesteps ?? this.config.sampleTimesteps ?? T;
    if (!Number.isInteger(steps) || steps < 1 || steps > T) {
      throw new Error(`DiffusionPrior: sampling timesteps ${steps} must be an integer in [1, ${T}] (upstream asserts timesteps <= num_timesteps)`);
    }
    return { steps, sampler: steps < T ? 'ddim' : 'ddpm' };
  }

  /**
   * DiffusionPrior.p_mean_variance (clip_denoised as p_sample passes it: True): model mean plus the
   * fixed posterior variance and clipped log-variance per row. `cond` rows must match x.
   */
  pMeanVariance(x: Tensor, t: Timesteps, cond: PriorTextCond, condScale = 1): { mean: Tensor; variance: RowCoef; logVariance: RowCoef } {
    const ts = this.ddpmTimes(x, t, condScale);
    return tidy(this.rt, () => {
      const pred = priorForwardWithCondScale(this.net, { ...netCond(this.config, cond), imageEmbed: x, timesteps: ts }, condScale);
      const { mean, logVariance } = pMeanVariance({ ...this.stepMath(), xt: x, t: ts, modelOutput: pred });
      return { mean, logVariance: logVariance as RowCoef, variance: extractRows(this.schedule, 'posterior_variance', ts, x.shape[0], 'DiffusionPrior.pMeanVariance') };
    });
  }

  /** DiffusionPrior.p_sample: one DDPM step with the given randn_like draw (shaped like x). */
  pSample(x: Tensor, t: Timesteps, cond: PriorTextCond, noise: Tensor, condScale = 1): Tensor {
    const ts = this.ddpmTimes(x, t, condScale);
    return tidy(this.rt, () => {
      const pred = priorForwardWithCondScale(this.net, { ...netCond(this.config, cond), imageEmbed: x, timesteps: ts }, condScale);
      return pSampleStep({ ...this.stepMath(), xt: x, t: ts, modelOutput: pred, noise });
    });
  }

  /**
   * DiffusionPrior.p_sample_loop over `batch` rows: x_T from the noise source, then DDIM (S < T) or
   * DDPM steps. `cond` must already have `batch` rows. Returns x_0, still scaled [batch, D].
   */
  async pSampleLoop(batch: number, cond: PriorTextCond, opts: PriorLoopOptions): Promise<Tensor> {
    const { steps, sampler } = this.resolveSteps(opts.timesteps);
    const condScale = opts.condScale ?? 1;
    this.noteCondScale(condScale);
    if (sampler === 'ddpm') this.checkDdpmCondScale(condScale);
    if (cond.textEmbed.shape[0] !== batch) {
      throw new Error(`DiffusionPrior.pSampleLoop: text embedding has ${cond.textEmbed.shape[0]} rows for a batch of ${batch}`);
    }
    const plan = timePlan(this.schedule.numTimesteps, steps);
    const inputs = netCond(this.config, cond);
    const onStep = opts.onStep;
    return sampleLoop({
      rt: this.rt,
      shape: [batch, this.config.imageEmbedDim],
      plan,
      denoise: (x, time) => priorForwardWithCondScale(this.net, { ...inputs, imageEmbed: x, timesteps: new Array<number>(batch).fill(time) }, condScale),
      math: { ...this.stepMath(), eta: 1 }, // p_sample_loop_ddim's hard default
      noise: opts.noise,
      hooks: this.loopHooks(),
      onStep: onStep
        ? (s) => onStep({ index: s.call, steps: plan.pairs.length, sampler, time: s.time, timeNext: sampler === 'ddim' ? s.timeNext : undefined, x: s.x, pred: s.modelOutput, next: s.next })
        : undefined,
    });
  }

  /**
   * DiffusionPrior.sample: every text row repeated numSamplesPerBatch (r) times, p_sample_loop over
   * the B * r rows, / image_embed_scale, then per text the candidate with the highest
   * einsum(l2norm(text_embed), l2norm(candidate)). Returns every intermediate (caller disposes).
   */
  async sampleDetailed(text: PriorTextInput, opts: PriorSampleOptions): Promise<PriorSampleResult> {
    const r = opts.numSamplesPerBatch ?? 2;
    if (!Number.isInteger(r) || r < 1) throw new Error(`DiffusionPrior.sample: numSamplesPerBatch ${r} must be a positive integer`);
    this.noteCondScale(opts.condScale ?? 1);
    this.resolveSteps(opts.timesteps);
    const D = this.config.imageEmbedDim;
    const { inputs: cond, owned, batch: B } = repeatedCond(this.config, this.clip, text, r);
    let loopOut: Tensor | undefined;
    let candidates: Tensor | undefined;
    try {
      loopOut = await this.pSampleLoop(B * r, cond, opts);
      const lo = loopOut;
      candidates = tidy(this.rt, () => divScalar(lo, this.imageEmbedScale).reshape([B, r, D])).keep(); // image_embeds /= image_embed_scale
      const { similarities, topIndex, chosen } = await rerank(cond.textEmbed, candidates);
      return { imageEmbed: chosen, loopOut: lo, candidates, similarities, topIndex };
    } catch (e) {
      loopOut?.dispose();
      candidates?.dispose();
      throw e;
    } finally {
      for (const t of owned) t.dispose();
    }
  }

  /** DiffusionPrior.sample: the reranked image embedding [B, D] (not re-normalised). */
  async sample(text: PriorTextInput, opts: PriorSampleOptions): Promise<Tensor> {
    const res = await this.sampleDetailed(text, opts);
    res.loopOut.dispose();
    res.candidates.dispose();
    return res.imageEmbed;
  }

  // ---------------------------------------------------------------- internals

  /** Step math shared by DDPM and DDIM: clamp only when predicting noise; optional l2norm clamp. */
  private stepMath(): Omit<StepMath, 'eta'> {
    const { predictXStart, samplingClampL2norm } = this.config;
    const scale = this.imageEmbedScale;
    return {
      sched: this.schedule,
      predictX0: predictXStart,
      clamp: !predictXStart,
      processX0: predictXStart && samplingClampL2norm ? (x0: Tensor) => mulScalar(l2normRows(x0), scale) : undefined,
    };
  }

  /** init_image_embed_l2norm and sampling_final_clamp_l2norm: rows rescaled to norm image_embed_scale. */
  private loopHooks(): LoopHooks {
    const scale = this.imageEmbedScale;
    const l2 = (x: Tensor) => mulScalar(l2normRows(x), scale);
    const { initImageEmbedL2norm, samplingFinalClampL2norm, predictXStart } = this.config;
    return { init: initImageEmbedL2norm ? l2 : undefined, final: samplingFinalClampL2norm && predictXStart ? l2 : undefined };
  }

  /** Checks a single DDPM step's cond_scale and expands t to one timestep per row of x. */
  private ddpmTimes(x: Tensor, t: Timesteps, condScale: number): number[] {
    this.noteCondScale(condScale);
    this.checkDdpmCondScale(condScale);
    return typeof t === 'number' ? new Array<number>(x.shape[0]).fill(t) : [...t];
  }

  /** Warns once per prior when a cond_scale other than 1 is asked of a net that ignores it. */
  private noteCondScale(condScale: number): void {
    if (!Number.isFinite(condScale)) throw new Error(`DiffusionPrior: condScale ${condScale} must be finite`);
    if (condScale !== 1 && this.condScaleIsNoop && !this.warnedCondScale) {
      this.warnedCondScale = true;
      this.warn(
        `DiffusionPrior: condScale ${condScale} has no effect: DALLE2-pytorch 1.1.0's DiffusionPriorNetwork never applies ` +
          'its cond-drop mask, so forward_with_cond_scale equals forward (sampling as with condScale 1)',
      );
    }
  }

  /** Upstream's p_mean_variance assertion (DDPM path only). */
  private checkDdpmCondScale(condScale: number): void {
    if (condScale !== 1 && !(this.config.condDropProb > 0)) {
      throw new Error(
        'DiffusionPrior: the model was not trained with conditional dropout, and thus one cannot use classifier free guidance (cond_scale anything other than 1)',
      );
    }
  }
}
