// `dalle2 worker`: a BullMQ worker that runs the web UI's jobs (and the batch CLI's) on a model loaded
// once, with the same executor as the in-process server. Progress, previews and finished images go
// out through job.updateProgress; the images are also the job's return value. A cancel key set by any
// process stops the job at its next step; a worker that dies leaves its job to BullMQ's stalled-job
// detection, which hands it to another worker (at most `attempts` tries in all).
import { hostname } from 'node:os';
import { Queue, UnrecoverableError, Worker, type Job } from 'bullmq';
import type { DalleModelManager } from '../manager/index.js';
import { configDigest } from '../parameters.js';
import { inProcessExecutor, type JobExecutor } from '../server/executor.js';
import { modelInfo } from '../server/modelInfo.js';
import { DEFAULT_QUEUE_NAME, fromWire, queueKeys, type QueueImage, type QueueJobData, type QueueJobResult, type QueueProgress } from './protocol.js';
import type { RedisConnection } from './redisUrl.js';
import { WorkerRegistry } from './registry.js';

export interface QueueWorkerOptions {
  connection: RedisConnection;
  manager: DalleModelManager;
  /** Where the model config was read from (recorded in the PNGs, shown by servers). */
  modelConfig: string;
  queueName?: string;
  prefix?: string;
  concurrency?: number;
  /** Decoder previews every N steps (default about 8 per unet; 0: none). */
  previewEvery?: number;
  /** Lock time; a dead worker's job is handed on after about this long (default 30 s). */
  lockDurationMs?: number;
  log?: (line: string) => void;
}

export class QueueWorker {
  readonly id = `${hostname()}:${process.pid}`;
  readonly digest: string;
  private readonly worker: Worker<QueueJobData, QueueJobResult>;
  private readonly queue: Queue;
  private readonly registry: WorkerRegistry;
  private readonly execute: JobExecutor;
  private readonly running = new Map<string, AbortController>();
  private poll: NodeJS.Timeout | undefined;
  private closing = false;

  private constructor(private readonly opts: QueueWorkerOptions) {
    this.digest = configDigest(opts.manager.config);
    const queueName = opts.queueName ?? DEFAULT_QUEUE_NAME;
    const prefix = opts.prefix ?? 'bull';
    const lockDuration = opts.lockDurationMs ?? 30_000;
    this.execute = inProcessExecutor(opts.manager, { modelConfig: opts.modelConfig, previewEvery: opts.previewEvery });
    // a plain queue handle for the registry's reads and writes (the Worker's own connection blocks)
    this.queue = new Queue(queueName, { connection: opts.connection, prefix });
    this.registry = new WorkerRegistry(this.queue, prefix);
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

  /** Registers (refusing a queue whose live workers run another model) and starts taking jobs. */
  static async start(opts: QueueWorkerOptions): Promise<QueueWorker> {
    const w = new QueueWorker(opts);
    try {
      await w.registry.join(w.id, w.digest, await modelInfo(opts.manager, opts.modelConfig, 0));
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
      if (!ctl.signal.aborted && (await this.registry.exists(cancelKey(id)).catch(() => false))) ctl.abort(new Error(`job ${id} cancelled`));
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
    const send = (p: QueueProgress) => job.updateProgress(p);
    let lastProgress = 0;
    this.opts.log?.(`job ${id}: ${spec.kind} (attempt ${job.attemptsMade + 1})`);
    try {
      await this.execute(fromWire(spec), {
        signal: ctl.signal,
        onStart: (calls) => void send({ type: 'start', calls, worker: this.id }).catch(() => undefined),
        onProgress: (progress) => {
          // at most ~10 a second (a Redis write each), always a stage's last step
          const now = Date.now();
          if (progress.step + 1 !== progress.steps && now - lastProgress < 100) return;
          lastProgress = now;
          void send({ type: 'progress', progress }).catch(() => undefined);
        },
        onPreview: (preview) => void send({ type: 'preview', preview }).catch(() => undefined),
        onImage: async (im) => {
          const q: QueueImage = { index: im.index, seed: im.seed, png: im.png.toString('base64'), parameters: im.parameters };
          images.push(q);
          await send({ type: 'image', image: q });
        },
        note: (message) => void send({ type: 'note', message }).catch(() => undefined),
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
    this.registry.close();
    await this.queue.close();
  }
}
