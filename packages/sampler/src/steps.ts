// Gaussian-diffusion step math of DALLE2-pytorch 1.1.0 as pure functions over Tensors: NoiseScheduler
// (q_sample, q_sample_from_to, q_posterior, predict_start_from_noise, predict_noise_from_start) and
// the DDPM p_mean_variance / p_sample of DiffusionPrior and Decoder. Randomness is an argument: every
// function that needs noise takes it as a tensor, so recorded draws replay exactly.
// All functions dispose their intermediates; results belong to the caller.
import { Tensor, tidy, add, sub, mul, exp, clamp as clampOp, where, chunk, addScalar, mulScalar, rsubScalar } from '@dalle2/tensor';
import type { NoiseSchedule } from './schedules.js';
import { extractRows, mapRows, rowTimesteps, scaleRows, divRows, type RowCoef, type Timesteps } from './coef.js';

const f = Math.fround;

/** Clamp of the predicted x0: false = none, true = [-1, 1] (upstream's static threshold), or [min, max]. */
export type ClampSpec = boolean | readonly [number, number];

function sameShape(what: string, a: Tensor, aName: string, b: Tensor, bName: string): void {
  if (a.shape.length !== b.shape.length || a.shape.some((d, i) => d !== b.shape[i])) {
    throw new Error(`${what}: ${aName} [${a.shape.join(', ')}] must match ${bName} [${b.shape.join(', ')}]`);
  }
}

/** Applies a ClampSpec (upstream `dynamic_threshold` with s = 1 is clamp(-1, 1) / 1). */
export function clampX0(x0: Tensor, spec: ClampSpec | undefined): Tensor {
  if (!spec) return x0;
  const [lo, hi] = spec === true ? [-1, 1] : spec;
  return clampOp(x0, lo, hi);
}

/** NoiseScheduler.predict_start_from_noise: sqrt(1/ac) * x_t - sqrt(1/ac - 1) * noise. */
export function predictStartFromNoise(sched: NoiseSchedule, xt: Tensor, t: Timesteps, noise: Tensor): Tensor {
  sameShape('predictStartFromNoise', noise, 'noise', xt, 'x_t');
  const b = xt.shape[0];
  const c1 = extractRows(sched, 'sqrt_recip_alphas_cumprod', t, b, 'predictStartFromNoise');
  const c2 = extractRows(sched, 'sqrt_recipm1_alphas_cumprod', t, b, 'predictStartFromNoise');
  return tidy(xt.rt, () => sub(scaleRows(xt, c1), scaleRows(noise, c2)));
}

/** NoiseScheduler.predict_noise_from_start: (sqrt(1/ac) * x_t - x0) / sqrt(1/ac - 1). */
export function predictNoiseFromStart(sched: NoiseSchedule, xt: Tensor, t: Timesteps, x0: Tensor): Tensor {
  sameShape('predictNoiseFromStart', x0, 'x0', xt, 'x_t');
  const b = xt.shape[0];
  const c1 = extractRows(sched, 'sqrt_recip_alphas_cumprod', t, b, 'predictNoiseFromStart');
  const c2 = extractRows(sched, 'sqrt_recipm1_alphas_cumprod', t, b, 'predictNoiseFromStart');
  return tidy(xt.rt, () => divRows(sub(scaleRows(xt, c1), x0), c2));
}

/** NoiseScheduler.q_sample: sqrt(ac_t) * x0 + sqrt(1 - ac_t) * noise (forward diffusion to t). */
export function qSample(sched: NoiseSchedule, x0: Tensor, t: Timesteps, noise: Tensor): Tensor {
  sameShape('qSample', noise, 'noise', x0, 'x0');
  const b = x0.shape[0];
  const a = extractRows(sched, 'sqrt_alphas_cumprod', t, b, 'qSample');
  const s = extractRows(sched, 'sqrt_one_minus_alphas_cumprod', t, b, 'qSample');
  return tidy(x0.rt, () => add(scaleRows(x0, a), scaleRows(noise, s)));
}

/**
 * NoiseScheduler.q_sample_from_to (RePaint re-noising, used as q_sample_from_to(x, t - 1, t)):
 * x * (a_to / a_from) + noise * (s_to * a_from - s_from * a_to) / a_from, with a = sqrt(ac), s = sqrt(1 - ac).
 */
export function qSampleFromTo(sched: NoiseSchedule, xFrom: Tensor, fromT: Timesteps, toT: Timesteps, noise: Tensor): Tensor {
  sameShape('qSampleFromTo', noise, 'noise', xFrom, 'x_from');
  const b = xFrom.shape[0];
  const alpha = extractRows(sched, 'sqrt_alphas_cumprod', fromT, b, 'qSampleFromTo');
  const sigma = extractRows(sched, 'sqrt_one_minus_alphas_cumprod', fromT, b, 'qSampleFromTo');
  const alphaNext = extractRows(sched, 'sqrt_alphas_cumprod', toT, b, 'qSampleFromTo');
  const sigmaNext = extractRows(sched, 'sqrt_one_minus_alphas_cumprod', toT, b, 'qSampleFromTo');
  const keep = mapRows((an, a) => an / a, alphaNext, alpha);
  const mix = mapRows((sn, a, s, an) => f(sn * a) - f(s * an), sigmaNext, alpha, sigma, alphaNext);
  return tidy(xFrom.rt, () => add(scaleRows(xFrom, keep), divRows(scaleRows(noise, mix), alpha)));
}

export interface Posterior {
  mean: Tensor;
  /** posterior_variance[t] per batch row. */
  variance: RowCoef;
  /** posterior_log_variance_clipped[t] per batch row. */
  logVariance: RowCoef;
}

/** NoiseScheduler.q_posterior: mean = coef1 * x0 + coef2 * x_t, with the fixed (clipped) variances. */
export function qPosterior(sched: NoiseSchedule, x0: Tensor, xt: Tensor, t: Timesteps): Posterior {
  sameShape('qPosterior', x0, 'x0', xt, 'x_t');
  const b = xt.shape[0];
  const c1 = extractRows(sched, 'posterior_mean_coef1', t, b, 'qPosterior');
  const c2 = extractRows(sched, 'posterior_mean_coef2', t, b, 'qPosterior');
  const mean = tidy(xt.rt, () => add(scaleRows(x0, c1), scaleRows(xt, c2)));
  return {
    mean,
    variance: extractRows(sched, 'posterior_variance', t, b, 'qPosterior'),
    logVariance: extractRows(sched, 'posterior_log_variance_clipped', t, b, 'qPosterior'),
  };
}

/**
 * Decoder.p_mean_variance's learned variance: frac = (v + 1) / 2 interpolates between log(beta_t)
 * and posterior_log_variance_clipped[t]: frac * log(beta) + (1 - frac) * clipped.
 */
export function learnedLogVariance(sched: NoiseSchedule, t: Timesteps, varInterp: Tensor): Tensor {
  const b = varInterp.shape[0];
  const minLog = extractRows(sched, 'posterior_log_variance_clipped', t, b, 'learnedLogVariance');
  const logBetas = sched.logBetas();
  const maxLog = Float32Array.from(rowTimesteps(sched, t, b, 'learnedLogVariance'), (v) => logBetas[v]);
  return tidy(varInterp.rt, () => {
    const frac = mulScalar(addScalar(varInterp, 1), 0.5);
    return add(scaleRows(frac, maxLog), scaleRows(rsubScalar(1, frac), minLog));
  });
}

/** Splits a learned-variance unet output [b, 2c, ...] into the prediction and the variance channels. */
export function splitLearnedVariance(out: Tensor): { pred: Tensor; varInterp: Tensor } {
  if (out.rank < 2 || out.shape[1] % 2 !== 0) {
    throw new Error(`splitLearnedVariance: output [${out.shape.join(', ')}] needs an even channel count on axis 1`);
  }
  const [pred, varInterp] = chunk(out, 2, 1);
  return { pred, varInterp };
}

export interface PMeanVarianceArgs {
  sched: NoiseSchedule;
  /** x_t, [b, ...]. */
  xt: Tensor;
  t: Timesteps;
  /** Model prediction (x0 when predictX0, else noise), shaped like x_t (variance channels split off). */
  modelOutput: Tensor;
  predictX0: boolean;
  /** Clamp of the reconstructed x0 (decoder: clip_denoised; prior: only when predicting noise). */
  clamp?: ClampSpec;
  /** Extra x0 transform applied after the clamp (e.g. the prior's sampling_clamp_l2norm). */
  processX0?: (x0: Tensor) => Tensor;
  /** Variance-interpolation channels of a learned-variance unet, shaped like x_t. */
  varInterp?: Tensor;
}

/** Model mean and log-variance: log-variance is per row (fixed) or a tensor (learned). */
export interface PMeanVariance {
  mean: Tensor;
  logVariance: RowCoef | Tensor;
}

/** DiffusionPrior/Decoder.p_mean_variance with the network output given. */
export function pMeanVariance(args: PMeanVarianceArgs): PMeanVariance {
  const { sched, xt, t, modelOutput } = args;
  sameShape('pMeanVariance', modelOutput, 'model output', xt, 'x_t');
  if (args.varInterp) sameShape('pMeanVariance', args.varInterp, 'variance channels', xt, 'x_t');
  return tidy(xt.rt, () => {
    let x0 = args.predictX0 ? modelOutput : predictStartFromNoise(sched, xt, t, modelOutput);
    x0 = clampX0(x0, args.clamp);
    if (args.processX0) x0 = args.processX0(x0);
    const post = qPosterior(sched, x0, xt, t);
    const logVariance = args.varInterp ? learnedLogVariance(sched, t, args.varInterp) : post.logVariance;
    return { mean: post.mean, logVariance };
  });
}

export interface PSampleArgs extends PMeanVarianceArgs {
  /** This step's randn_like draw, shaped like x_t. Upstream draws it at t = 0 too (and multiplies by 0). */
  noise: Tensor;
}

/** DDPM step (DiffusionPrior/Decoder.p_sample): mean + (t != 0) * exp(0.5 * logvar) * noise. */
export function pSampleStep(args: PSampleArgs): Tensor {
  sameShape('pSampleStep', args.noise, 'noise', args.xt, 'x_t');
  return tidy(args.xt.rt, () => {
    const { mean, logVariance } = pMeanVariance(args);
    return addDdpmNoise(args.sched, mean, args.t, logVariance, args.noise);
  });
}

/**
 * The noise half of p_sample: mean + nonzero_mask * exp(0.5 * logVariance) * noise, where
 * nonzero_mask zeroes rows at t = 0. logVariance is per row (fixed variance) or a tensor (learned).
 */
export function addDdpmNoise(sched: NoiseSchedule, mean: Tensor, t: Timesteps, logVariance: RowCoef | Tensor, noise: Tensor): Tensor {
  sameShape('addDdpmNoise', noise, 'noise', mean, 'mean');
  const b = mean.shape[0];
  const nonzero = Float32Array.from(rowTimesteps(sched, t, b, 'addDdpmNoise'), (v) => (v === 0 ? 0 : 1));
  return tidy(mean.rt, () => {
    if (!(logVariance instanceof Tensor)) {
      // (nonzero_mask * exp(0.5 * logvar)) per row, then * noise, rounded as torch does
      const sigma = mapRows((m, lv) => m * f(Math.exp(f(0.5 * lv))), nonzero, logVariance);
      return add(mean, scaleRows(noise, sigma, 'addDdpmNoise'));
    }
    sameShape('addDdpmNoise', logVariance, 'log-variance', mean, 'mean');
    let std = exp(mulScalar(logVariance, 0.5));
    if (nonzero.some((m) => m === 0)) std = scaleRows(std, nonzero);
    return add(mean, mul(std, noise));
  });
}

/**
 * RePaint merge (Decoder.p_sample_loop_*: img * ~mask + known * mask): `known` where mask != 0, else x.
 * mask is an i32 tensor broadcastable to x (e.g. [b, 1, h, w]); True/1 = known pixel.
 */
export function inpaintMerge(x: Tensor, known: Tensor, mask: Tensor): Tensor {
  sameShape('inpaintMerge', known, 'known image', x, 'x');
  return where(mask, known, x);
}
