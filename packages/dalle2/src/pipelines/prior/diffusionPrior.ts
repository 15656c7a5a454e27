// DALLE2-pytorch 1.1.0 `DiffusionPrior` sampling: p_mean_variance / p_sample, p_sample_loop_ddpm,
// p_sample_loop_ddim, p_sample_loop and sample (repeat each text num_samples_per_batch times, sample,
// divide by image_embed_scale, keep per text the candidate with the highest cosine similarity to its
// text embedding; no re-normalisation).
//
// The network and the CLIP adapter are structural interfaces (DiffusionPriorNetwork and
// OpenAIClipAdapter fit them), so the loop can also drive a mock net; the step math is @dalle2/sampler's.
//
// Upstream behaviours kept on purpose (see shared/fixtures/NOTES.md 1, 4-6):
// - DDIM when the sampling steps S < T, else DDPM. DDIM uses alphas = alphas_cumprod_prev, eta = 1.0
//   (p_sample_loop_ddim's hard default), times linspace(0, T, S + 2)[:-1].int() reversed.
// - Noise draws, in order: DDIM one randn for x_T, then one randn_like per step except the last
//   (S draws); DDPM one randn for x_T, then one randn_like at every step including t = 0 (T + 1 draws).
// - cond_scale is handed to net.forward_with_cond_scale, which in 1.1.0 ignores it (warned once); the DDPM path
//   (p_mean_variance) still asserts cond_scale == 1 unless cond_drop_prob > 0.
// - x0 is clamped to [-1, 1] only when the net predicts noise; sampling_clamp_l2norm,
//   sampling_final_clamp_l2norm and init_image_embed_l2norm are honoured.
// - Reranking: einsum('b r d, b r d -> b r', l2norm(text_embeds), l2norm(image_embeds)), topk(k=1).
//
// Execution: each sampling step records its kernels into one command stream and submits it; at most
// one step stays queued behind the running one, so the buffer pool recycles and GPU memory stays
// bounded by about two steps' working sets. No host readback happens inside the loop; reranking
// reads the [B, r] similarities back once.
import {
  Tensor, tidy, mul, sum, mulScalar, divScalar, embedding, l2normRows, repeatRows, type Runtime,
} from '@dalle2/tensor';
import {
  NoiseSchedule, extractRows, pMeanVariance, pSampleStep, ddimStep, ddimTimePairs, drawNoise,
  type RowCoef, type Timesteps, type NoiseSource,
} from '@dalle2/sampler';
import type { DiffusionPriorConfig } from './config.js';

/** Inputs of the prior network's forward_with_cond_scale (DiffusionPriorNetwork's shape). */
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
  condScale?: number;
}

/** What DiffusionPrior needs of the network (DiffusionPriorNetwork fits it). */
export interface PriorNet {
  readonly rt: Runtime;
  /** When present, `dim` must equal the prior's image_embed_dim. */
  readonly config?: { readonly dim: number };
  /** Predicted x0 (or noise) [B, D]. */
  forwardWithCondScale(inputs: PriorNetInputs): Tensor;
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
  /** Called after each step; awaited. Reading its tensors forces a readback (tests/tracing only). */
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
  /** Whether the net ignores cond_scale; default: the net class's static `condScaleIsNoop`. */
  condScaleIsNoop?: boolean;
  /** Where the one-time cond_scale warning goes (default console.warn). */
  warn?: (message: string) => void;
}

/** Host version of repeatRows for token ids [batch, L]. */
export function repeatTokenRows(tokens: Int32Array, batch: number, r: number): Int32Array {
  if (batch < 1 || tokens.length % batch !== 0) throw new Error(`repeatTokenRows: ${tokens.length} ids do not split into ${batch} rows`);
  const L = tokens.length / batch;
  const out = new Int32Array(tokens.length * r);
  for (let b = 0; b < batch; b++) {
    const row = tokens.subarray(b * L, (b + 1) * L);
    for (let k = 0; k < r; k++) out.set(row, (b * r + k) * L);
  }
  return out;
}

/** torch.topk(k=1) over each row of a [rows, r] host array: index of the largest value (NaN counts as largest, first wins). */
export function topIndexPerRow(values: Float32Array, rows: number, r: number): Int32Array {
  const out = new Int32Array(rows);
  for (let b = 0; b < rows; b++) {
    let best = 0;
    for (let k = 1; k < r; k++) {
      const v = values[b * r + k];
      const cur = values[b * r + best];
      if (Number.isNaN(cur)) break;
      if (Number.isNaN(v) || v > cur) best = k;
    }
    out[b] = best;
  }
  return out;
}

function isTokenInput(t: PriorTextInput): t is PriorTokenInput {
  return 'tokens' in t;
}

/** Repeated conditioning plus the tensors this call created (to free afterwards). */
interface Cond {
  inputs: Omit<PriorNetInputs, 'imageEmbed' | 'timesteps' | 'condScale'>;
  owned: Tensor[];
}

export class DiffusionPrior {
  readonly net: PriorNet;
  readonly config: DiffusionPriorConfig;
  readonly schedule: NoiseSchedule;
  readonly clip: PriorTextEncoder | undefined;
  /** image_embed_scale (default sqrt(image_embed_dim)). */
  readonly imageEmbedScale: number;
  /** Whether the net ignores cond_scale (true for DALLE2-pytorch 1.1.0's DiffusionPriorNetwork). */
  readonly condScaleIsNoop: boolean;
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
    const staticNoop = (net.constructor as { condScaleIsNoop?: unknown } | undefined)?.condScaleIsNoop;
    this.condScaleIsNoop = opts.condScaleIsNoop ?? staticNoop === true;
    this.warn = opts.warn ?? ((m) => console.warn(m));
  }

  get rt(): Runtime {
    return this.net.rt;
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
    this.noteCondScale(condScale);
    this.checkDdpmCondScale(condScale);
    const b = x.shape[0];
    const ts = typeof t === 'number' ? new Array<number>(b).fill(t) : [...t];
    return tidy(this.rt, () => {
      const pred = this.net.forwardWithCondScale({ ...this.netCond(cond), imageEmbed: x, timesteps: ts, condScale });
      const { mean, logVariance } = pMeanVariance({ ...this.stepMath(), xt: x, t: ts, modelOutput: pred });
      return { mean, logVariance: logVariance as RowCoef, variance: extractRows(this.schedule, 'posterior_variance', ts, b, 'DiffusionPrior.pMeanVariance') };
    });
  }

  /** DiffusionPrior.p_sample: one DDPM step with the given randn_like draw (shaped like x). */
  pSample(x: Tensor, t: Timesteps, cond: PriorTextCond, noise: Tensor, condScale = 1): Tensor {
    this.noteCondScale(condScale);
    this.checkDdpmCondScale(condScale);
    const b = x.shape[0];
    const ts = typeof t === 'number' ? new Array<number>(b).fill(t) : [...t];
    return tidy(this.rt, () => {
      const pred = this.net.forwardWithCondScale({ ...this.netCond(cond), imageEmbed: x, timesteps: ts, condScale });
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
    const rt = this.rt;
    const shape = [batch, this.config.imageEmbedDim];
    const netCond = this.netCond(cond);
    const math = this.stepMath();
    const scale = this.imageEmbedScale;

    let prevStep: Promise<unknown> | undefined;
    let x = drawNoise(rt, opts.noise, shape).keep();
    try {
      if (this.config.initImageEmbedL2norm) x = this.replace(x, tidy(rt, () => mulScalar(l2normRows(x), scale)));
      const schedulePairs: [number, number | undefined][] =
        sampler === 'ddim' ? ddimTimePairs(this.schedule.numTimesteps, steps) : Array.from({ length: steps }, (_, i) => [steps - 1 - i, undefined]);
      for (let index = 0; index < schedulePairs.length; index++) {
        const [time, timeNext] = schedulePairs[index];
        const xt = x;
        const timesteps = new Array<number>(batch).fill(time);
        const r = tidy(rt, () => {
          const pred = this.net.forwardWithCondScale({ ...netCond, imageEmbed: xt, timesteps, condScale });
          let next: Tensor;
          if (timeNext !== undefined) {
            // p_sample_loop_ddim: randn_like only when time_next > 0
            const noise = timeNext > 0 ? drawNoise(rt, opts.noise, shape) : undefined;
            next = ddimStep({ ...math, xt, time, timeNext, modelOutput: pred, eta: 1, noise });
          } else {
            // p_sample draws randn_like at every t, including t = 0 (where it is multiplied by 0)
            const noise = drawNoise(rt, opts.noise, shape);
            next = pSampleStep({ ...math, xt, t: time, modelOutput: pred, noise });
          }
          return opts.onStep ? { next, pred } : { next };
        });
        r.next.keep();
        try {
          if (opts.onStep) {
            await opts.onStep({ index, steps: schedulePairs.length, sampler, time, timeNext, x: xt, pred: r.pred!, next: r.next });
          }
        } catch (e) {
          r.next.dispose();
          throw e;
        } finally {
          r.pred?.dispose();
        }
        x = this.replace(x, r.next);
        // one command stream per step; wait for the step before this one, so at most one is queued
        rt.flush();
        const done = rt.device.queue.onSubmittedWorkDone();
        done.catch(() => undefined); // a device loss surfaces through rt's checks, not as an unhandled rejection
        if (prevStep) await prevStep;
        prevStep = done;
      }
      if (this.config.samplingFinalClampL2norm && this.config.predictXStart) {
        x = this.replace(x, tidy(rt, () => mulScalar(l2normRows(x), scale)));
      }
      return x;
    } catch (e) {
      if (!x.disposed) x.dispose();
      throw e;
    }
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
    const rt = this.rt;
    const D = this.config.imageEmbedDim;
    const { inputs, owned, batch: B } = this.repeatedCond(text, r);
    const cond: PriorTextCond = inputs;
    let loopOut: Tensor | undefined;
    let candidates: Tensor | undefined;
    try {
      loopOut = await this.pSampleLoop(B * r, cond, opts);
      const lo = loopOut;
      const { cands, sims } = tidy(rt, () => {
        const emb = divScalar(lo, this.imageEmbedScale); // image_embeds /= image_embed_scale
        const s = sum(mul(l2normRows(cond.textEmbed), l2normRows(emb)), -1); // einsum 'b r d, b r d -> b r'
        return { cands: emb.reshape([B, r, D]), sims: s };
      });
      candidates = cands.keep();
      let similarities: Float32Array;
      try {
        similarities = await sims.toFloat32(); // the one host readback: topk needs the values
      } finally {
        sims.dispose();
      }
      const topIndex = topIndexPerRow(similarities, B, r);
      const rows = Array.from(topIndex, (k, b) => b * r + k);
      const imageEmbed = tidy(rt, () => embedding(cands.reshape([B * r, D]), rows)).keep();
      return { imageEmbed, loopOut: lo, candidates: cands, similarities, topIndex };
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

  /** Disposes `old` and returns `next` (kept out of any enclosing scope). */
  private replace(old: Tensor, next: Tensor): Tensor {
    next.keep();
    if (next !== old) old.dispose();
    return next;
  }

  /** Step-math arguments shared by DDPM and DDIM: clamp only when predicting noise; optional l2norm clamp. */
  private stepMath() {
    const { predictXStart, samplingClampL2norm } = this.config;
    const scale = this.imageEmbedScale;
    return {
      sched: this.schedule,
      predictX0: predictXStart,
      clamp: !predictXStart,
      processX0: predictXStart && samplingClampL2norm ? (x0: Tensor) => mulScalar(l2normRows(x0), scale) : undefined,
    };
  }

  /** The net's text conditioning: text encodings only when condition_on_text_encodings. */
  private netCond(cond: PriorTextCond): Cond['inputs'] {
    const out: Cond['inputs'] = { textEmbed: cond.textEmbed };
    if (this.config.conditionOnTextEncodings && cond.textEncodings) {
      out.textEncodings = cond.textEncodings;
      if (cond.textMask) out.textMask = cond.textMask;
    }
    return out;
  }

  /** Text conditioning repeated r times per text ('b ... -> (b r) ...'). */
  private repeatedCond(text: PriorTextInput, r: number): Cond & { batch: number } {
    if (isTokenInput(text)) {
      if (!this.clip) throw new Error('DiffusionPrior.sample: token input needs a CLIP adapter (DiffusionPriorOptions.clip)');
      // upstream repeats the tokens and embeds the repeated batch
      const tokens = repeatTokenRows(text.tokens, text.batch, r);
      const e = this.clip.embedText(tokens, text.batch * r);
      e.textEmbed.keep();
      e.textEncodings.keep();
      return { inputs: { textEmbed: e.textEmbed, textEncodings: e.textEncodings }, owned: [e.textEmbed, e.textEncodings], batch: text.batch };
    }
    const B = text.textEmbed.shape[0];
    const D = this.config.imageEmbedDim;
    if (text.textEmbed.rank !== 2 || text.textEmbed.shape[1] !== D) {
      throw new Error(`DiffusionPrior.sample: textEmbed [${text.textEmbed.shape.join(', ')}] must be [B, ${D}]`);
    }
    for (const [name, t] of [['textEncodings', text.textEncodings], ['textMask', text.textMask]] as const) {
      if (t && t.shape[0] !== B) throw new Error(`DiffusionPrior.sample: ${name} has ${t.shape[0]} rows, textEmbed ${B}`);
    }
    const owned: Tensor[] = [];
    const rep = (t: Tensor): Tensor => {
      const out = repeatRows(t, r);
      if (out !== t) owned.push(out.keep());
      return out;
    };
    const inputs: Cond['inputs'] = { textEmbed: rep(text.textEmbed) };
    if (text.textEncodings) inputs.textEncodings = rep(text.textEncodings);
    if (text.textMask) inputs.textMask = rep(text.textMask);
    return { inputs, owned, batch: B };
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
