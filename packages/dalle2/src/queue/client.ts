// The submitting side of the queue (the server with --queue, the batch CLI): add jobs made for this
// model, follow their events, cancel them wherever they run, read queue positions.
import { Job, Queue, QueueEvents } from 'bullmq';
import { DEFAULT_QUEUE_NAME, queueKeys, type QueueJobData, type QueueJobResult, type QueueProgress, type WireSpec } from './protocol.js';
import type { RedisConnection } from './redisUrl.js';
import { WorkerRegistry, type LiveWorker } from './registry.js';

export interface QueueClientOptions {
  connection: RedisConnection;
  queueName?: string;
  prefix?: string;
  /** The model this side expects (configDigest of its load config). */
  digest: string;
  /** Tries per job: a worker that dies or fails hands the job on this many times in all (default 3). */
  attempts?: number;
  /** Seconds finished jobs (and their images) stay in Redis (default 1 day). */
  resultTtlSeconds?: number;
}

export interface JobHandlers {
  onProgress?: (p: QueueProgress) => void;
  onCompleted?: (result: QueueJobResult) => void;
  onFailed?: (reason: string) => void;
}

export type QueueJobState = 'waiting' | 'active' | 'completed' | 'failed' | 'delayed' | 'unknown';

function parseJson<T>(v: unknown): T {
  return (typeof v === 'string' ? JSON.parse(v) : v) as T;
}

export class QueueClient {
  readonly queue: Queue<QueueJobData, QueueJobResult>;
  private readonly events: QueueEvents;
  private readonly registry: WorkerRegistry;
  private readonly handlers = new Map<string, JobHandlers>();
  private readonly keys: ReturnType<typeof queueKeys>;

  private constructor(private readonly opts: QueueClientOptions) {
    const name = opts.queueName ?? DEFAULT_QUEUE_NAME;
    const prefix = opts.prefix ?? 'bull';
    this.queue = new Queue<QueueJobData, QueueJobResult>(name, { connection: opts.connection, prefix });
    this.events = new QueueEvents(name, { connection: opts.connection, prefix });
    this.registry = new WorkerRegistry(this.queue, prefix);
    this.keys = queueKeys(prefix, name);
    this.events.on('progress', ({ jobId, data }) => this.handlers.get(jobId)?.onProgress?.(parseJson<QueueProgress>(data)));
    this.events.on('completed', ({ jobId, returnvalue }) => {
      const h = this.handlers.get(jobId);
      this.handlers.delete(jobId);
      h?.onCompleted?.(parseJson<QueueJobResult>(returnvalue));
    });
    this.events.on('failed', ({ jobId, failedReason }) => {
      const h = this.handlers.get(jobId);
      // a failure with tries left goes back to the queue; only the last one is final
      void this.queue.getJob(jobId).then(async (job) => {
        if (job && (await job.getState()) !== 'failed') return;
        this.handlers.delete(jobId);
        h?.onFailed?.(failedReason);
      });
    });
  }

  /** Connects, and refuses when live workers run another model than `digest`. */
  static async open(opts: QueueClientOptions): Promise<{ client: QueueClient; workers: LiveWorker[] }> {
    const client = new QueueClient(opts);
    try {
      await client.events.waitUntilReady();
      const workers = await client.registry.check(opts.digest, 'this side');
      return { client, workers };
    } catch (e) {
      await client.close();
      throw e;
    }
  }

  /**
   * Adds a job (or finds the one already added under `jobId`, which makes a re-run resume) and follows
   * it. A job that already finished calls its handler at once; a failed one under that id is re-added.
   */
  async submit(spec: WireSpec, handlers: JobHandlers, jobId?: string): Promise<string> {
    const data: QueueJobData = { spec, configDigest: this.opts.digest };
    const ttl = this.opts.resultTtlSeconds ?? 86_400;
    const add = () =>
      this.queue.add(spec.kind, data, { jobId, attempts: this.opts.attempts ?? 3, removeOnComplete: { age: ttl }, removeOnFail: { age: ttl } });
    let job = await add();
    const id = job.id!;
    this.handlers.set(id, handlers);
    let state = await job.getState();
    if (state === 'failed' && jobId) {
      await job.remove();
      job = await add();
      state = await job.getState();
    }
    // finished before we listened (a re-run re-attaching): hand over the stored result once, unless
    // the 'completed' event already did
    if (state === 'completed' && this.handlers.get(id) === handlers) {
      this.handlers.delete(id);
      const done = await Job.fromId<QueueJobData, QueueJobResult>(this.queue, id);
      handlers.onCompleted?.(done!.returnvalue);
    }
    return id;
  }

  /** Cancels a job: removed if still waiting; else its worker stops at the next step. */
  async cancel(id: string): Promise<boolean> {
    const job = await this.queue.getJob(id);
    if (!job) return false;
    const state = await job.getState();
    if (state === 'completed' || state === 'failed') return false;
    await this.registry.setFlag(this.keys.cancel(id), 3600);
    if (state === 'waiting' || state === 'delayed' || state === 'prioritized') {
      await job.remove().catch(() => undefined); // taken meanwhile: the cancel key stops it
      const h = this.handlers.get(id);
      this.handlers.delete(id);
      h?.onFailed?.('cancelled');
    }
    return true;
  }

  async state(id: string): Promise<QueueJobState> {
    const job = await this.queue.getJob(id);
    if (!job) return 'unknown';
    const s = await job.getState();
    return s === 'prioritized' || s === 'waiting-children' ? 'waiting' : (s as QueueJobState);
  }

  /** 0-based place among the waiting jobs (undefined when not waiting). */
  async position(id: string): Promise<number | undefined> {
    const waiting = await this.queue.getWaiting(0, -1);
    // getWaiting lists newest first
    const ids = waiting.map((j) => j.id).reverse();
    const i = ids.indexOf(id);
    return i < 0 ? undefined : i;
  }

  async workers(): Promise<LiveWorker[]> {
    return this.registry.live();
  }

  async close(): Promise<void> {
    this.registry.close();
    await Promise.allSettled([this.events.close(), this.queue.close()]);
  }
}
