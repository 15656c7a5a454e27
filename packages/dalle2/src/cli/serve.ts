// `dalle2 serve`: loads the model once and serves the web UI and the HTTP API until SIGINT/SIGTERM,
// then stops taking jobs, cancels the running one (it stops at its next step) and frees the GPU.
import { isIP } from 'node:net';
import { resolve } from 'node:path';
import { loadModelLoadConfig } from '../config/index.js';
import { configDigest } from '../parameters.js';
import { QueueClient } from '../queue/client.js';
import { queueExecutor } from '../queue/executor.js';
import { parseRedisUrl } from '../queue/redisUrl.js';
import { startServer, type RunningServer } from '../server/index.js';
import { UsageError } from './args.js';
import type { Ctx } from './sampling.js';

const DEFAULT_PORT = 7860;

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));
}

export async function serve(ctx: Ctx): Promise<number> {
  const o = ctx.opts;
  const host = o.host ?? '127.0.0.1';
  if (host.trim() === '') throw new UsageError('--host: empty address');
  const port = o.port ?? DEFAULT_PORT;
  if (port > 65535) throw new UsageError(`--port: ${port} is not a port (0-65535)`);
  const outputDir = resolve(ctx.io.cwd, o.outputDir ?? './output/web/');
  if (o.queue) return serveQueue(ctx, { host, port, outputDir });
  const manager = await ctx.loadManager();
  try {
    if (!o.quiet) ctx.err(`adapter: ${manager.rt.describe()}`);
    const server = await startServer({
      manager, modelConfig: ctx.modelConfig, outputDir, host, port, maxQueued: o.maxQueue, previewEvery: o.previewEvery, log: ctx.err,
    });
    return await serveUntilStopped(ctx, server, outputDir);
  } catch (e) {
    throw listenError(e, host, port);
  } finally {
    await manager.dispose();
  }
}

function listenError(e: unknown, host: string, port: number): unknown {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'EADDRINUSE') return new UsageError(`--port ${port}: address already in use`);
  if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND') return new UsageError(`--host ${host}: not an address of this machine`);
  return e;
}

async function serveUntilStopped(ctx: Ctx, server: RunningServer, outputDir: string): Promise<number> {
  if (!isLoopback(ctx.opts.host ?? '127.0.0.1')) ctx.err(`warning: listening on ${ctx.opts.host}: anyone who can reach this machine can run jobs and see results (no authentication)`);
  ctx.out(`dalle2 web UI: ${server.url}/ (results in ${outputDir})`);
  await new Promise<void>((done) => {
    if (!ctx.io.signal || ctx.io.signal.aborted) return done();
    ctx.io.signal.addEventListener('abort', () => done(), { once: true });
  });
  ctx.err('stopping: no new jobs; running jobs stop at their next step');
  await server.close();
  return 0;
}

/**
 * `serve --queue`: no model here; jobs go to BullMQ workers (`dalle2 worker`), which report the model
 * they run (GET /api/model) and must run this config (digest checked both ways).
 */
async function serveQueue(ctx: Ctx, at: { host: string; port: number; outputDir: string }): Promise<number> {
  let url;
  try {
    url = parseRedisUrl(ctx.opts.queue!);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const digest = configDigest(await loadModelLoadConfig(ctx.modelConfig));
  const { client } = await QueueClient.open({ connection: url.connection, digest, attempts: ctx.opts.attempts, resultTtlSeconds: ctx.opts.resultTtl });
  try {
    let worker = (await client.workers()).find((w) => w.model);
    if (!worker) ctx.err(`waiting for a worker on ${url.display} (start one: dalle2 worker --queue ...) to report the model`);
    while (!worker && !ctx.io.signal?.aborted) {
      await new Promise((r) => setTimeout(r, 500));
      worker = (await client.workers()).find((w) => w.model);
    }
    if (!worker) return 130;
    if (worker.digest !== digest) throw new Error(`worker ${worker.id} runs model config digest ${worker.digest}, this server's config has ${digest}`);
    const maxQueued = ctx.opts.maxQueue ?? 8;
    let server: RunningServer;
    try {
      server = await startServer({
        modelConfig: ctx.modelConfig, outputDir: at.outputDir, host: at.host, port: at.port, maxQueued, log: ctx.err,
        executor: queueExecutor(client), model: worker.model, maxRunning: maxQueued + Math.max(1, (await client.workers()).length),
      });
    } catch (e) {
      throw listenError(e, at.host, at.port);
    }
    if (!ctx.opts.quiet) ctx.err(`jobs go to the workers on ${url.display} (model config digest ${digest})`);
    return await serveUntilStopped(ctx, server, at.outputDir);
  } finally {
    await client.close();
  }
}
