// DDIM sampling steps as DALLE2-pytorch 1.1.0 does them (DiffusionPrior.p_sample_loop_ddim,
// Decoder.p_sample_loop_ddim). Quirks kept on purpose: `alphas` is the schedule's alphas_cumprod_prev
// (not alphas_cumprod), the time grid is float32 linspace(0, T, S + 2)[:-1] truncated and reversed, and
// the last step (time_next = 0) draws no noise.
import { Tensor, tidy, add, mulScalar } from '@dalle2/tensor';
import type { NoiseSchedule } from './schedules.js';
import { torchLinspace } from './linspace.js';
import { predictNoiseFromStart, predictStartFromNoise, clampX0, type ClampSpec } from './steps.js';

const f = Math.fround;

/** Upstream's DDIM (time, time_next) pairs for S sampling steps out of T, e.g. (888, 777) .. (111, 0). */
export function ddimTimePairs(numTimesteps: number, sampleSteps: number, vectorWidth?: number): [number, number][] {
  if (!Number.isInteger(numTimesteps) || numTimesteps < 1) throw new Error(`ddimTimePairs: timesteps ${numTimesteps} must be a positive integer`);
  if (!Number.isInteger(sampleSteps) || sampleSteps < 1 || sampleSteps > numTimesteps) {
    throw new Error(`ddimTimePairs: sample steps ${sampleSteps} must be an integer in [1, ${numTimesteps}]`);
  }
  const grid = torchLinspace(0, numTimesteps, sampleSteps + 2, { dtype: 'f32', vectorWidth });
  // [:-1], .int() (truncation toward zero), reversed
  const times = Array.from(grid.subarray(0, sampleSteps + 1), Math.trunc).reverse();
  return times.slice(0, -1).map((t, i): [number, number] => [t, times[i + 1]]);
}

/** Float32 DDIM coefficients of one step (torch 0-d float32 tensor math, rounded per op). */
export interface DdimCoefs {
  /** sqrt(alpha_next): the x0 weight. */
  x0: number;
  /** c1 = eta * sqrt((1 - alpha / alpha_next) * (1 - alpha_next) / (1 - alpha)): the noise weight. */
  noise: number;
  /** c2 = sqrt((1 - alpha_next) - c1^2): the predicted-noise weight. */
  predNoise: number;
}

/** The step's coefficients from alphas = alphas_cumprod_prev at time and timeNext. */
export function ddimCoefs(sched: NoiseSchedule, time: number, timeNext: number, eta: number): DdimCoefs {
  sched.checkTimestep(time, 'ddimStep');
  sched.checkTimestep(timeNext, 'ddimStep');
  const alpha = sched.f32.alphas_cumprod_prev[time];
  const alphaNext = sched.f32.alphas_cumprod_prev[timeNext];
  const ratio = f(f(f(1 - f(alpha / alphaNext)) * f(1 - alphaNext)) / f(1 - alpha));
  const c1 = f(f(eta) * f(Math.sqrt(ratio)));
  const c2 = f(Math.sqrt(f(f(1 - alphaNext) - f(c1 * c1))));
  return { x0: f(Math.sqrt(alphaNext)), noise: c1, predNoise: c2 };
}

export interface DdimStepArgs {
  sched: NoiseSchedule;
  /** x_t at `time`, [b, ...]. */
  xt: Tensor;
  time: number;
  timeNext: number;
  /** Model prediction (x0 when predictX0, else noise), shaped like x_t (variance channels dropped). */
  modelOutput: Tensor;
  predictX0: boolean;
  /** Clamp of x0 after pred_noise is derived (decoder: clip_denoised; prior: when predicting noise). */
  clamp?: ClampSpec;
  /** Extra x0 transform after the clamp (e.g. the prior's sampling_clamp_l2norm). */
  processX0?: (x0: Tensor) => Tensor;
  /** Upstream uses 1.0 (prior: fixed default; decoder: ddim_sampling_eta). */
  eta: number;
  /** The step's randn_like draw when timeNext > 0; must be absent on the last step (no draw upstream). */
  noise?: Tensor;
}

/** One DDIM update: x0 * sqrt(alpha_next) + c1 * noise + c2 * pred_noise. */
export function ddimStep(args: DdimStepArgs): Tensor {
  const { sched, xt, time, timeNext, modelOutput, noise } = args;
  const shape = (x: Tensor): string => `[${x.shape.join(', ')}]`;
  if (shape(modelOutput) !== shape(xt)) throw new Error(`ddimStep: model output ${shape(modelOutput)} must match x_t ${shape(xt)}`);
  if (timeNext > 0 && !noise) throw new Error(`ddimStep: step ${time} -> ${timeNext} needs a noise draw`);
  if (timeNext === 0 && noise) throw new Error(`ddimStep: the last step (${time} -> 0) draws no noise upstream; got one`);
  if (noise && shape(noise) !== shape(xt)) throw new Error(`ddimStep: noise ${shape(noise)} must match x_t ${shape(xt)}`);
  const c = ddimCoefs(sched, time, timeNext, args.eta);
  return tidy(xt.rt, () => {
    // pred_noise comes from the unclamped prediction; only x0 is clamped
    let x0: Tensor;
    let predNoise: Tensor;
    if (args.predictX0) {
      x0 = modelOutput;
      predNoise = predictNoiseFromStart(sched, xt, time, modelOutput);
    } else {
      x0 = predictStartFromNoise(sched, xt, time, modelOutput);
      predNoise = modelOutput;
    }
    x0 = clampX0(x0, args.clamp);
    if (args.processX0) x0 = args.processX0(x0);
    let out = mulScalar(x0, c.x0);
    if (noise) out = add(out, mulScalar(noise, c.noise));
    return add(out, mulScalar(predNoise, c.predNoise));
  });
}
