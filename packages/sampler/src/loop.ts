// One sampling loop for every DALLE2-pytorch 1.1.0 p_sample_loop (prior and decoder, DDPM and DDIM),
// keeping upstream's noise-draw order:
//   x_T = randn(shape); then per (time, time_next) of the plan and per RePaint resample r = R-1 .. 0:
//     hooks.merge (RePaint: q_sample(known, t) draws randn_like)
//     DDPM: p_sample draws randn_like at every step, t = 0 included (multiplied by 0 there)
//     DDIM: a draw on every step but the last (time_next = 0)
//     hooks.renoise, unless last timestep or r = 0 (RePaint: q_sample_from_to draws randn_like)
// What differs between the pipelines (the network, the prior's l2norm handling, RePaint, image
// normalisation) comes in as `denoise`, `math` and hooks. Steps are paced one in flight (StepPacer).
import { tidy, type Runtime, type Tensor } from '@dalle2/tensor';
import { drawNoise, type NoiseSource } from './noise.js';
import { StepPacer } from './pacing.js';
import { ddimStep } from './ddim.js';
import { pSampleStep, type ClampSpec } from './steps.js';
import type { NoiseSchedule } from './schedules.js';
import type { SamplerKind, TimePlan } from './plan.js';

/** Draws randn of `shape` from the loop's noise source (in call order). */
export type DrawNoise = (shape: readonly number[]) => Tensor;

/** The step math of one loop: which x0 the network predicts and how it is clamped. */
export interface StepMath {
  sched: NoiseSchedule;
  /** The network predicts x0 (else the noise). */
  predictX0: boolean;
  clamp?: ClampSpec;
  /** Extra x0 transform after the clamp (the prior's sampling_clamp_l2norm). */
  processX0?: (x0: Tensor) => Tensor;
  /** DDIM eta (prior: p_sample_loop_ddim's 1.0; decoder: ddim_sampling_eta). */
  eta: number;
  /** Splits the network output into the prediction and learned-variance channels; default: all prediction. */
  split?: (out: Tensor) => { pred: Tensor; varInterp?: Tensor };
}

export interface LoopUpdate {
  x: Tensor;
  time: number;
  /** DDIM: the time the step goes to; DDPM: ignored. */
  timeNext: number;
  /** The network output at (x, time), variance channels included. */
  modelOutput: Tensor;
  /** The step's randn_like draw: always for DDPM, only when timeNext > 0 for DDIM. */
  noise?: Tensor;
}

/** One update of p_sample_loop: p_sample (DDPM, noise required) or the DDIM step to timeNext. */
export function loopStep(kind: SamplerKind, math: StepMath, a: LoopUpdate): Tensor {
  return tidy(a.x.rt, () => {
    const { pred, varInterp } = math.split ? math.split(a.modelOutput) : { pred: a.modelOutput, varInterp: undefined };
    const { sched, predictX0, clamp, processX0 } = math;
    if (kind === 'ddim') {
      return ddimStep({ sched, xt: a.x, time: a.time, timeNext: a.timeNext, modelOutput: pred, predictX0, clamp, processX0, eta: math.eta, noise: a.noise });
    }
    if (!a.noise) throw new Error('loopStep: a DDPM step needs its noise draw (upstream draws at t = 0 too)');
    return pSampleStep({ sched, xt: a.x, t: a.time, modelOutput: pred, predictX0, clamp, processX0, varInterp, noise: a.noise });
  });
}

/** Per-pipeline handling around the steps; each returns a new tensor (the loop frees the old one). */
export interface LoopHooks {
  /** After x_T is drawn (the prior's init_image_embed_l2norm). */
  init?(x: Tensor): Tensor;
  /** Before the network, inside the step's scope; may return x itself (RePaint: merge the known pixels noised to `time`). */
  merge?(x: Tensor, time: number, draw: DrawNoise): Tensor;
  /** After a step that is followed by a resample (RePaint: noise from time_next back to time). */
  renoise?(next: Tensor, time: number, timeNext: number, draw: DrawNoise): Tensor;
  /** On the loop's result (prior: sampling_final_clamp_l2norm; decoder: RePaint's last merge, unnormalize_img). */
  final?(x: Tensor): Tensor;
}

/** One network evaluation, handed to `onStep`; the tensors live only during the call. */
export interface LoopStepInfo {
  /** Forward pass number within the loop (0-based; RePaint resamples count separately). */
  call: number;
  /** Timestep fed to the network. */
  time: number;
  /** Timestep the step moves to (DDIM time_next; DDPM time - 1, so -1 after the last step). */
  timeNext: number;
  /** RePaint resample index r (R-1 .. 0); 0 without resampling. */
  resample: number;
  /** Network input x_t (after hooks.merge). */
  x: Tensor;
  /** Network output (variance channels included). */
  modelOutput: Tensor;
  /** x after the step (before hooks.renoise). */
  next: Tensor;
}

export interface SampleLoopArgs {
  rt: Runtime;
  shape: readonly number[];
  plan: TimePlan;
  /** The (guided) network output at (x, time). */
  denoise(x: Tensor, time: number): Tensor;
  math: StepMath;
  noise: NoiseSource;
  /** Network evaluations per timestep (RePaint's resample_times; default 1). */
  resampleTimes?: number;
  hooks?: LoopHooks;
  /** Awaited after each evaluation; may throw to abort (everything the loop holds is freed). */
  onStep?(info: LoopStepInfo): void | Promise<void>;
}

/** p_sample_loop: x_T from the noise source, the plan's steps, hooks.final; returns a new tensor. */
export async function sampleLoop(a: SampleLoopArgs): Promise<Tensor> {
  const { rt, hooks = {} } = a;
  const draw: DrawNoise = (shape) => drawNoise(rt, a.noise, shape);
  const R = a.resampleTimes ?? 1;
  if (!Number.isInteger(R) || R < 1) throw new Error(`sampleLoop: resampleTimes ${R} must be a positive integer`);
  const pacer = new StepPacer(rt);
  let x = draw(a.shape).keep(); // img = torch.randn(shape)
  const replace = (next: Tensor): Tensor => {
    next.keep();
    if (next !== x) x.dispose();
    return next;
  };
  try {
    if (hooks.init) x = replace(tidy(rt, () => hooks.init!(x)));
    let call = 0;
    for (const [time, timeNext] of a.plan.pairs) {
      const lastTimestep = a.plan.kind === 'ddim' ? timeNext === 0 : time === 0;
      for (let r = R - 1; r >= 0; r--) {
        let next = await loopIteration(a, draw, x, { call, time, timeNext, resample: r });
        if (hooks.renoise && !(lastTimestep || r === 0)) {
          const stepped = next;
          next = tidy(rt, () => hooks.renoise!(stepped, time, timeNext, draw));
          stepped.dispose();
        }
        x = replace(next);
        call++;
        await pacer.endStep();
      }
    }
    return hooks.final ? replace(tidy(rt, () => hooks.final!(x))) : x;
  } catch (e) {
    x.dispose();
    throw e;
  }
}

/** merge, network, step and onStep at one (time, resample); returns the step's result. */
async function loopIteration(a: SampleLoopArgs, draw: DrawNoise, xt: Tensor, at: Omit<LoopStepInfo, 'x' | 'modelOutput' | 'next'>): Promise<Tensor> {
  const { time, timeNext } = at;
  const s = tidy(a.rt, () => {
    const xin = a.hooks?.merge ? a.hooks.merge(xt, time, draw) : xt;
    const out = a.denoise(xin, time);
    // DDPM draws at every step (t = 0 too); DDIM on every step but the last
    const noise = a.plan.kind === 'ddim' && !(timeNext > 0) ? undefined : draw(a.shape);
    const next = loopStep(a.plan.kind, a.math, { x: xin, time, timeNext, modelOutput: out, noise });
    return { xin, out, next };
  });
  s.next.keep();
  try {
    if (a.onStep) await a.onStep({ ...at, x: s.xin, modelOutput: s.out, next: s.next });
  } catch (e) {
    s.next.dispose();
    throw e;
  } finally {
    if (s.xin !== xt) s.xin.dispose();
    s.out.dispose();
  }
  return s.next;
}
