// DALLE2-pytorch 1.1.0 `Decoder` sampling: the cascade of unets (base + low-res-conditioned
// upsamplers), each with its own noise schedule, DDPM or DDIM loop, learned variance, classifier-free
// guidance and RePaint inpainting, reproducing upstream's math and its noise draw order exactly:
//   per unet: x_T = randn(shape); then per step (and per RePaint resample r = R-1 .. 0):
//     inpainting only: q_sample(inpaint_image, t) draws randn_like
//     DDPM: p_sample draws randn_like at every step, t = 0 included (multiplied by 0 there)
//     DDIM: a draw on every step but the last (time_next = 0)
//     inpainting only, unless last timestep or r = 0: q_sample_from_to(x, t_next, t) draws randn_like
// Each sampling step is recorded into one command stream and submitted at its end; nothing is read
// back. Step k + 1 is recorded while the GPU runs step k (we wait for step k - 1 to finish so the
// buffer pool can recycle the uploads and the queue stays one step deep).
import {
  Tensor, SafetensorsFile, addScalar, cast, clamp, fill, interpolateNearest, mulScalar, sigmoid, tidy, where, shapeStr,
  type Runtime,
} from '@dalle2/tensor';
import {
  NoiseSchedule, SCHEDULE_BUFFER_NAMES, ddimStep, ddimTimePairs, drawNoise, inpaintMerge, pMeanVariance, pSampleStep, qSample,
  qSampleFromTo, splitLearnedVariance, type NoiseSource, type RowCoef, type ScheduleBufferName,
} from '@dalle2/sampler';
import { Unet, WeightError, type LoadOptions } from '@dalle2/models';
import { parseDecoderConfig, type DecoderConfig } from './config.js';

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

/** One network evaluation of the sampling loop, handed to `onStep` (tensors live only during the call). */
export interface DecoderStepInfo {
  /** Unet index (0-based). */
  unet: number;
  /** Forward pass number within this unet's loop (0-based; RePaint resamples count separately). */
  call: number;
  /** Timestep fed to the unet. */
  time: number;
  /** Timestep the step moves to (DDIM time_next; DDPM time - 1, so -1 after the last step). */
  timeNext: number;
  /** RePaint resample index r (R-1 .. 0); 0 without inpainting. */
  resample: number;
  /** The unet input x_t [B, C, S, S] (after the RePaint merge when inpainting). */
  x: Tensor;
  /** forward_with_cond_scale output (variance channels included). */
  modelOutput: Tensor;
  /** x after the step (before RePaint re-noising). */
  next: Tensor;
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

interface Slot {
  unet?: Unet;
  loader?: UnetLoader;
  loading?: Promise<Unet>;
}

/** Conditioning shared by every step of a sample() call. */
interface Cond {
  batch: number;
  imageEmbed?: Tensor;
  textEncodings?: Tensor;
}

/** Inputs of one unet's loop. */
interface LoopArgs {
  index: number;
  unet: Unet;
  shape: [number, number, number, number];
  cond: Cond;
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

/** Submits each step's command stream and keeps at most one step queued behind the running one. */
class StepPacer {
  private prev: Promise<unknown> | undefined;

  constructor(private readonly rt: Runtime) {}

  async endStep(): Promise<void> {
    this.rt.flush();
    const done = this.rt.device.queue.onSubmittedWorkDone();
    const prev = this.prev;
    this.prev = done;
    if (prev) await prev;
  }
}

function isDecoderConfig(v: unknown): v is DecoderConfig {
  return typeof v === 'object' && v !== null && Array.isArray((v as DecoderConfig).imageSizes) && Array.isArray((v as DecoderConfig).betaSchedules);
}

/** Upstream cast_tuple(v, n) with validation; errors name `what`. */
function perUnet<T>(v: T | readonly T[], n: number, what: string): T[] {
  if (Array.isArray(v)) {
    if (v.length !== n) throw new Error(`Decoder.sample: ${what} has ${v.length} entries for ${n} unets`);
    return [...(v as readonly T[])];
  }
  return Array<T>(n).fill(v as T);
}

export class Decoder {
  readonly config: DecoderConfig;
  /** One noise schedule per unet. */
  readonly schedules: readonly NoiseSchedule[];
  private readonly slots: Slot[];
  /** Known once a unet is built or loaded (or given by fromSafetensors). */
  private rtValue: Runtime | undefined;

  constructor(init: DecoderInit) {
    const c = init.config;
    const n = c.unets.length;
    if (init.unets.length !== n) throw new Error(`Decoder: ${init.unets.length} unets given for a config with ${n}`);
    const built = init.unets.find((u): u is Unet => u instanceof Unet);
    const rt = built?.rt;
    this.config = c;
    this.schedules =
      init.schedules ??
      c.betaSchedules.map((kind, i) => NoiseSchedule.create(kind, c.timesteps, { p2LossWeightGamma: c.p2LossWeightGamma[i], p2LossWeightK: c.p2LossWeightK }));
    if (this.schedules.length !== n) throw new Error(`Decoder: ${this.schedules.length} schedules for ${n} unets`);
    this.schedules.forEach((s, i) => {
      if (s.numTimesteps !== c.timesteps) throw new Error(`Decoder: unet ${i + 1}'s schedule has ${s.numTimesteps} timesteps, the config ${c.timesteps}`);
    });
    this.slots = init.unets.map((u, i) => {
      if (u instanceof Unet) {
        this.checkUnet(i, u);
        return { unet: u };
      }
      if (typeof u !== 'function') throw new Error(`Decoder: unet ${i + 1} is neither a Unet nor a loader`);
      return { loader: u };
    });
    this.rtValue = rt;
  }

  /**
   * Builds a Decoder from a checkpoint (safetensors with the upstream state-dict keys `unets.N.*`,
   * optionally `noise_schedulers.N.*`) and a TrainDecoderConfig JSON (object, text, or an already
   * parsed DecoderConfig). Any other key in the file is an error, as upstream's strict load_state_dict.
   */
  static async fromSafetensors(rt: Runtime, weightsPath: string, decoderConfigJson: unknown, opts: DecoderLoadOptions = {}): Promise<Decoder> {
    const config = isDecoderConfig(decoderConfigJson) ? decoderConfigJson : parseDecoderConfig(decoderConfigJson, opts.configSource);
    const n = config.unets.length;
    let schedules: NoiseSchedule[] | undefined;
    const file = await SafetensorsFile.open(weightsPath);
    try {
      const stray: string[] = [];
      const seen = new Set<number>();
      for (const key of file.keys()) {
        const u = /^unets\.(\d+)\./.exec(key);
        if (u && Number(u[1]) < n) {
          seen.add(Number(u[1]));
          continue;
        }
        const s = /^noise_schedulers\.(\d+)\.(\w+)$/.exec(key);
        if (s && Number(s[1]) < n && (SCHEDULE_BUFFER_NAMES as readonly string[]).includes(s[2])) continue;
        stray.push(key);
      }
      if (stray.length) {
        const list = stray.slice(0, 10).join(', ') + (stray.length > 10 ? `, ... (${stray.length} in all)` : '');
        throw new WeightError(`${weightsPath}: ${stray.length} key(s) belong to no part of a ${n}-unet Decoder: ${list}`);
      }
      for (let i = 0; i < n; i++) if (!seen.has(i)) throw new WeightError(`${weightsPath}: no weights for unet ${i + 1} (unets.${i}.*)`);
      if (opts.schedules === 'checkpoint') {
        schedules = [];
        for (let i = 0; i < n; i++) {
          const buffers: Partial<Record<ScheduleBufferName, Float32Array>> = {};
          for (const name of SCHEDULE_BUFFER_NAMES) {
            const key = `noise_schedulers.${i}.${name}`;
            if (file.has(key)) buffers[name] = await file.readFloat32(key);
          }
          try {
            schedules.push(NoiseSchedule.fromBuffers(buffers));
          } catch (e) {
            throw new WeightError(`${weightsPath}: noise_schedulers.${i}: ${e instanceof Error ? e.message : String(e)}`);
          }
        }
      }
    } finally {
      await file.close();
    }
    const loaders = config.unets.map((uc, i): UnetLoader => () => Unet.fromSafetensors(rt, weightsPath, i, uc, {}, { dtype: opts.dtype }));
    const unets: (Unet | UnetLoader)[] = [];
    try {
      for (const load of loaders) unets.push(opts.lazy ? load : await load());
    } catch (e) {
      for (const u of unets) if (u instanceof Unet) u.dispose();
      throw e;
    }
    let dec: Decoder;
    try {
      dec = new Decoder({ unets, schedules, config });
    } catch (e) {
      for (const u of unets) if (u instanceof Unet) u.dispose();
      throw e;
    }
    dec.rtValue = rt;
    // keep the loaders so a released unet can come back
    dec.slots.forEach((s, i) => (s.loader = loaders[i]));
    return dec;
  }

  get numUnets(): number {
    return this.slots.length;
  }

  /** The runtime of the unets (known once one is built or loaded). */
  get rt(): Runtime {
    const rt = this.rtValue ?? this.slots.find((s) => s.unet)?.unet?.rt;
    if (!rt) throw new Error('Decoder: no runtime yet (no unet built or loaded)');
    return rt;
  }

  /** Whether unet `index` (0-based) holds its weights now. */
  isLoaded(index: number): boolean {
    return this.slot(index).unet !== undefined;
  }

  /** Unet `index` (0-based), loading it first if needed. */
  async unet(index: number): Promise<Unet> {
    const s = this.slot(index);
    if (s.unet) return s.unet;
    if (!s.loader) throw new Error(`Decoder: unet ${index + 1} was released and has no loader`);
    s.loading ??= s.loader().then(
      (u) => {
        s.loading = undefined;
        try {
          this.checkUnet(index, u);
        } catch (e) {
          u.dispose();
          throw e;
        }
        s.unet = u;
        this.rtValue ??= u.rt;
        return u;
      },
      (e: unknown) => {
        s.loading = undefined;
        throw e;
      },
    );
    return s.loading;
  }

  /** Unet `index` if loaded; throws otherwise (see `unet()`). */
  loadedUnet(index: number): Unet {
    const u = this.slot(index).unet;
    if (!u) throw new Error(`Decoder: unet ${index + 1} is not loaded (await decoder.unet(${index}) first)`);
    return u;
  }

  /**
   * Disposes unet `index` (freeing its weights if it loaded them itself, as fromSafetensors' unets do);
   * a loader brings it back at next use. Do not release a Unet another Decoder still uses.
   */
  releaseUnet(index: number): void {
    const s = this.slot(index);
    s.unet?.dispose();
    s.unet = undefined;
  }

  /** Releases every unet. */
  dispose(): void {
    for (let i = 0; i < this.slots.length; i++) this.releaseUnet(i);
  }

  private slot(index: number): Slot {
    const s = this.slots[index];
    if (!s) throw new Error(`Decoder: unet index ${index} outside [0, ${this.slots.length})`);
    return s;
  }

  private checkUnet(i: number, u: Unet): void {
    const want = this.config.unets[i];
    const got = u.config;
    const diff = (['channels', 'channelsOut', 'lowresCond', 'condOnImageEmbeds', 'condOnTextEncodings'] as const).filter((k) => got[k] !== want[k]);
    if (diff.length) throw new Error(`Decoder: unet ${i + 1} does not match the decoder config (${diff.map((k) => `${k} ${String(got[k])} != ${String(want[k])}`).join(', ')})`);
  }

  /** Whether the decoder was trained with conditioning dropout (cond_scale != 1 needs it). */
  get canClassifierGuidance(): boolean {
    return this.config.imageCondDropProb > 0 || this.config.textCondDropProb > 0;
  }

  /** Any unet conditions on text encodings (then sample() needs them; otherwise it refuses them). */
  get conditionOnTextEncodings(): boolean {
    return this.config.unets.some((u) => u.condOnTextEncodings);
  }

  // ------------------------------------------------------------------ single steps

  /**
   * Decoder.p_mean_variance on given inputs (static clamp; learned variance per the config). Runs the
   * unet (which must be loaded) unless `modelOutput` is given, as upstream's model_output argument.
   */
  pMeanVariance(index: number, a: DecoderStepArgs): DecoderMeanVariance {
    const B = a.x.shape[0];
    const times = typeof a.t === 'number' ? Array<number>(B).fill(a.t) : [...a.t];
    return tidy(this.rt, () => {
      const modelOutput = a.modelOutput ?? this.stepModelOutput(index, a, times);
      const { pred, varInterp } = this.split(index, modelOutput);
      const mv = pMeanVariance({ sched: this.schedules[index], xt: a.x, t: times, modelOutput: pred, predictX0: this.config.predictXStart[index], clamp: true, varInterp });
      return { ...mv, modelOutput };
    });
  }

  /** Decoder.p_sample (DDPM step) on given inputs with the step's randn_like draw (unet run unless modelOutput is given). */
  pSample(index: number, a: DecoderStepArgs & { noise: Tensor }): Tensor {
    const B = a.x.shape[0];
    const times = typeof a.t === 'number' ? Array<number>(B).fill(a.t) : [...a.t];
    return tidy(this.rt, () => {
      const out = a.modelOutput ?? this.stepModelOutput(index, a, times);
      const { pred, varInterp } = this.split(index, out);
      return pSampleStep({ sched: this.schedules[index], xt: a.x, t: times, modelOutput: pred, predictX0: this.config.predictXStart[index], clamp: true, varInterp, noise: a.noise });
    });
  }

  /**
   * One update of p_sample_loop from the unet output at (x, time): p_sample (DDPM, `noise` required) or
   * the DDIM step to timeNext (`noise` exactly when timeNext > 0). The loop in sample() uses this.
   */
  loopStep(index: number, a: DecoderLoopStepArgs): Tensor {
    const sched = this.schedules[index];
    const predictX0 = this.config.predictXStart[index];
    return tidy(this.rt, () => {
      const { pred, varInterp } = this.split(index, a.modelOutput);
      if (a.ddim) {
        return ddimStep({ sched, xt: a.x, time: a.time, timeNext: a.timeNext, modelOutput: pred, predictX0, clamp: true, eta: this.config.ddimSamplingEta, noise: a.noise });
      }
      if (!a.noise) throw new Error('Decoder.loopStep: a DDPM step needs its noise draw (upstream draws at t = 0 too)');
      return pSampleStep({ sched, xt: a.x, t: a.time, modelOutput: pred, predictX0, clamp: true, varInterp, noise: a.noise });
    });
  }

  private stepModelOutput(index: number, a: DecoderStepArgs, times: number[]): Tensor {
    const unet = this.loadedUnet(index);
    const condScale = a.condScale ?? 1;
    this.checkCondScale(condScale);
    return this.modelOutput(unet, a.x, times, { batch: a.x.shape[0], imageEmbed: a.imageEmbed, textEncodings: a.textEncodings }, a.lowresCondImg, condScale);
  }

  private checkCondScale(s: number): void {
    if (!Number.isFinite(s)) throw new Error(`Decoder: cond_scale ${s} must be a finite number`);
    if (s !== 1 && !this.canClassifierGuidance) {
      throw new Error('Decoder: the decoder was not trained with conditional dropout, so cond_scale must be 1 (no classifier-free guidance)');
    }
  }

  /** unet.forward_with_cond_scale (conditional and null rows in one batched pass), as f32. */
  private modelOutput(unet: Unet, x: Tensor, times: number[], cond: Cond, lowres: Tensor | undefined, condScale: number): Tensor {
    const out = unet.forwardWithCondScale({ x, timesteps: times, imageEmbed: cond.imageEmbed, textEncodings: cond.textEncodings, lowresCondImg: lowres }, condScale);
    return out.dtype === 'f32' ? out : cast(out, 'f32');
  }

  /** Splits off the variance channels of a learned-variance unet (sigmoid-constrained if configured). */
  private split(index: number, out: Tensor): { pred: Tensor; varInterp?: Tensor } {
    if (!this.config.learnedVariance[index]) return { pred: out };
    const { pred, varInterp } = splitLearnedVariance(out);
    if (!this.config.learnedVarianceConstrainFrac) return { pred, varInterp };
    // frac = sigmoid((v + 1) / 2); learnedLogVariance takes v' with (v' + 1) / 2 = frac
    return { pred, varInterp: addScalar(mulScalar(sigmoid(mulScalar(addScalar(varInterp, 1), 0.5)), 2), -1) };
  }

  // ------------------------------------------------------------------ images

  /** normalize_img: the image range ([0, 1]) -> the unets' [-1, 1] (identity without auto_normalize_img); a new tensor. */
  normalizeImage(x: Tensor): Tensor {
    return this.config.autoNormalizeImg ? tidy(x.rt, () => addScalar(mulScalar(x, 2), -1)) : x.reshape(x.shape);
  }

  /** unnormalize_img: [-1, 1] -> the image range ([0, 1]); a new tensor. */
  unnormalizeImage(x: Tensor): Tensor {
    return this.config.autoNormalizeImg ? tidy(x.rt, () => mulScalar(addScalar(x, 1), 0.5)) : x.reshape(x.shape);
  }

  /** The image range of sample()'s inputs and outputs ([0, 1], or [-1, 1] without auto_normalize_img). */
  get imageRange(): [number, number] {
    return this.config.autoNormalizeImg ? [0, 1] : [-1, 1];
  }

  /**
   * Upstream resize_image_to(image, size, clamp_range, nearest=True): unchanged (and unclamped) when the
   * last axis already has `size`, else F.interpolate(nearest) to size x size, then clamp.
   */
  private resizeImageTo(x: Tensor, size: number, clampRange?: [number, number]): Tensor {
    if (x.shape[x.rank - 1] === size) return x.reshape(x.shape);
    const y = interpolateNearest(x, [size, size]);
    if (!clampRange) return y;
    const z = clamp(y, clampRange[0], clampRange[1]);
    y.dispose();
    return z;
  }

  // ------------------------------------------------------------------ sampling

  /** Decoder.sample: the unet cascade; returns [B, C, S, S] in the image range ([0, 1]). */
  async sample(args: DecoderSampleArgs): Promise<Tensor> {
    const c = this.config;
    const n = this.numUnets;
    const fail = (msg: string): never => {
      throw new Error(`Decoder.sample: ${msg}`);
    };
    // conditioning
    if (!c.unconditional && !args.imageEmbed) fail('imageEmbed is required (the decoder is not unconditional)');
    const B = c.unconditional ? (args.batchSize ?? args.imageEmbed?.shape[0] ?? 1) : args.imageEmbed!.shape[0];
    if (!Number.isInteger(B) || B < 1) fail(`batch size ${B} must be a positive integer`);
    const e = args.imageEmbed;
    if (e && (e.rank !== 2 || e.shape[0] !== B)) fail(`imageEmbed ${shapeStr(e.shape)} must be [${B}, D]`);
    const needText = this.conditionOnTextEncodings;
    const text = args.textEncodings;
    if (needText && !text) fail('textEncodings are required (a unet conditions on text encodings)');
    if (!needText && text) fail('textEncodings given, but no unet conditions on text encodings');
    if (text && (text.rank !== 3 || text.shape[0] !== B)) fail(`textEncodings ${shapeStr(text.shape)} must be [${B}, L, D]`);
    const tm = args.textMask;
    if (tm && (!text || tm.dtype !== 'i32' || tm.size !== B * text.shape[1] || tm.shape[0] !== B)) {
      fail(`textMask ${tm.dtype} ${shapeStr(tm.shape)} must be i32 [${B}, ${text?.shape[1] ?? 'L'}] matching textEncodings`);
    }
    // per-unet settings
    const condScales = perUnet(args.condScale ?? 1, n, 'condScale');
    condScales.forEach((s) => this.checkCondScale(s));
    const steps = perUnet<number | null | undefined>(args.sampleTimesteps === undefined ? c.sampleTimesteps : args.sampleTimesteps, n, 'sampleTimesteps').map((s) => s ?? null);
    steps.forEach((s, i) => {
      if (s !== null && (!Number.isInteger(s) || s < 1 || s > c.timesteps)) fail(`unet ${i + 1}: ${s} sampling steps must be an integer in [1, ${c.timesteps}]`);
    });
    // inpainting
    const inpaint = args.inpaintImage;
    const mask = args.inpaintMask;
    if (!inpaint !== !mask) fail('inpaintImage and inpaintMask must be given together');
    if (inpaint && (inpaint.rank !== 4 || inpaint.shape[0] !== B || inpaint.shape[1] !== c.channels)) fail(`inpaintImage ${shapeStr(inpaint.shape)} must be [${B}, ${c.channels}, H, W]`);
    if (mask && inpaint) {
      const [, , H, W] = inpaint.shape;
      const ok = mask.dtype === 'i32' && mask.shape[0] === B && mask.size === B * H * W && (mask.rank === 3 || (mask.rank === 4 && mask.shape[1] === 1));
      if (!ok) fail(`inpaintMask ${mask.dtype} ${shapeStr(mask.shape)} must be i32 [${B}, ${H}, ${W}] or [${B}, 1, ${H}, ${W}]`);
    }
    const resampleTimes = inpaint ? (args.inpaintResampleTimes ?? 5) : 1;
    if (!Number.isInteger(resampleTimes) || resampleTimes < 1) fail(`inpaintResampleTimes ${resampleTimes} must be a positive integer`);
    // cascade range
    const start = args.startAtUnet ?? 1;
    const stop = args.stopAtUnet ?? n;
    if (!Number.isInteger(start) || start < 1 || start > n) fail(`startAtUnet ${start} must be a unet number in [1, ${n}]`);
    if (!Number.isInteger(stop) || stop < start || stop > n) fail(`stopAtUnet ${stop} must be a unet number in [${start}, ${n}]`);
    if (start > 1 && !args.image) fail(`image is required when starting at unet ${start}`);
    if (args.image && (args.image.rank !== 4 || args.image.shape[0] !== B)) fail(`image ${shapeStr(args.image.shape)} must be [${B}, C, h, w]`);

    const rt = this.rtValue ?? e?.rt ?? text?.rt ?? (await this.unet(start - 1)).rt;
    const owned: Tensor[] = [];
    let img: Tensor | undefined;
    try {
      let textEncodings = text;
      if (text && tm) {
        textEncodings = tidy(rt, () => where(tm.reshape([B, text.shape[1], 1]), text, fill(rt, [1], 0, text.dtype)));
        owned.push(textEncodings);
      }
      const maskI32 = mask ? mask.reshape([B, 1, mask.shape[mask.rank - 2], mask.shape[mask.rank - 1]]) : undefined;
      if (maskI32) owned.push(maskI32);
      const cond: Cond = { batch: B, imageEmbed: e, textEncodings };
      if (start > 1) img = this.resizeImageTo(args.image!, c.imageSizes[start - 2]);
      for (let i = start - 1; i < stop; i++) {
        const unet = await this.unet(i);
        const size = c.imageSizes[i];
        const lowres = unet.config.lowresCond ? (img ? tidy(rt, () => this.resizeImageTo(img!, size, this.imageRange)) : fail(`unet ${i + 1} needs a low-res image`)) : undefined;
        let out: Tensor;
        try {
          out = await this.sampleLoop({
            index: i, unet, shape: [B, c.channels, size, size], cond, condScale: condScales[i], sampleSteps: steps[i], lowres,
            inpaintImage: inpaint, inpaintMask: maskI32, resampleTimes, noise: args.noise, onStep: args.onStep,
          });
          if (args.onUnet) await args.onUnet({ unet: i, output: out, lowresCondImg: lowres });
        } finally {
          lowres?.dispose();
        }
        img?.dispose();
        img = out;
        if (args.releaseUnets) this.releaseUnet(i);
      }
      return img!;
    } catch (err) {
      img?.dispose();
      throw err;
    } finally {
      for (const t of owned) t.dispose();
    }
  }

  /** p_sample_loop: DDPM (p_sample_loop_ddpm) or DDIM (p_sample_loop_ddim) for one unet; returns the unnormalized image. */
  private async sampleLoop(a: LoopArgs): Promise<Tensor> {
    const rt = this.rt;
    const sched = this.schedules[a.index];
    const T = sched.numTimesteps;
    const ddim = a.sampleSteps !== null && a.sampleSteps < T;
    const B = a.shape[0];
    const S = a.shape[3];
    // (time, time_next) per timestep: DDIM's pairs, or T-1 .. 0 with time_next = time - 1
    const plan = ddim ? ddimTimePairs(T, a.sampleSteps!) : Array.from({ length: T }, (_, k): [number, number] => [T - 1 - k, T - 2 - k]);
    const pacer = new StepPacer(rt);
    let x = drawNoise(rt, a.noise, a.shape); // img = torch.randn(shape)
    let lowres: Tensor | undefined;
    let known: Tensor | undefined;
    let mask: Tensor | undefined;
    try {
      lowres = a.lowres ? tidy(rt, () => this.normalizeImage(a.lowres!)) : undefined;
      if (a.inpaintImage && a.inpaintMask) {
        known = tidy(rt, () => this.resizeImageTo(this.normalizeImage(a.inpaintImage!), S));
        const m = a.inpaintMask;
        mask = tidy(rt, () => (m.shape[3] === S ? m.reshape(m.shape) : cast(this.resizeImageTo(cast(m, 'f32'), S), 'i32')));
      }
      let call = 0;
      for (const [time, timeNext] of plan) {
        const isLastTimestep = ddim ? timeNext === 0 : time === 0;
        const times = Array<number>(B).fill(time);
        for (let r = a.resampleTimes - 1; r >= 0; r--) {
          const xt = x;
          const s = tidy(rt, () => {
            // RePaint: known pixels from the inpaint image noised to t
            const xin = known && mask ? inpaintMerge(xt, qSample(sched, known, time, drawNoise(rt, a.noise, known.shape)), mask) : xt;
            const out = this.modelOutput(a.unet, xin, times, a.cond, lowres, a.condScale);
            // DDPM draws at every step (t = 0 too); DDIM on every step but the last
            const stepNoise = ddim && isLastTimestep ? undefined : drawNoise(rt, a.noise, a.shape);
            const next = this.loopStep(a.index, { x: xin, time, timeNext, modelOutput: out, noise: stepNoise, ddim });
            return { xin, out, next };
          });
          try {
            if (a.onStep) await a.onStep({ unet: a.index, call, time, timeNext, resample: r, x: s.xin, modelOutput: s.out, next: s.next });
          } catch (e) {
            s.next.dispose();
            throw e;
          } finally {
            if (s.xin !== xt) s.xin.dispose();
            s.out.dispose();
          }
          let next = s.next;
          if (known && !(isLastTimestep || r === 0)) {
            // RePaint: re-noise from time_next back to time and resample
            next = tidy(rt, () => qSampleFromTo(sched, s.next, timeNext, time, drawNoise(rt, a.noise, a.shape)));
            s.next.dispose();
          }
          x.dispose();
          x = next;
          call++;
          await pacer.endStep();
        }
      }
      const xFinal = x;
      return tidy(rt, () => this.unnormalizeImage(known && mask ? inpaintMerge(xFinal, known, mask) : xFinal));
    } finally {
      x.dispose();
      lowres?.dispose();
      known?.dispose();
      mask?.dispose();
    }
  }
}
