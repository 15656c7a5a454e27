// DALLE2-pytorch 1.1.0 `Decoder` sampling as a pipeline over @dalle2/sampler: the cascade of unets
// (base + low-res-conditioned upsamplers), each with its own noise schedule, DDPM or DDIM loop
// (the sampler's one loop), learned variance, classifier-free guidance and RePaint inpainting
// (sampler hooks), reproducing upstream's math and noise-draw order exactly (see @dalle2/sampler's
// loop.ts). Method names follow upstream (sample, p_sample_loop, p_mean_variance, p_sample).
import { Tensor, cast, fill, tidy, where, type Runtime } from '@dalle2/tensor';
import {
  NoiseSchedule, inpaintMerge, loopStep, pMeanVariance, pSampleStep, qSample, qSampleFromTo, sampleLoop, timePlan, type LoopHooks,
  type NoiseSource,
} from '@dalle2/sampler';
import type { Unet } from '@dalle2/models';
import { isDecoderConfig, parseDecoderConfig, type DecoderConfig } from './config.js';
import { unetForwardWithCondScale } from './guidance.js';
import { normalizeImage, resizeImageTo, unnormalizeImage } from './images.js';
import { loadUnets, scanDecoderCheckpoint } from './load.js';
import { UnetResidency } from './residency.js';
import { canClassifierGuidance, checkCondScale, resolveSampleArgs } from './sampleArgs.js';
import { decoderStepMath, type DecoderStepMath } from './stepMath.js';
import type {
  DecoderCond as Cond, DecoderInit, DecoderLoadOptions, DecoderLoopStepArgs, DecoderMeanVariance, DecoderSampleArgs, DecoderStepArgs,
  UnetLoopArgs as LoopArgs,
} from './types.js';

export class Decoder {
  readonly config: DecoderConfig;
  /** One noise schedule per unet. */
  readonly schedules: readonly NoiseSchedule[];
  private readonly unets: UnetResidency;

  constructor(init: DecoderInit) {
    const c = init.config;
    const n = c.unets.length;
    if (init.unets.length !== n) throw new Error(`Decoder: ${init.unets.length} unets given for a config with ${n}`);
    this.config = c;
    this.schedules =
      init.schedules ??
      c.betaSchedules.map((kind, i) => NoiseSchedule.create(kind, c.timesteps, { p2LossWeightGamma: c.p2LossWeightGamma[i], p2LossWeightK: c.p2LossWeightK }));
    if (this.schedules.length !== n) throw new Error(`Decoder: ${this.schedules.length} schedules for ${n} unets`);
    this.schedules.forEach((s, i) => {
      if (s.numTimesteps !== c.timesteps) throw new Error(`Decoder: unet ${i + 1}'s schedule has ${s.numTimesteps} timesteps, the config ${c.timesteps}`);
    });
    this.unets = new UnetResidency(init.unets, c.unets);
  }

  /**
   * Builds a Decoder from a checkpoint (safetensors with the upstream state-dict keys `unets.N.*`,
   * optionally `noise_schedulers.N.*`) and a TrainDecoderConfig JSON (object, text, or an already
   * parsed DecoderConfig). Any other key in the file is an error, as upstream's strict load_state_dict.
   */
  static async fromSafetensors(rt: Runtime, weightsPath: string, decoderConfigJson: unknown, opts: DecoderLoadOptions = {}): Promise<Decoder> {
    const config = isDecoderConfig(decoderConfigJson) ? decoderConfigJson : parseDecoderConfig(decoderConfigJson, opts.configSource);
    const schedules = await scanDecoderCheckpoint(weightsPath, config, opts);
    const { loaders, unets } = await loadUnets(rt, weightsPath, config, opts);
    let dec: Decoder;
    try {
      dec = new Decoder({ unets, schedules, config });
    } catch (e) {
      for (const u of unets) if (typeof u !== 'function') u.dispose();
      throw e;
    }
    dec.unets.rt = rt;
    dec.unets.setLoaders(loaders); // so a released unet can come back
    return dec;
  }

  get numUnets(): number {
    return this.unets.count;
  }

  /** The runtime of the unets (known once one is built or loaded). */
  get rt(): Runtime {
    const rt = this.unets.anyRuntime();
    if (!rt) throw new Error('Decoder: no runtime yet (no unet built or loaded)');
    return rt;
  }

  /** Whether unet `index` (0-based) holds its weights now. */
  isLoaded(index: number): boolean {
    return this.unets.isLoaded(index);
  }

  /** Unet `index` (0-based), loading it first if needed. */
  unet(index: number): Promise<Unet> {
    return this.unets.get(index);
  }

  /** Unet `index` if loaded; throws otherwise (see `unet()`). */
  loadedUnet(index: number): Unet {
    return this.unets.loaded(index);
  }

  /**
   * Disposes unet `index` (freeing its weights if it loaded them itself, as fromSafetensors' unets do);
   * a loader brings it back at next use. Do not release a Unet another Decoder still uses.
   */
  releaseUnet(index: number): void {
    this.unets.release(index);
  }

  /** Releases every unet. */
  dispose(): void {
    for (let i = 0; i < this.numUnets; i++) this.releaseUnet(i);
  }

  /** Whether the decoder was trained with conditioning dropout (cond_scale != 1 needs it). */
  get canClassifierGuidance(): boolean {
    return canClassifierGuidance(this.config);
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
    const times = this.rowTimes(a);
    return tidy(this.rt, () => {
      const modelOutput = a.modelOutput ?? this.stepModelOutput(index, a, times);
      const m = this.stepMath(index);
      const { pred, varInterp } = m.split(modelOutput);
      const mv = pMeanVariance({ sched: m.sched, xt: a.x, t: times, modelOutput: pred, predictX0: m.predictX0, clamp: true, varInterp });
      return { ...mv, modelOutput };
    });
  }

  /** Decoder.p_sample (DDPM step) on given inputs with the step's randn_like draw (unet run unless modelOutput is given). */
  pSample(index: number, a: DecoderStepArgs & { noise: Tensor }): Tensor {
    const times = this.rowTimes(a);
    return tidy(this.rt, () => {
      const out = a.modelOutput ?? this.stepModelOutput(index, a, times);
      const m = this.stepMath(index);
      const { pred, varInterp } = m.split(out);
      return pSampleStep({ sched: m.sched, xt: a.x, t: times, modelOutput: pred, predictX0: m.predictX0, clamp: true, varInterp, noise: a.noise });
    });
  }

  /**
   * One update of p_sample_loop from the unet output at (x, time): p_sample (DDPM, `noise` required) or
   * the DDIM step to timeNext (`noise` exactly when timeNext > 0); what pSampleLoop runs per step.
   */
  loopStep(index: number, a: DecoderLoopStepArgs): Tensor {
    if (!a.ddim && !a.noise) throw new Error('Decoder.loopStep: a DDPM step needs its noise draw (upstream draws at t = 0 too)');
    return loopStep(a.ddim ? 'ddim' : 'ddpm', this.stepMath(index), a);
  }

  private rowTimes(a: DecoderStepArgs): number[] {
    return typeof a.t === 'number' ? Array<number>(a.x.shape[0]).fill(a.t) : [...a.t];
  }

  private stepModelOutput(index: number, a: DecoderStepArgs, times: number[]): Tensor {
    const unet = this.loadedUnet(index);
    const condScale = a.condScale ?? 1;
    checkCondScale(this.config, condScale);
    return this.modelOutput(unet, a.x, times, { imageEmbed: a.imageEmbed, textEncodings: a.textEncodings }, a.lowresCondImg, condScale);
  }

  /** unet.forward_with_cond_scale (conditional and null rows in one batched pass), as f32. */
  private modelOutput(unet: Unet, x: Tensor, times: number[], cond: Cond, lowres: Tensor | undefined, condScale: number): Tensor {
    const out = unetForwardWithCondScale(unet, { x, timesteps: times, imageEmbed: cond.imageEmbed, textEncodings: cond.textEncodings, lowresCondImg: lowres }, condScale);
    return out.dtype === 'f32' ? out : cast(out, 'f32');
  }

  private stepMath(index: number): DecoderStepMath {
    return decoderStepMath(this.config, this.schedules[index], index);
  }

  // ------------------------------------------------------------------ images

  /** normalize_img: the image range ([0, 1]) -> the unets' [-1, 1] (identity without auto_normalize_img); a new tensor. */
  normalizeImage(x: Tensor): Tensor {
    return normalizeImage(x, this.config.autoNormalizeImg);
  }

  /** unnormalize_img: [-1, 1] -> the image range ([0, 1]); a new tensor. */
  unnormalizeImage(x: Tensor): Tensor {
    return unnormalizeImage(x, this.config.autoNormalizeImg);
  }

  /** The image range of sample()'s inputs and outputs ([0, 1], or [-1, 1] without auto_normalize_img). */
  get imageRange(): [number, number] {
    return this.config.autoNormalizeImg ? [0, 1] : [-1, 1];
  }

  // ------------------------------------------------------------------ sampling

  /** Decoder.sample: the unet cascade; returns [B, C, S, S] in the image range ([0, 1]). */
  async sample(args: DecoderSampleArgs): Promise<Tensor> {
    const c = this.config;
    const r = resolveSampleArgs(c, args);
    const B = r.batch;
    const { imageEmbed: e, textEncodings: text, textMask: tm, inpaintMask: mask } = args;
    const rt = this.unets.rt ?? e?.rt ?? text?.rt ?? (await this.unet(r.start - 1)).rt;
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
      const cond: Cond = { imageEmbed: e, textEncodings };
      if (r.start > 1) img = resizeImageTo(args.image!, c.imageSizes[r.start - 2]);
      for (let i = r.start - 1; i < r.stop; i++) {
        const unet = await this.unet(i);
        const size = c.imageSizes[i];
        if (unet.config.lowresCond && !img) throw new Error(`Decoder.sample: unet ${i + 1} needs a low-res image`);
        const lowres = unet.config.lowresCond ? tidy(rt, () => resizeImageTo(img!, size, this.imageRange)) : undefined;
        let out: Tensor;
        try {
          out = await this.pSampleLoop({
            index: i, unet, shape: [B, c.channels, size, size], cond, condScale: r.condScales[i], sampleSteps: r.steps[i], lowres,
            inpaintImage: args.inpaintImage, inpaintMask: maskI32, resampleTimes: r.resampleTimes, noise: args.noise, onStep: args.onStep,
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

  /** p_sample_loop (p_sample_loop_ddpm or p_sample_loop_ddim) for one unet; returns the unnormalized image. */
  private async pSampleLoop(a: LoopArgs): Promise<Tensor> {
    const rt = this.rt;
    const B = a.shape[0];
    const onStep = a.onStep;
    let lowres: Tensor | undefined;
    let known: Tensor | undefined;
    let mask: Tensor | undefined;
    try {
      lowres = a.lowres ? tidy(rt, () => this.normalizeImage(a.lowres!)) : undefined;
      if (a.inpaintImage && a.inpaintMask) {
        const S = a.shape[3];
        known = tidy(rt, () => resizeImageTo(this.normalizeImage(a.inpaintImage!), S));
        const m = a.inpaintMask;
        mask = tidy(rt, () => (m.shape[3] === S ? m.reshape(m.shape) : cast(resizeImageTo(cast(m, 'f32'), S), 'i32')));
      }
      const lr = lowres;
      return await sampleLoop({
        rt,
        shape: a.shape,
        plan: timePlan(this.schedules[a.index].numTimesteps, a.sampleSteps),
        denoise: (x, time) => this.modelOutput(a.unet, x, Array<number>(B).fill(time), a.cond, lr, a.condScale),
        math: this.stepMath(a.index),
        noise: a.noise,
        resampleTimes: a.resampleTimes,
        hooks: this.loopHooks(a.index, known, mask),
        onStep: onStep ? (s) => onStep({ unet: a.index, ...s }) : undefined,
      });
    } finally {
      lowres?.dispose();
      known?.dispose();
      mask?.dispose();
    }
  }

  /** RePaint (merge the known pixels noised to t; re-noise before each resample) and unnormalize_img. */
  private loopHooks(index: number, known: Tensor | undefined, mask: Tensor | undefined): LoopHooks {
    const sched = this.schedules[index];
    const final = (x: Tensor): Tensor => this.unnormalizeImage(known && mask ? inpaintMerge(x, known, mask) : x);
    if (!known || !mask) return { final };
    return {
      merge: (x, time, draw) => inpaintMerge(x, qSample(sched, known, time, draw(known.shape)), mask),
      renoise: (next, time, timeNext, draw) => qSampleFromTo(sched, next, timeNext, time, draw(next.shape)),
      final,
    };
  }
}
