// The web UI server: Fastify with the JSON API, the page (plain HTML + one script, no build step) and
// the output dir's images. startServer() takes loaded models; `dalle2 serve` loads them once.
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import type { DalleModelManager } from '../manager/index.js';
import { inProcessExecutor, type JobExecutor } from './executor.js';
import { InProcessRunner } from './inProcessRunner.js';
import type { JobRunner } from './jobTypes.js';
import { LIMITS, modelInfo, type ModelInfo } from './modelInfo.js';
import { RequestError } from './requests.js';
import { registerApi } from './routes.js';
import { JobStore } from './store.js';

/** The page's files (packages/dalle2/web, next to src/ and dist/). */
const WEB_DIR = fileURLToPath(new URL('../../web/', import.meta.url));
const PAGE_FILES: Record<string, string> = {
  '/': 'index.html',
  '/app.js': 'app.js',
  '/jobs.js': 'jobs.js',
  '/paint.js': 'paint.js',
  '/style.css': 'style.css',
};
const TYPES: Record<string, string> = { html: 'text/html', js: 'text/javascript', css: 'text/css' };

export interface ServerOptions {
  /** The loaded models (in-process jobs); optional when `executor` and `model` are given (a queue). */
  manager?: DalleModelManager;
  /** Where the model config was read from (shown by /api/model, recorded in the PNGs). */
  modelConfig: string;
  /** Results and history (created when missing). */
  outputDir: string;
  host?: string;
  /** 0: any free port. */
  port?: number;
  /** Most jobs waiting behind the running one (default 8). */
  maxQueued?: number;
  /** Decoder preview every N steps (default about 8 per unet; 0: none). */
  previewEvery?: number;
  /** Another job runner; default the in-process runner over `executor`. */
  runner?: JobRunner;
  /** What runs jobs (default: in-process on `manager`; `queueExecutor` sends them to BullMQ workers). */
  executor?: JobExecutor;
  /** Jobs handed to the executor at once (default 1; a queue executor takes many). */
  maxRunning?: number;
  /** What GET /api/model says (default: read off `manager`). */
  model?: ModelInfo;
  log?: (line: string) => void;
}

export interface RunningServer {
  url: string;
  app: FastifyInstance;
  runner: JobRunner;
  model: ModelInfo;
  /** Stops taking jobs, cancels the running one, closes connections. The manager is the caller's. */
  close(): Promise<void>;
}

function errorReply(e: FastifyError | RequestError | Error): { status: number; body: { error: string; field?: string } } {
  if (e instanceof RequestError) return { status: e.status, body: { error: e.message, field: e.field } };
  const status = (e as FastifyError).statusCode;
  if (status === 413) return { status, body: { error: `request body too large (uploads at most ${LIMITS.maxUploadBytes} bytes each)` } };
  if (status !== undefined && status >= 400 && status < 500) return { status, body: { error: e.message } };
  return { status: 500, body: { error: `internal error: ${e.message}` } };
}

export async function startServer(o: ServerOptions): Promise<RunningServer> {
  const maxQueued = o.maxQueued ?? 8;
  const store = new JobStore(o.outputDir);
  if (!o.manager && !(o.executor && o.model)) throw new Error('startServer: give the loaded models, or an executor and the model info');
  const model = o.model ? { ...o.model, queue: { maxQueued } } : await modelInfo(o.manager!, o.modelConfig, maxQueued);
  const executor = o.executor ?? inProcessExecutor(o.manager!, { modelConfig: o.modelConfig, previewEvery: o.previewEvery });
  const runner =
    o.runner ??
    (await InProcessRunner.open(store, executor, { maxQueued, maxRunning: o.maxRunning, imageUrl: (id, index) => `/files/${id}/${index}.png`, log: o.log }));
  // two uploads in base64 plus the rest of the body
  const app = Fastify({ bodyLimit: Math.ceil((LIMITS.maxUploadBytes * 8) / 3) + 65536, logger: false });
  app.setErrorHandler((e0, _req, reply) => {
    const e = e0 instanceof Error ? e0 : new Error(String(e0));
    const { status, body } = errorReply(e);
    if (status >= 500) o.log?.(`error: ${e.stack ?? e.message}`);
    return reply.code(status).send(body);
  });
  app.setNotFoundHandler((req, reply) => reply.code(404).send({ error: `no route ${req.method} ${req.url.slice(0, 100)}` }));
  for (const [route, file] of Object.entries(PAGE_FILES)) {
    app.get(route, async (_req, reply) => reply.type(`${TYPES[file.split('.').pop()!]}; charset=utf-8`).header('cache-control', 'no-cache').send(await readFile(WEB_DIR + file)));
  }
  registerApi(app, { runner, store, model });
  await app.listen({ host: o.host ?? '127.0.0.1', port: o.port ?? 0 });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : o.port;
  const host = (o.host ?? '127.0.0.1').includes(':') ? `[${o.host}]` : (o.host ?? '127.0.0.1');
  let closing: Promise<void> | undefined;
  return {
    url: `http://${host}:${port}`,
    app,
    runner,
    model,
    close: () =>
      (closing ??= (async () => {
        await runner.close();
        // event streams are hijacked connections: end them so close() does not wait on them
        app.server.closeAllConnections();
        await app.close();
      })()),
  };
}
