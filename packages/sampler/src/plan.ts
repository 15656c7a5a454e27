// Time plans: the (time, time_next) pairs a DALLE2-pytorch 1.1.0 sampling loop visits. Upstream picks
// DDIM when the sampling steps S < T (`is_ddim = timesteps < num_timesteps`), else the full DDPM loop.
import { ddimTimePairs } from './ddim.js';

export type SamplerKind = 'ddpm' | 'ddim';

export interface TimePlan {
  kind: SamplerKind;
  /** (time, time_next) per step: DDPM T-1 .. 0 with time_next = time - 1; DDIM upstream's pairs, last time_next 0. */
  pairs: readonly (readonly [number, number])[];
}

/** p_sample_loop_ddpm: every timestep T-1 .. 0 (time_next = time - 1, so -1 after the last step). */
export function ddpmPlan(numTimesteps: number): TimePlan {
  if (!Number.isInteger(numTimesteps) || numTimesteps < 1) throw new Error(`ddpmPlan: timesteps ${numTimesteps} must be a positive integer`);
  const T = numTimesteps;
  return { kind: 'ddpm', pairs: Array.from({ length: T }, (_, k): [number, number] => [T - 1 - k, T - 2 - k]) };
}

/** p_sample_loop_ddim: upstream's (time, time_next) pairs for `steps` out of T. */
export function ddimPlan(numTimesteps: number, steps: number): TimePlan {
  return { kind: 'ddim', pairs: ddimTimePairs(numTimesteps, steps) };
}

/** The plan upstream's p_sample_loop picks: DDIM when 1 <= steps < T, DDPM when steps is null or T. */
export function timePlan(numTimesteps: number, steps: number | null): TimePlan {
  return steps !== null && steps < numTimesteps ? ddimPlan(numTimesteps, steps) : ddpmPlan(numTimesteps);
}
