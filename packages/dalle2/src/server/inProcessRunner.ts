// The in-process JobRunner: one job at a time on this process's GPU, a bounded FIFO queue, events to
// subscribers, every state change and image saved in the output dir (history survives restarts).
import { randomUUID } from 'node:crypto';
import type { JobExecutor } from './executor.js';
import { QueueFullError, RunnerClosedError, type JobEvent, type JobImage, type JobRunner, type JobSnapshot, type JobSpec, type JobRequestSummary } from './jobTypes.js';
import { ProgressTracker, Throttle } from './progress.js';
import type { JobStore } from './store.js';

export interface InProcessRunnerOptions {
  /** Most jobs waiting behind the running ones (more are refused with QueueFullError). */
  maxQueued: number;
  /**
   * Jobs handed to the executor at once (default 1: one GPU). A queue executor takes many: its workers
   * schedule them, and it reports their place in that queue through onQueued.
   */
  maxRunning?: number;
  /** URL of an image file of a job (how the routes serve the output dir). */
  imageUrl: (id: string, index: number) => string;
  /** Where runner problems that reach no client go (failed saves); default console.error. */
  log?: (message: string) => void;
}

interface Running {
  id: string;
  ctl: AbortController;
  done: Promise<void>;
}

function summary(spec: JobSpec): JobRequestSummary {
  const base = { samples: spec.samples, seed: spec.seed, steps: spec.steps, condScale: spec.condScale };
  if (spec.kind === 'dream') return { ...base, kind: 'dream', prompts: spec.prompts };
  if (spec.kind === 'variation') return { ...base, kind: 'variation', text: spec.text };
  return { ...base, kind: 'inpaint', prompt: spec.prompt };
}

export class InProcessRunner implements JobRunner {
  private readonly jobs = new Map<string, JobSnapshot>();
  private readonly specs = new Map<string, JobSpec>();
  private readonly queue: string[] = [];
  private readonly listeners = new Map<string, Set<(e: JobEvent) => void>>();
  private readonly running = new Map<string, Running>();
  /** Place in the executor's own queue (a remote queue) of jobs handed over but not started. */
  private readonly remotePosition = new Map<string, number>();
  private closed = false;
  private saving: Promise<void> = Promise.resolve();

  private constructor(
    private readonly store: JobStore,
    private readonly execute: JobExecutor,
    private readonly options: InProcessRunnerOptions,
  ) {}

  /** A runner over `store`, with the jobs already recorded there as history. */
  static async open(store: JobStore, execute: JobExecutor, options: InProcessRunnerOptions): Promise<InProcessRunner> {
    await store.init();
    const runner = new InProcessRunner(store, execute, options);
    for (const job of await store.loadAll()) runner.jobs.set(job.id, job);
    return runner;
  }

  async submit(spec: JobSpec): Promise<JobSnapshot> {
    if (this.closed) throw new RunnerClosedError('the server is shutting down and takes no new jobs');
    if (this.queue.length >= this.options.maxQueued) {
      throw new QueueFullError(`the queue is full (${this.queue.length} jobs waiting, at most ${this.options.maxQueued}); try again when a job has finished`);
    }
    const total = (spec.kind === 'dream' ? spec.prompts.length : 1) * spec.samples;
    const job: JobSnapshot = { id: randomUUID(), kind: spec.kind, state: 'queued', request: summary(spec), total, createdAt: new Date().toISOString(), images: [], notes: [] };
    this.jobs.set(job.id, job);
    this.specs.set(job.id, spec);
    this.queue.push(job.id);
    const saved = this.save(job);
    this.pump(); // before awaiting: the queue check above and the push must see the same queue
    await saved;
    return this.snapshot(job);
  }

  async get(id: string): Promise<JobSnapshot | undefined> {
    const job = this.jobs.get(id);
    return job && this.snapshot(job);
  }

  async list(limit: number): Promise<JobSnapshot[]> {
    // newest first; jobs made in the same millisecond stay in submission order (reversed; the sort is stable)
    const all = [...this.jobs.values()].reverse().sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : 0));
    return all.slice(0, limit).map((j) => this.snapshot(j));
  }

  async cancel(id: string): Promise<JobSnapshot | undefined> {
    const job = this.jobs.get(id);
    if (!job) return undefined;
    const at = this.queue.indexOf(id);
    if (at >= 0) {
      this.queue.splice(at, 1);
      this.specs.delete(id);
      await this.finish(job, 'cancelled');
      this.announcePositions();
    } else if (this.running.has(id) && !job.cancelRequested) {
      job.cancelRequested = true;
      this.running.get(id)!.ctl.abort(new Error('cancelled'));
      this.emit(id, { type: 'state', job: this.snapshot(job) });
    }
    return this.snapshot(job);
  }

  subscribe(id: string, listener: (e: JobEvent) => void): () => void {
    let set = this.listeners.get(id);
    if (!set) this.listeners.set(id, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.listeners.delete(id);
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const id of this.queue.splice(0)) {
      this.specs.delete(id);
      await this.finish(this.jobs.get(id)!, 'cancelled', 'the server shut down');
    }
    const running = [...this.running.values()];
    for (const r of running) r.ctl.abort(new Error('the server shut down'));
    await Promise.all(running.map((r) => r.done));
    await this.saving;
  }

  private snapshot(job: JobSnapshot): JobSnapshot {
    const at = this.queue.indexOf(job.id);
    const remote = this.remotePosition.get(job.id);
    // queued here: behind the local queue; handed over: its place in the executor's queue
    return structuredClone(at >= 0 ? { ...job, position: at + 1 } : remote !== undefined ? { ...job, position: remote } : job);
  }

  private emit(id: string, e: JobEvent): void {
    for (const l of this.listeners.get(id) ?? []) {
      try {
        l(e);
      } catch {
        // a broken subscriber (closed connection) must not stop the job
      }
    }
  }

  private announcePositions(): void {
    for (const id of this.queue) this.emit(id, { type: 'state', job: this.snapshot(this.jobs.get(id)!) });
  }

  /** Saves the job as it is now; saves run one after another, so the file ends with the latest state. */
  private save(job: JobSnapshot): Promise<void> {
    const copy = structuredClone(job);
    this.saving = this.saving.then(() => this.store.saveJob(copy)).catch((e: Error) => (this.options.log ?? console.error)(`cannot save job ${job.id}: ${e.message}`));
    return this.saving;
  }

  private async finish(job: JobSnapshot, state: 'done' | 'failed' | 'cancelled', error?: string): Promise<void> {
    job.state = state;
    job.finishedAt = new Date().toISOString();
    delete job.progress;
    if (error !== undefined) job.error = error;
    this.emit(job.id, { type: 'state', job: this.snapshot(job) });
    await this.save(job);
  }

  /** Starts queued jobs while fewer than maxRunning run. */
  private pump(): void {
    while (!this.closed && this.running.size < (this.options.maxRunning ?? 1)) {
      const id = this.queue.shift();
      if (id === undefined) break;
      const ctl = new AbortController();
      const running: Running = { id, ctl, done: Promise.resolve() };
      this.running.set(id, running);
      running.done = this.run(this.jobs.get(id)!, this.specs.get(id)!, ctl.signal).finally(() => {
        this.specs.delete(id);
        this.running.delete(id);
        this.remotePosition.delete(id);
        this.pump();
      });
    }
    this.announcePositions();
  }

  private async run(job: JobSnapshot, spec: JobSpec, signal: AbortSignal): Promise<void> {
    job.state = 'running';
    job.startedAt = new Date().toISOString();
    this.emit(job.id, { type: 'state', job: this.snapshot(job) });
    await this.save(job);
    let tracker = new ProgressTracker(0);
    const throttle = new Throttle(100);
    try {
      await this.execute(spec, {
        signal,
        onQueued: (position) => {
          job.state = 'queued';
          this.remotePosition.set(job.id, position);
          this.emit(job.id, { type: 'state', job: this.snapshot(job) });
        },
        onStart: (calls) => {
          tracker = new ProgressTracker(calls);
          if (this.remotePosition.delete(job.id) || job.state !== 'running') {
            job.state = 'running';
            job.startedAt = new Date().toISOString();
            this.emit(job.id, { type: 'state', job: this.snapshot(job) });
          }
        },
        onProgress: (p) => {
          job.progress = tracker.step(p);
          if (throttle.pass(p.step + 1 === p.steps)) this.emit(job.id, { type: 'progress', progress: job.progress });
        },
        onPreview: (preview) => this.emit(job.id, { type: 'preview', preview }),
        onImage: async (im) => {
          await this.store.saveImage(job.id, im.index, im.png);
          const image: JobImage = { index: im.index, url: this.options.imageUrl(job.id, im.index), seed: im.seed, parameters: im.parameters };
          job.images.push(image);
          job.images.sort((a, b) => a.index - b.index);
          await this.save(job);
          this.emit(job.id, { type: 'image', image });
        },
        note: (m) => job.notes.push(m),
      });
      await this.finish(job, 'done');
    } catch (e) {
      if (signal.aborted) await this.finish(job, 'cancelled', job.cancelRequested ? undefined : (signal.reason as Error).message);
      else await this.finish(job, 'failed', (e as Error).message);
    }
  }
}
