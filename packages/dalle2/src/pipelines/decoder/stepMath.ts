// A decoder unet's step math for @dalle2/sampler: static clamp (clip_denoised), ddim_sampling_eta,
// and the learned-variance channels split off the unet output (sigmoid-constrained if configured).
import { addScalar, mulScalar, sigmoid, type Tensor } from '@dalle2/tensor';
import { splitLearnedVariance, type NoiseSchedule, type StepMath } from '@dalle2/sampler';
import type { DecoderConfig } from './config.js';

export type DecoderStepMath = StepMath & Required<Pick<StepMath, 'split'>>;

export function decoderStepMath(c: DecoderConfig, sched: NoiseSchedule, index: number): DecoderStepMath {
  const split = (out: Tensor): { pred: Tensor; varInterp?: Tensor } => {
    if (!c.learnedVariance[index]) return { pred: out };
    const { pred, varInterp } = splitLearnedVariance(out);
    if (!c.learnedVarianceConstrainFrac) return { pred, varInterp };
    // frac = sigmoid((v + 1) / 2); learnedLogVariance takes v' with (v' + 1) / 2 = frac
    return { pred, varInterp: addScalar(mulScalar(sigmoid(mulScalar(addScalar(varInterp, 1), 0.5)), 2), -1) };
  };
  return { sched, predictX0: c.predictXStart[index], clamp: true, eta: c.ddimSamplingEta, split };
}
