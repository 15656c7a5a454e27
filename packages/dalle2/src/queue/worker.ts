// `dalle2 worker`: a BullMQ worker that runs jobs on a model loaded once. Progress, finished images and
// previews go out through job.updateProgress; the images are the job's return value. A cancel key set
// by any process stops the job at its next step; a worker that dies leaves its job to BullMQ's stalled
// detection, which hands it to another worker (at most `attempts` times).
import { hostname } from 'node:os';
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import { generate, type GenerateProgress, type GeneratedImage } from '../generate.js';
import type { DalleModelManager } from '../manager/index.js';
import { configDigest } from '../parameters.js';
import { DEFAULT_QUEUE_NAME, queueKeys, type DreamSpec, type JobSpec, type QueueImage, type QueueJobData, type QueueJobResult, type QueueProgress } from './protocol.js';
import type { RedisConnection } from './redisUrl.js';
import { WorkerRegistry } from './registry.js';

/** What a worker does with one job's spec (the web UI's kinds plug in here). */
export type JobExecutor = (
  spec: JobSpec,
  ctx: { manager: DalleModelManager; signal: AbortSignal; onProgress: (p: GenerateProgress) => void; onImage: (im: GeneratedImage) => Promise<void>; onPreview?: (png: Buffer, stage: string, step: number) => void },
) => Promise<void>;

/** Runs dream specs with generate(); other kinds need an executor that knows them. */
export const dreamExecutor: JobExecutor = async (spec, ctx) => {
  if (spec.kind !== 'dream') throw new UnrecoverableError(`this worker cannot run "${spec.kind}" jobs`);
  const s = spec as DreamSpec;
  await generate(s.prompts, {
    manager: ctx.manager, seed: s.seed, samples: s.samples, steps: s.steps, condScale: s.condScale, batchSize: s.batchSize, truncate: s.truncate,
    signal: ctx.signal, onProgress: ctx.onProgress, onImage: ctx.onImage,
  });
};

export interface QueueWorkerOptions {
  connection: RedisConnection;
  manager: DalleModelManager;
  queueName?: string;
  prefix?: string;
  concurrency?: number;
  execute?: JobExecutor;
  /** Lock time; a dead worker's job is handed on after about this long (default 30 s). */
  lockDurationMs?: number;
  log?: (line: string) => void;
}

export function toQueueImage(im: GeneratedImage): QueueImage {
  return { promptIndex: im.promptIndex, sampleIndex: im.sampleIndex, seed: im.seed, png: im.png.toString('base64'), parameters: im.parameters };
}

/** Sends at most ~5 progress updates a second per job (always the last step of a stage). */
function throttledProgress(job: Job): (p: GenerateProgress) => void {
  let last = 0;
  return (p) => {
    if (p.stage === 'load') return;
    const now = Date.now();
    if (p.step + 1 !== p.steps && now - last < 200) return;
    last = now;
    void job.updateProgress({ type: 'progress', progress: p } satisfies QueueProgress).catch(() => undefined);
  };
}

export class QueueWorker {
  readonly id = `${hostname()}:${process.pid}`;
  readonly digest: string;
  private readonly worker: Worker<QueueJobData, QueueJobResult>;
  private readonly registry: WorkerRegistry;
  private readonly running = new Map<string, AbortController>();
  private poll: NodeJS.Timeout | undefined;
  private closing = false;

  private constructor(private readonly opts: QueueWorkerOptions) {
    this.digest = configDigest(opts.manager.config);
    const queueName = opts.queueName ?? DEFAULT_QUEUE_NAME;
    const prefix = opts.prefix ?? 'bull';
    const lockDuration = opts.lockDurationMs ?? 30_000;
    this.registry = new WorkerRegistry(opts.connection, prefix, queueName);
    this.worker = new Worker<QueueJobData, QueueJobResult>(queueName, (job, _token, signal) => this.process(job, signal), {
      connection: opts.connection,
      prefix,
      concurrency: opts.concurrency ?? 1,
      lockDuration,
      stalledInterval: Math.max(1000, Math.floor(lockDuration / 2)),
      autorun: false,
    });
    this.worker.on('failed', (job, err) => opts.log?.(`job ${job?.id ?? '?'} failed: ${err.message}`));
    this.worker.on('completed', (job) => opts.log?.(`job ${job.id} done`));
  }

  /** Registers with the queue (refusing a queue whose live workers run another model) and starts taking jobs. */
  static async start(opts: QueueWorkerOptions): Promise<QueueWorker> {
    const w = new QueueWorker(opts);
    try {
      await w.registry.join(w.id, w.digest);
    } catch (e) {
      await w.close();
      throw e;
    }
    const keys = queueKeys(opts.prefix ?? 'bull', opts.queueName ?? DEFAULT_QUEUE_NAME);
    w.poll = setInterval(() => void w.checkCancels(keys.cancel), 250);
    void w.worker.run();
    return w;
  }

  private async checkCancels(cancelKey: (id: string) => string): Promise<void> {
    for (const [id, ctl] of this.running) {
      if (ctl.signal.aborted) continue;
      if ((await this.registry.exists(cancelKey(id)).catch(() => false)) && !ctl.signal.aborted) ctl.abort(new Error(`job ${id} cancelled`));
    }
  }

  private async process(job: Job<QueueJobData, QueueJobResult>, signal?: AbortSignal): Promise<QueueJobResult> {
    const { spec, configDigest: wanted } = job.data;
    if (wanted !== this.digest) {
      throw new UnrecoverableError(`model mismatch: the job was made for model config digest ${wanted}, worker ${this.id} runs ${this.digest}`);
    }
    const id = job.id!;
    const ctl = new AbortController();
    signal?.addEventListener('abort', () => ctl.abort(signal.reason));
    this.running.set(id, ctl);
    const images: QueueImage[] = [];
    this.opts.log?.(`job ${id}: ${spec.kind} (attempt ${job.attemptsMade + 1})`);
    try {
      await (this.opts.execute ?? dreamExecutor)(spec, {
        manager: this.opts.manager,
        signal: ctl.signal,
        onProgress: throttledProgress(job),
        onImage: async (im) => {
          const q = toQueueImage(im);
          images.push(q);
          await job.updateProgress({ type: 'image', image: q } satisfies QueueProgress);
        },
        onPreview: (png, stage, step) => void job.updateProgress({ type: 'preview', png: png.toString('base64'), stage, step } satisfies QueueProgress).catch(() => undefined),
      });
    } catch (e) {
      // a cancelled job is never retried; one stopped by a shutdown goes back to another worker
      if (ctl.signal.aborted && !this.closing) throw new UnrecoverableError('cancelled');
      throw e;
    } finally {
      this.running.delete(id);
    }
    return { images, worker: this.id };
  }

  async close(): Promise<void> {
    if (this.poll) clearInterval(this.poll);
    this.closing = true;
    for (const ctl of this.running.values()) ctl.abort(new Error('worker shutting down'));
    await this.worker.close();
    await this.registry.leave(this.id).catch(() => undefined);
    await this.registry.close();
  }
}
