// `dalle2 serve`: loads the model once and serves the web UI and the HTTP API until SIGINT/SIGTERM,
// then stops taking jobs, cancels the running one (it stops at its next step) and frees the GPU.
import { isIP } from 'node:net';
import { resolve } from 'node:path';
import { startServer } from '../server/index.js';
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
  const manager = await ctx.loadManager();
  try {
    if (!o.quiet) ctx.err(`adapter: ${manager.rt.describe()}`);
    const server = await startServer({
      manager, modelConfig: ctx.modelConfig, outputDir, host, port, maxQueued: o.maxQueue, previewEvery: o.previewEvery, log: ctx.err,
    });
    if (!isLoopback(host)) ctx.err(`warning: listening on ${host}: anyone who can reach this machine can run jobs and see results (no authentication)`);
    ctx.out(`dalle2 web UI: ${server.url}/ (results in ${outputDir})`);
    await new Promise<void>((done) => {
      if (!ctx.io.signal || ctx.io.signal.aborted) return done();
      ctx.io.signal.addEventListener('abort', () => done(), { once: true });
    });
    ctx.err('stopping: no new jobs; the running job stops at its next step');
    await server.close();
    return 0;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') throw new UsageError(`--port ${port}: address already in use`);
    if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND') throw new UsageError(`--host ${host}: not an address of this machine`);
    throw e;
  } finally {
    await manager.dispose();
  }
}
