// Live workers of a queue and the model each runs (a Redis hash refreshed by heartbeats), so workers
// and submitters refuse to mix models: every process compares configDigest()s before taking or
// sending work. Also the small Redis reads the queue layer needs (cancel keys).
import type { Queue } from 'bullmq';
import type { ModelInfo } from '../server/modelInfo.js';

const HEARTBEAT_MS = 5000;
/** A worker not seen for this long is gone (killed, or lost its connection). */
const LIVE_MS = 20_000;

export interface LiveWorker {
  id: string;
  digest: string;
  seen: number;
  /** What the worker has loaded (what a server without a GPU shows as GET /api/model). */
  model?: ModelInfo;
}

export class ModelMismatchError extends Error {
  override name = 'ModelMismatchError';
}

export class WorkerRegistry {
  private readonly key: string;
  private beat: NodeJS.Timeout | undefined;

  /** Works over the owner's BullMQ queue connection (the owner closes it). */
  constructor(
    private readonly queue: Queue,
    prefix: string,
  ) {
    this.key = `${prefix}:${queue.name}:dalle2-workers`;
  }

  async live(): Promise<LiveWorker[]> {
    const client = await this.queue.client;
    const all = await client.hgetall(this.key);
    const now = Date.now();
    const out: LiveWorker[] = [];
    for (const [id, v] of Object.entries(all)) {
      try {
        const w = JSON.parse(v) as { digest: string; seen: number; model?: ModelInfo };
        if (now - w.seen < LIVE_MS) out.push({ id, digest: w.digest, seen: w.seen, model: w.model });
      } catch {
        // a foreign entry: not one of ours
      }
    }
    return out;
  }

  /** Throws ModelMismatchError when a live worker runs another model; returns the live workers. */
  async check(digest: string, who: string): Promise<LiveWorker[]> {
    const live = await this.live();
    const other = live.find((w) => w.digest !== digest);
    if (other) {
      throw new ModelMismatchError(
        `queue "${this.queue.name}": worker ${other.id} runs model config digest ${other.digest}, but ${who} has ${digest}; run the same model config everywhere`,
      );
    }
    return live;
  }

  /** Joins as a worker (after the model check) and keeps a heartbeat until leave(). */
  async join(id: string, digest: string, model?: ModelInfo): Promise<void> {
    await this.check(digest, `this worker (${id})`);
    const client = await this.queue.client;
    const beat = () => client.hset(this.key, { [id]: JSON.stringify({ digest, seen: Date.now(), model }) });
    await beat();
    this.beat = setInterval(() => void beat().catch(() => undefined), HEARTBEAT_MS);
    this.beat.unref();
  }

  async leave(id: string): Promise<void> {
    if (this.beat) clearInterval(this.beat);
    const client = await this.queue.client;
    await client.hdel(this.key, id);
  }

  async exists(key: string): Promise<boolean> {
    const client = await this.queue.client;
    return (await client.get(key)) !== null;
  }

  async setFlag(key: string, ttlSeconds: number): Promise<void> {
    const client = await this.queue.client;
    await client.set(key, '1', { EX: ttlSeconds });
  }

  /** Stops the heartbeat. */
  close(): void {
    if (this.beat) clearInterval(this.beat);
  }
}
