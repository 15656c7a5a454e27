// Step pacing: each sampling step is recorded into one command stream and submitted at its end;
// nothing is read back. Step k + 1 is recorded while the GPU runs step k: we wait for step k - 1 to
// finish, so the buffer pool can recycle its uploads and the queue stays one step deep (GPU memory
// stays bounded by about two steps' working sets).
import type { Runtime } from '@dalle2/tensor';

/** Submits each step's command stream and keeps at most one step queued behind the running one. */
export class StepPacer {
  private prev: Promise<unknown> | undefined;

  constructor(private readonly rt: Runtime) {}

  async endStep(): Promise<void> {
    this.rt.flush();
    const done = this.rt.device.queue.onSubmittedWorkDone();
    done.catch(() => undefined); // a device loss surfaces through rt's checks, not as an unhandled rejection
    const prev = this.prev;
    this.prev = done;
    if (prev) await prev;
  }
}
