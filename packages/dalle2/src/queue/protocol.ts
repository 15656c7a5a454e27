// What travels through the queue: a job's spec and the model it was made for, its progress events and
// its result (PNG bytes, base64, with the parameters). Workers return the images instead of writing
// them: a worker on another machine cannot reach the server's output directory, and the server or the
// batch CLI writes them atomically into its own (results stay in Redis until `resultTtlSeconds`).
import type { GenerateProgress } from '../generate.js';
import type { GenerationParameters } from '../parameters.js';

export const DEFAULT_QUEUE_NAME = 'dalle2';

/** A text-to-image job (the batch CLI sends one per image, the server one per request). */
export interface DreamSpec {
  kind: 'dream';
  prompts: string[];
  samples: number;
  seed: number;
  steps?: { prior?: number; decoder?: number | number[] };
  condScale?: { prior?: number; decoder?: number | number[] };
  batchSize?: number;
  truncate?: boolean;
}

/** Any job a worker runs; the web UI's variation/inpaint specs join this union through the runner. */
export type JobSpec = DreamSpec | { kind: string; [key: string]: unknown };

export interface QueueJobData<S extends JobSpec = JobSpec> {
  spec: S;
  /** configDigest() of the model the submitter expects; a worker with another model refuses the job. */
  configDigest: string;
}

export interface QueueImage {
  promptIndex: number;
  sampleIndex: number;
  seed: number;
  /** PNG bytes, base64 (with the parameters in text chunks). */
  png: string;
  parameters: GenerationParameters;
}

export interface QueueJobResult {
  images: QueueImage[];
  /** The worker that ran it (host:pid), for logs. */
  worker: string;
}

/** job.updateProgress payloads: sampling progress, a finished image (index into the result), a preview. */
export type QueueProgress =
  | { type: 'progress'; progress: Exclude<GenerateProgress, { stage: 'load' }> }
  | { type: 'image'; image: QueueImage }
  | { type: 'preview'; png: string; stage: string; step: number };

/** Redis keys beside BullMQ's own (same prefix). */
export function queueKeys(prefix: string, queue: string) {
  return {
    /** configDigest of the model the workers run (set by each worker at start). */
    model: `${prefix}:${queue}:dalle2-model`,
    /** Set (with a TTL) to cancel a job wherever it runs. */
    cancel: (jobId: string) => `${prefix}:${queue}:dalle2-cancel:${jobId}`,
  };
}
