// Job progress from the scripts' step events: stage, step/total, the fraction of the job's network
// calls done and an ETA at the pace so far. Prior and decoder calls count the same, so the ETA is
// rough while the stage mix changes; it steadies during the decoder, where most time goes.
import type { SamplingProgress } from '../scripts/index.js';
import type { JobProgress } from './jobTypes.js';

/** Calls before an ETA is given (the first calls include kernel compilation). */
const ETA_AFTER = 3;

export class ProgressTracker {
  private done = 0;
  private t0 = 0;

  constructor(private readonly total: number) {}

  /** Counts one network call and describes where the job stands. */
  step(p: SamplingProgress): JobProgress {
    if (this.done === 0) this.t0 = Date.now();
    this.done++;
    const fraction = this.total > 0 ? Math.min(1, this.done / this.total) : 0;
    const out: JobProgress = { stage: p.stage, batch: p.batch, batches: p.batches, step: p.step + 1, steps: p.steps, fraction };
    if (p.stage === 'decoder') Object.assign(out, { unet: p.unet, unets: p.unets });
    if (this.done > ETA_AFTER && this.total > this.done) {
      const perCall = (Date.now() - this.t0) / (this.done - 1);
      out.etaSeconds = Math.round((perCall * (this.total - this.done)) / 100) / 10;
    }
    return out;
  }
}

/** Lets through at most one event per `ms`, plus every event `force` marks (stage ends). */
export class Throttle {
  private last = 0;

  constructor(private readonly ms: number) {}

  pass(force: boolean): boolean {
    const now = Date.now();
    if (!force && now - this.last < this.ms) return false;
    this.last = now;
    return true;
  }
}
