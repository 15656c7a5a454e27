// The server side of `serve --queue`: a JobExecutor that runs each job on whichever worker takes it
// from BullMQ, relaying its progress, previews and images to the runner's hooks, so routes, page and
// history work as with the in-process executor. Abort (cancel, shutdown) cancels the job wherever it is.
import type { JobExecutor } from '../server/executor.js';
import type { QueueClient } from './client.js';
import { toWire, type QueueImage } from './protocol.js';

/** How often a waiting job's place in the queue is refreshed. */
const POSITION_POLL_MS = 1000;

export function queueExecutor(client: QueueClient): JobExecutor {
  return (spec, hooks) =>
    new Promise<void>((resolve, reject) => {
      const delivered = new Set<number>();
      let chain = Promise.resolve(); // images are saved in order, and all before the job ends
      let id: string | undefined;
      let started = false;
      let poll: NodeJS.Timeout | undefined;
      let finished = false;
      const deliver = (im: QueueImage) => {
        chain = chain.then(async () => {
          if (delivered.has(im.index)) return; // a retried job makes the same images again
          delivered.add(im.index);
          await hooks.onImage({ index: im.index, png: Buffer.from(im.png, 'base64'), seed: im.seed, parameters: im.parameters });
        });
      };
      const end = (fn: () => void) => {
        finished = true;
        if (poll) clearInterval(poll);
        chain.then(fn, reject);
      };
      hooks.signal.addEventListener('abort', () => id !== undefined && void client.cancel(id), { once: true });
      const refreshPosition = async () => {
        if (started || id === undefined) return;
        const at = await client.position(id).catch(() => undefined);
        if (at !== undefined && !started) hooks.onQueued?.(at + 1);
      };
      client
        .submit(toWire(spec), {
          onProgress: (p) => {
            if (p.type === 'start') {
              started = true;
              hooks.onStart(p.calls);
            } else if (p.type === 'progress') hooks.onProgress(p.progress);
            else if (p.type === 'preview') hooks.onPreview(p.preview);
            else if (p.type === 'image') deliver(p.image);
            else hooks.note(p.message);
          },
          onCompleted: (r) => {
            r.images.forEach(deliver);
            end(resolve);
          },
          onFailed: (reason) => end(() => reject(hooks.signal.aborted ? (hooks.signal.reason as Error) : new Error(reason))),
        })
        .then((jobId) => {
          id = jobId;
          if (hooks.signal.aborted) void client.cancel(jobId);
          if (finished) return;
          void refreshPosition();
          poll = setInterval(() => void refreshPosition(), POSITION_POLL_MS);
        }, reject);
    });
}
