// What travels through the queue: the web UI's job specs (uploads as base64), the model they were made
// for, progress events and results (PNG bytes, base64, with their parameters). Workers return images
// instead of writing them: a worker on another machine cannot reach the submitter's output directory;
// the server or the batch CLI writes them into its own (results stay in Redis until a TTL).
import type { GenerationParameters } from '../parameters.js';
import type { SamplingProgress } from '../scripts/index.js';
import type { JobPreviewEvent, JobSpec } from '../server/jobTypes.js';

export const DEFAULT_QUEUE_NAME = 'dalle2';

/** A JobSpec as JSON: uploaded image bytes as base64. */
export type WireSpec =
  | Extract<JobSpec, { kind: 'dream' }>
  | (Omit<Extract<JobSpec, { kind: 'variation' }>, 'image'> & { image: string })
  | (Omit<Extract<JobSpec, { kind: 'inpaint' }>, 'image' | 'mask'> & { image: string; mask: string });

export function toWire(spec: JobSpec): WireSpec {
  const b64 = (u: Uint8Array) => Buffer.from(u.buffer, u.byteOffset, u.byteLength).toString('base64');
  if (spec.kind === 'variation') return { ...spec, image: b64(spec.image) };
  if (spec.kind === 'inpaint') return { ...spec, image: b64(spec.image), mask: b64(spec.mask) };
  return spec;
}

export function fromWire(w: WireSpec): JobSpec {
  const bytes = (s: string) => new Uint8Array(Buffer.from(s, 'base64'));
  if (w.kind === 'variation') return { ...w, image: bytes(w.image) };
  if (w.kind === 'inpaint') return { ...w, image: bytes(w.image), mask: bytes(w.mask) };
  return w;
}

export interface QueueJobData {
  spec: WireSpec;
  /** configDigest() of the model the submitter expects; a worker with another model refuses the job. */
  configDigest: string;
}

export interface QueueImage {
  /** Place in the job's output order (input or prompt * samples + sample). */
  index: number;
  seed: number;
  /** PNG bytes, base64 (with the parameters in text chunks). */
  png: string;
  parameters: GenerationParameters;
}

export interface QueueJobResult {
  images: QueueImage[];
  /** The worker that ran it (host:pid). */
  worker: string;
}

/** job.updateProgress payloads, relayed to the submitter's executor hooks. */
export type QueueProgress =
  | { type: 'start'; calls: number; worker: string }
  | { type: 'progress'; progress: SamplingProgress }
  | { type: 'preview'; preview: JobPreviewEvent }
  | { type: 'image'; image: QueueImage }
  | { type: 'note'; message: string };

/** Redis keys beside BullMQ's own (same prefix). */
export function queueKeys(prefix: string, queue: string) {
  return {
    /** Set (with a TTL) to cancel a job wherever it runs. */
    cancel: (jobId: string) => `${prefix}:${queue}:dalle2-cancel:${jobId}`,
  };
}
