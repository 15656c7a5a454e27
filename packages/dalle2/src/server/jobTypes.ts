// The web UI's job model, shared by the routes, the page and every job runner. A runner (in-process
// today, a distributed queue later) only has to honour the JobRunner interface: the routes and the
// page never see how jobs are executed.
import type { GenerationParameters } from '../parameters.js';

export type JobKind = 'dream' | 'variation' | 'inpaint';
export type JobState = 'queued' | 'running' | 'done' | 'failed' | 'cancelled';

/** Per-stage sampling settings of a request (undefined: the model's defaults). */
export interface JobSampling {
  samples: number;
  seed: number;
  steps: { prior?: number; decoder?: number[] };
  condScale: { prior?: number; decoder?: number[] };
  /** Cut prompts over 256 tokens instead of refusing them (the batch CLI's --truncate). */
  truncate?: boolean;
}

/**
 * A validated job, ready to run. Uploaded images stay as their (checked) file bytes, so a spec can be
 * serialised for another process.
 */
export type JobSpec = JobSampling &
  (
    | { kind: 'dream'; prompts: string[] }
    | { kind: 'variation'; image: Uint8Array; text?: string }
    | { kind: 'inpaint'; image: Uint8Array; mask: Uint8Array; prompt: string }
  );

/** What a job asked for, without the uploaded bytes (shown in the page and stored in history). */
export type JobRequestSummary = JobSampling &
  ({ kind: 'dream'; prompts: string[] } | { kind: 'variation'; text?: string } | { kind: 'inpaint'; prompt: string });

export interface JobProgress {
  stage: 'prior' | 'decoder';
  /** Decoder only: 1-based unet number and how many. */
  unet?: number;
  unets?: number;
  /** 0-based batch of this stage and how many. */
  batch: number;
  batches: number;
  /** 1-based step within this stage's loop and its length. */
  step: number;
  steps: number;
  /** Network calls done / all the job makes (rough: prior and decoder calls weigh the same). */
  fraction: number;
  /** Seconds left at the current pace; absent until a few steps have run. */
  etaSeconds?: number;
}

export interface JobImage {
  /** Place in the job's output order: input (or prompt) * samples + sample. */
  index: number;
  /** URL of the PNG (which carries the parameters as text chunks). */
  url: string;
  seed: number;
  parameters: GenerationParameters;
}

export interface JobSnapshot {
  id: string;
  kind: JobKind;
  state: JobState;
  request: JobRequestSummary;
  /** Images the job makes in all. */
  total: number;
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
  /** 1-based place among waiting jobs (queued only). */
  position?: number;
  /** Set once a cancel was asked for a running job (it stops at the next step). */
  cancelRequested?: boolean;
  progress?: JobProgress;
  images: JobImage[];
  error?: string;
  /** Notes about the inputs (cropping, resizing). */
  notes: string[];
}

export interface JobPreviewEvent {
  unet: number;
  unets: number;
  step: number;
  steps: number;
  /** data:image/png URLs of the predicted images (x_0 estimates) being denoised, by output index. */
  images: { index: number; url: string }[];
}

export type JobEvent =
  | { type: 'state'; job: JobSnapshot }
  | { type: 'progress'; progress: JobProgress }
  | { type: 'preview'; preview: JobPreviewEvent }
  | { type: 'image'; image: JobImage };

/** The queue is full: the request is refused (HTTP 429). */
export class QueueFullError extends Error {
  override name = 'QueueFullError';
}

/** The runner is shutting down and takes no new jobs (HTTP 503). */
export class RunnerClosedError extends Error {
  override name = 'RunnerClosedError';
}

/** Runs jobs one at a time (per GPU) in submission order. */
export interface JobRunner {
  /** Queues a validated job; throws QueueFullError when the queue is full, RunnerClosedError when closing. */
  submit(spec: JobSpec): Promise<JobSnapshot>;
  get(id: string): Promise<JobSnapshot | undefined>;
  /** Newest first, history included. */
  list(limit: number): Promise<JobSnapshot[]>;
  /** A queued job is dropped; a running one stops at its next step. Undefined when unknown. */
  cancel(id: string): Promise<JobSnapshot | undefined>;
  /** Events of one job until unsubscribed; the returned function unsubscribes. */
  subscribe(id: string, listener: (e: JobEvent) => void): () => void;
  /** Stops taking jobs, drops the queued ones, cancels the running one and waits for it. */
  close(): Promise<void>;
}
