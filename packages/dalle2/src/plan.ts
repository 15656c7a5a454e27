// Sampling options checked against a model before any sampling: per-unet lists of the right length,
// steps within each stage's training timesteps, cond scales >= 0, prompts within the tokenizer's
// context. Errors are OptionErrors naming the option, so the CLI can word them for its flags.
import { defaultClipTokenizer } from '@dalle2/models';
import type { ModelLoadConfig } from './config/index.js';
import type { DalleModelManager } from './manager/index.js';

/** The prior's token context (dalle2-pytorch's tokenizer pads/truncates to 256). */
export const PRIOR_CONTEXT = 256;

/** A sampling option that cannot work with this model; `option` names it (`steps.decoder`, `condScale.prior`, `prompt`, ...). */
export class OptionError extends Error {
  override name = 'OptionError';

  constructor(
    readonly option: string,
    message: string,
  ) {
    super(message);
  }
}

/** What a caller asks for; undefined entries take the model's defaults. */
export interface PlanRequest {
  priorSteps?: number;
  decoderSteps?: number | readonly (number | undefined)[];
  priorCondScale?: number;
  decoderCondScale?: number | readonly number[];
}

/** Resolved per-stage settings (what the images are made with, written into each PNG). */
export interface SamplingPlan {
  /** Absent when the run has no prior stage (variations). */
  priorSteps?: number;
  priorCondScale?: number;
  decoderSteps: number[];
  decoderCondScale: number[];
}

function checkCount(option: string, what: string, v: number | undefined, max: number): void {
  if (v === undefined) return;
  if (!Number.isInteger(v) || v < 1 || v > max) throw new OptionError(option, `${what} must be an integer in [1, ${max}], got ${v}`);
}

function checkScale(option: string, what: string, v: number | undefined): void {
  if (v === undefined) return;
  if (!Number.isFinite(v) || v < 0) throw new OptionError(option, `${what} must be a number >= 0, got ${v}`);
}

/** One value for every unet, or exactly one per unet. */
export function perUnet<T>(option: string, v: T | readonly T[] | undefined, unets: number): (T | undefined)[] {
  if (v === undefined) return Array<T | undefined>(unets).fill(undefined);
  if (!Array.isArray(v)) return Array<T>(unets).fill(v as T);
  const list = v as readonly T[];
  if (list.length === 1) return Array<T>(unets).fill(list[0]);
  if (list.length !== unets) throw new OptionError(option, `${list.length} values for a decoder with ${unets} unet${unets === 1 ? '' : 's'} (give one for all, or one per unet)`);
  return [...list];
}

/** Checks what can be checked from the load config alone (list lengths, ranges), before loading weights. */
export function checkRequestAgainstConfig(config: ModelLoadConfig, req: PlanRequest): void {
  const unets = config.decoder?.final_unet_number ?? 0;
  checkCount('steps.prior', 'prior steps', req.priorSteps, Number.MAX_SAFE_INTEGER);
  checkScale('condScale.prior', 'prior cond scale', req.priorCondScale);
  if (unets > 0) {
    perUnet('steps.decoder', req.decoderSteps, unets).forEach((s, i) => checkCount('steps.decoder', `decoder steps of unet ${i + 1}`, s, Number.MAX_SAFE_INTEGER));
    perUnet('condScale.decoder', req.decoderCondScale, unets).forEach((s, i) => checkScale('condScale.decoder', `decoder cond scale of unet ${i + 1}`, s));
  }
}

/** Resolves a request against loaded models: defaults filled in, steps bounded by training timesteps. */
export async function resolvePlan(manager: DalleModelManager, req: PlanRequest, withPrior: boolean): Promise<SamplingPlan> {
  checkRequestAgainstConfig(manager.config, req);
  const decoder = await manager.decoder();
  const T = decoder.config.timesteps;
  const n = decoder.unets.length;
  const steps = perUnet('steps.decoder', req.decoderSteps, n).map((s, i) => s ?? decoder.unets[i].sampleTimesteps ?? T);
  steps.forEach((s, i) => checkCount('steps.decoder', `decoder steps of unet ${i + 1}`, s, T));
  const cond = perUnet('condScale.decoder', req.decoderCondScale, n).map((c, i) => c ?? decoder.unets[i].condScale);
  const plan: SamplingPlan = { decoderSteps: steps, decoderCondScale: cond };
  if (withPrior) {
    const prior = await manager.diffusionPrior();
    const priorT = prior.schedule.numTimesteps;
    const defaults = manager.priorDefaults();
    plan.priorSteps = req.priorSteps ?? defaults.sampleTimesteps ?? priorT;
    checkCount('steps.prior', 'prior steps', plan.priorSteps, priorT);
    plan.priorCondScale = req.priorCondScale ?? defaults.condScale;
  }
  return plan;
}

/** Checks prompts: non-empty, and (unless truncating) within the prior's token context. */
export function checkPrompts(prompts: readonly string[], truncate: boolean): void {
  if (prompts.length === 0) throw new OptionError('prompt', 'no prompts');
  const tokenizer = defaultClipTokenizer();
  prompts.forEach((p, i) => {
    if (typeof p !== 'string' || p.trim() === '') throw new OptionError('prompt', `prompt ${i + 1} is empty`);
    if (truncate) return;
    const n = tokenizer.encode(p).length;
    if (n > PRIOR_CONTEXT) {
      throw new OptionError('prompt', `prompt ${i + 1} is ${n} tokens long; the model reads at most ${PRIOR_CONTEXT}`);
    }
  });
}
