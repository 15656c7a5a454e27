// The CLI's queue side: `dalle2 worker --queue URL` runs jobs on this machine's GPU; `dalle2 dream
// --queue URL` spreads a prompt list over all workers and writes the images here, resumably.
import { configDigest } from '../parameters.js';
import { perUnet } from '../plan.js';
import { runBatch } from '../queue/batch.js';
import { QueueClient } from '../queue/client.js';
import { parseRedisUrl } from '../queue/redisUrl.js';
import { QueueWorker } from '../queue/worker.js';
import { UsageError } from './args.js';
import { checkAgainstConfig, checkOutputDir, planRequest, writeFileAtomic } from './checks.js';
import { bar } from './output.js';
import type { Ctx } from './sampling.js';

function queueUrl(ctx: Ctx): ReturnType<typeof parseRedisUrl> {
  if (!ctx.opts.queue) throw new UsageError(`${ctx.opts.command} needs --queue redis://host:port[/db]`);
  try {
    return parseRedisUrl(ctx.opts.queue);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

/** A per-unet list from one value or a list (undefined stays undefined: the model's defaults). */
function perUnetList(v: number | readonly (number | undefined)[] | undefined, unets: number): number[] | undefined {
  if (v === undefined) return undefined;
  const list = perUnet('decoder', v, unets);
  return list.some((x) => x === undefined) ? undefined : (list as number[]);
}

/** Resolves when the signal aborts (SIGINT/SIGTERM). */
function untilAborted(signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (!signal) return;
    if (signal.aborted) resolve();
    signal.addEventListener('abort', () => resolve(), { once: true });
  });
}

export async function worker(ctx: Ctx): Promise<number> {
  const { connection, display } = queueUrl(ctx);
  const manager = await ctx.loadManager();
  try {
    const w = await QueueWorker.start({
      connection,
      manager,
      modelConfig: ctx.modelConfig,
      previewEvery: ctx.opts.previewEvery,
      concurrency: ctx.opts.concurrency ?? 1,
      lockDurationMs: Number(process.env.DALLE2_QUEUE_LOCK_MS) || undefined,
      log: ctx.opts.quiet ? undefined : (line) => ctx.err(line),
    });
    if (!ctx.opts.quiet) ctx.err(`worker ${w.id} on ${display}, model config digest ${w.digest}; adapter: ${manager.rt.describe()}; waiting for jobs`);
    await untilAborted(ctx.io.signal);
    await w.close(); // running jobs go back to the queue for another worker
    return 130;
  } finally {
    await manager.dispose();
  }
}

/** `dream --queue`: every image a job; written here as results arrive; re-running resumes. */
export async function dreamOverQueue(ctx: Ctx, prompts: string[], dir: string): Promise<number> {
  const o = ctx.opts;
  const { connection, display } = queueUrl(ctx);
  await checkOutputDir(dir);
  const config = await checkAgainstConfig(ctx.modelConfig, o, prompts);
  const digest = configDigest(config);
  const unets = config.decoder?.final_unet_number ?? 0;
  const { client, workers } = await QueueClient.open({ connection, digest, attempts: o.attempts, resultTtlSeconds: o.resultTtl });
  try {
    if (workers.length === 0 && !o.quiet) ctx.err(`note: no worker is connected to ${display} yet; jobs wait until one starts`);
    const req = planRequest(o);
    let written = 0;
    let total = prompts.length * o.samples;
    let skipped = 0;
    const draw = () => ctx.progress?.show(`queue ${bar(written + skipped, total)} ${written + skipped}/${total} images${skipped ? ` (${skipped} already there)` : ''}`);
    const t0 = Date.now();
    try {
      const r = await runBatch(
        client,
        {
          prompts, samples: o.samples, seed: o.seed, truncate: o.truncate, outputDir: dir, digest,
          steps: { prior: req.priorSteps, decoder: perUnetList(req.decoderSteps, unets) },
          condScale: { prior: req.priorCondScale, decoder: perUnetList(req.decoderCondScale, unets) },
        },
        {
          onSkipped: (n) => {
            skipped = n;
            draw();
          },
          onImage: async (item, png) => {
            await writeFileAtomic(item.file, png);
            written++;
            ctx.out(item.file);
            draw();
          },
          onFailed: (item, reason) => ctx.err(`failed: ${item.file}: ${reason}`),
        },
        ctx.io.signal,
      );
      total = r.total;
      if (!o.quiet) ctx.err(`${written} image(s) written, ${r.skipped} already there, ${r.failed} failed, in ${((Date.now() - t0) / 1000).toFixed(1)} s in ${dir}`);
      return r.failed > 0 ? 1 : 0;
    } catch (e) {
      if (ctx.io.signal?.aborted) {
        ctx.err(`interrupted: ${written + skipped} of ${total} images written (run the same command again to resume)`);
        return 130;
      }
      throw e;
    }
  } finally {
    await client.close();
  }
}
