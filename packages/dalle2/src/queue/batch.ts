// `dalle2 dream --queue redis://...`: a prompt file spread over every worker, one job per image
// (image k of a prompt is seed + k alone, so it is the same image as an in-process run), written
// atomically as results arrive. Resumable: images already on disk are skipped, and job ids derive
// from what the image is, so a re-run re-attaches to jobs still queued or finished in Redis.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readPngText } from '../image/pngText.js';
import { FileNamer, promptFileStem } from '../cli/output.js';
import type { QueueClient } from './client.js';
import type { JobSampling } from '../server/jobTypes.js';
import type { QueueJobResult, WireSpec } from './protocol.js';

export interface BatchItem {
  prompt: string;
  sample: number;
  file: string;
  jobId: string;
}

export interface BatchOptions {
  prompts: readonly string[];
  samples: number;
  seed: number;
  /** Per stage; decoder values one per unet (undefined: the model's defaults). */
  steps: JobSampling['steps'];
  condScale: JobSampling['condScale'];
  truncate?: boolean;
  outputDir: string;
  digest: string;
}

/** Every image of the run with its file and job id (deterministic: the same inputs give the same list). */
export function batchItems(o: BatchOptions): BatchItem[] {
  const namer = new FileNamer();
  const items: BatchItem[] = [];
  for (const prompt of o.prompts) {
    for (let k = 0; k < o.samples; k++) {
      const what = JSON.stringify([o.digest, prompt, o.seed + k, o.steps, o.condScale, o.truncate ?? false]);
      const jobId = `dream-${createHash('sha256').update(what).digest('hex').slice(0, 24)}`;
      items.push({ prompt, sample: k, file: join(o.outputDir, namer.name(promptFileStem(prompt), k)), jobId });
    }
  }
  return items;
}

/** A finished PNG: readable to its IEND chunk (files are written by rename, so a partial one never has a final name). */
async function complete(file: string): Promise<boolean> {
  try {
    readPngText(await readFile(file));
    return true;
  } catch {
    return false;
  }
}

export interface BatchEvents {
  onSkipped?: (n: number) => void;
  onImage: (item: BatchItem, png: Buffer) => Promise<void>;
  onFailed: (item: BatchItem, reason: string) => void;
}

/**
 * Submits the missing images and resolves when each has been written or has failed; rejects with the
 * signal's reason when aborted (jobs stay queued for the next run).
 */
export async function runBatch(client: QueueClient, o: BatchOptions, ev: BatchEvents, signal?: AbortSignal): Promise<{ total: number; skipped: number; failed: number }> {
  const items = batchItems(o);
  const todo: BatchItem[] = [];
  for (const it of items) if (!(await complete(it.file))) todo.push(it);
  ev.onSkipped?.(items.length - todo.length);
  let failed = 0;
  let pending = todo.length;
  await new Promise<void>((resolve, reject) => {
    if (pending === 0) return resolve();
    const settled = new Set<string>();
    const settleOnce = (it: BatchItem, fn: () => void) => {
      if (settled.has(it.jobId)) return; // one outcome per image, whatever the event order
      settled.add(it.jobId);
      fn();
    };
    const settle = () => {
      pending--;
      if (pending === 0) resolve();
    };
    signal?.addEventListener('abort', () => reject(signal.reason as Error), { once: true });
    const submitAll = async () => {
      for (const it of todo) {
        if (signal?.aborted) return;
        const spec: WireSpec = { kind: 'dream', prompts: [it.prompt], samples: 1, seed: o.seed + it.sample, steps: o.steps, condScale: o.condScale, truncate: o.truncate };
        await client.submit(spec, {
          onCompleted: (r: QueueJobResult) =>
            settleOnce(it, () => {
              const im = r.images[0];
              if (!im) {
                failed++;
                ev.onFailed(it, 'the job finished without an image');
                return settle();
              }
              ev.onImage(it, Buffer.from(im.png, 'base64')).then(settle, reject);
            }),
          onFailed: (reason) =>
            settleOnce(it, () => {
              failed++;
              ev.onFailed(it, reason);
              settle();
            }),
        }, it.jobId);
      }
    };
    submitAll().catch(reject);
  });
  return { total: items.length, skipped: items.length - todo.length, failed };
}
