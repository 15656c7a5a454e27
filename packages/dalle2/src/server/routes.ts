// The HTTP API (the page uses exactly this): jobs, their event streams, the model, result files.
// Routes only talk to the JobRunner interface, never to a particular runner.
import { randomInt } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { QueueFullError, RunnerClosedError, type JobEvent, type JobRunner } from './jobTypes.js';
import type { ModelInfo } from './modelInfo.js';
import { RequestError, parseJobRequest } from './requests.js';
import { imageIndexOf, isJobId, type JobStore } from './store.js';

export interface RouteDeps {
  runner: JobRunner;
  store: JobStore;
  model: ModelInfo;
}

type IdParams = { id: string };

function send(reply: FastifyReply, status: number, body: unknown): FastifyReply {
  return reply.code(status).type('application/json; charset=utf-8').send(body);
}

function jobId(req: FastifyRequest<{ Params: IdParams }>): string {
  const id = req.params.id;
  if (!isJobId(id)) throw new RequestError(400, `"${id.slice(0, 60)}" is not a job id`, 'id');
  return id;
}

export function registerApi(app: FastifyInstance, deps: RouteDeps): void {
  const { runner, store, model } = deps;

  app.get('/api/model', async () => model);

  app.get<{ Querystring: { limit?: string } }>('/api/jobs', async (req) => {
    const limit = Math.min(500, Math.max(1, Number.parseInt(req.query.limit ?? '100', 10) || 100));
    return { jobs: await runner.list(limit) };
  });

  app.post('/api/jobs', async (req, reply) => {
    const spec = await parseJobRequest(req.body, model, () => randomInt(0, 2 ** 31));
    try {
      return send(reply, 202, await runner.submit(spec));
    } catch (e) {
      if (e instanceof QueueFullError) return send(reply.header('retry-after', '30'), 429, { error: e.message });
      if (e instanceof RunnerClosedError) return send(reply, 503, { error: e.message });
      throw e;
    }
  });

  app.get<{ Params: IdParams }>('/api/jobs/:id', async (req, reply) => {
    const job = await runner.get(jobId(req));
    return job ? job : send(reply, 404, { error: `no job ${req.params.id}` });
  });

  app.delete<{ Params: IdParams }>('/api/jobs/:id', async (req, reply) => {
    const job = await runner.cancel(jobId(req));
    return job ? job : send(reply, 404, { error: `no job ${req.params.id}` });
  });

  app.get<{ Params: IdParams }>('/api/jobs/:id/events', async (req, reply) => {
    const id = jobId(req);
    // subscribe before reading the state, so no event falls between the two
    const early: JobEvent[] = [];
    let sink: (e: JobEvent) => void = (e) => early.push(e);
    const unsubscribe = runner.subscribe(id, (e) => sink(e));
    const job = await runner.get(id);
    if (!job) {
      unsubscribe();
      return send(reply, 404, { error: `no job ${id}` });
    }
    const stream = openEventStream(req, reply, unsubscribe);
    stream.write({ type: 'state', job });
    if (FINAL.has(job.state)) return stream.stop();
    for (const e of early) stream.write(e);
    sink = stream.write;
  });

  app.get<{ Params: { id: string; name: string }; Querystring: { download?: string } }>('/files/:id/:name', async (req, reply) => {
    const index = imageIndexOf(req.params.name);
    if (!isJobId(req.params.id) || index === undefined) return send(reply, 404, { error: 'no such file' });
    const png = await store.readImage(req.params.id, index);
    if (!png) return send(reply, 404, { error: 'no such file' });
    if (req.query.download !== undefined) reply.header('content-disposition', `attachment; filename="dalle2-${req.params.id.slice(0, 8)}-${index}.png"`);
    return reply.type('image/png').header('cache-control', 'private, max-age=3600').send(png);
  });
}

const FINAL = new Set(['done', 'failed', 'cancelled']);

/** Server-sent events of one job: its state first, then every event until it ends or the client leaves. */
function openEventStream(req: FastifyRequest, reply: FastifyReply, unsubscribe: () => void): { write: (e: JobEvent) => void; stop: () => void } {
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
  // a comment every 15 s keeps proxies from closing an idle stream during long stages
  const beat = setInterval(() => res.write(': keep-alive\n\n'), 15_000);
  const stop = () => {
    clearInterval(beat);
    unsubscribe();
    if (!res.writableEnded) res.end();
  };
  const write = (e: JobEvent) => {
    if (res.writableEnded) return;
    res.write(`event: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`);
    if (e.type === 'state' && FINAL.has(e.job.state)) stop();
  };
  req.raw.on('close', stop);
  return { write, stop };
}
