// Scale-out on a real Redis (Debian redis-server, started here on a free loopback port): two worker
// processes on the bundled model. Jobs complete once with the images an in-process run makes; a
// worker killed with SIGKILL mid-job leaves the job to the other; cancel reaches the worker running a
// job; the batch CLI resumes after an interrupt and writes every image exactly once; models must match.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { createServer } from 'node:net';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { testRuntime } from '@dalle2/tensor/testing';
import { DEFAULT_MODEL_CONFIG, generate } from '../src/generate.js';
import { decodeImage } from '../src/image/index.js';
import { DalleModelManager } from '../src/manager/index.js';
import { configDigest } from '../src/parameters.js';
import { QueueClient } from '../src/queue/client.js';
import type { QueueJobResult, QueueProgress } from '../src/queue/protocol.js';
import { parseRedisUrl } from '../src/queue/redisUrl.js';
import { ModelMismatchError } from '../src/queue/registry.js';
import type { JobEvent, JobSnapshot, ModelInfo } from '../src/server/index.js';
import { api, readEvents, submit, waitFinal } from './helpers/api.js';
import { removeTempDirs, tempDir } from './helpers/tmp.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const MAIN = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));
/** tsx's loader by path: the processes run in temporary directories. */
const TSX = pathToFileURL(join(ROOT, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href;
const SLOW = 300_000;
const REDIS = '/usr/bin/redis-server';

let redis: ChildProcess;
let url: string;
let manager: DalleModelManager;
let digest: string;
let dir: string;
const workers: { proc: ChildProcess; log: string[] }[] = [];

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

/** The CLI child itself (no launcher in between), so SIGKILL really kills the worker. */
function cli(args: string[], cwd = ROOT): ChildProcess {
  return spawn(process.execPath, ['--import', TSX, '--conditions=source', MAIN, ...args], {
    cwd,
    env: { ...process.env, DALLE2_CLI_CHILD: '1', DALLE2_QUEUE_LOCK_MS: '3000' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

function startWorker(): { proc: ChildProcess; log: string[] } {
  const w = { proc: cli(['worker', '--queue', url]), log: [] as string[] };
  w.proc.stderr!.on('data', (d: Buffer) => w.log.push(...d.toString().split('\n').filter(Boolean)));
  workers.push(w);
  return w;
}

async function until(what: string, ok: () => boolean | Promise<boolean>, ms = 60_000): Promise<void> {
  const t0 = Date.now();
  while (!(await ok())) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function runCli(args: string[], onStart?: (p: ChildProcess) => void): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = cli(args, dir);
    let stdout = '';
    let stderr = '';
    p.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('close', (code) => resolve({ code, stdout, stderr }));
    onStart?.(p);
  });
}

async function openClient(d = digest) {
  return QueueClient.open({ connection: parseRedisUrl(url).connection, digest: d });
}

beforeAll(async () => {
  if (!existsSync(REDIS)) throw new Error(`${REDIS} is missing: scripts/setup.sh installs Debian's redis-server`);
  const port = await freePort();
  url = `redis://127.0.0.1:${port}/0`;
  redis = spawn(REDIS, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  manager = await DalleModelManager.load(DEFAULT_MODEL_CONFIG, { rt: await testRuntime() });
  digest = configDigest(manager.config);
  dir = await tempDir('dalle2-queue-');
  await until('redis', async () => {
    try {
      const { client } = await openClient();
      await client.close();
      return true;
    } catch {
      return false;
    }
  });
  startWorker();
  startWorker();
  const { client } = await openClient();
  await until('two workers', async () => (await client.workers()).length === 2);
  await client.close();
}, SLOW);

afterAll(async () => {
  for (const w of workers) w.proc.kill('SIGKILL');
  redis?.kill('SIGKILL');
  await manager?.dispose();
  await removeTempDirs();
});

describe('BullMQ scale-out', () => {
  it('the batch CLI spreads images over both workers; each job runs once; images equal an in-process run', { timeout: SLOW }, async () => {
    const r = await runCli(['dream', 'a red circle on a white background', 'a blue square on a yellow background', '--samples', '2', '--steps', '2', '--seed', '3', '--queue', url, '--output-path', 'batch', '-q']);
    expect(r.code, r.stderr).toBe(0);
    const names = (await readdir(join(dir, 'batch'))).sort();
    expect(names).toEqual(['a blue square on a yellow background_0.png', 'a blue square on a yellow background_1.png', 'a red circle on a white background_0.png', 'a red circle on a white background_1.png']);
    // in-process: one batch of 4 (other kernels may run for the bigger products: float rounding, <= 1 LSB)
    const local = await generate(['a red circle on a white background', 'a blue square on a yellow background'], { manager, samples: 2, steps: 2, seed: 3 });
    for (const im of local) {
      const file = await decodeImage(join(dir, 'batch', `${im.prompt}_${im.sampleIndex}.png`));
      let worst = 0;
      file.data.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - im.rgb[i]))));
      expect(worst).toBeLessThanOrEqual(1);
    }
    // and exactly the image a one-image in-process run with the image's own seed makes
    const [alone] = await generate('a blue square on a yellow background', { manager, steps: 2, seed: 4 });
    const one = await decodeImage(join(dir, 'batch', 'a blue square on a yellow background_1.png'));
    expect(Buffer.from(one.data).equals(Buffer.from(alone.rgb))).toBe(true);
    const done = workers.flatMap((w) => w.log.filter((l) => / done$/.test(l)));
    expect(done).toHaveLength(4);
    expect(new Set(done).size).toBe(4);
  });

  it('serve --queue: the web API runs jobs on the workers (model info, events, images, queue positions, cancel)', { timeout: SLOW }, async () => {
    const server = cli(['serve', '--queue', url, '--port', '0', '--output-dir', join(dir, 'web'), '-q']);
    try {
      const base = await new Promise<string>((resolve, reject) => {
        let out = '';
        server.stdout!.on('data', (d: Buffer) => {
          out += d.toString();
          const m = /dalle2 web UI: (http:\/\/[^/\s]+)\//.exec(out);
          if (m) resolve(m[1]);
        });
        server.on('close', (code) => reject(new Error(`serve exited ${code}`)));
      });
      const model = await api<ModelInfo>(base, '/api/model');
      expect(model.body.decoder.unets.map((u) => [u.number, u.imageSize, u.defaultSteps])).toEqual([[1, 16, 32], [2, 32, 16]]);
      expect(model.body.digest).toBe(digest);
      const FAST = { prior: 2, decoder: [2, 2] };
      const job = await submit(base, { kind: 'dream', prompts: ['a red circle on a white background'], samples: 2, seed: 5, steps: FAST });
      const events = await readEvents(base, job.id);
      const final = events.at(-1) as Extract<JobEvent, { type: 'state' }>;
      expect(final.job.state).toBe('done');
      expect(events.some((e) => e.type === 'progress')).toBe(true);
      expect(final.job.images.map((i) => [i.index, i.seed])).toEqual([[0, 5], [1, 6]]);
      const local = await generate('a red circle on a white background', { manager, samples: 2, seed: 5, steps: { prior: 2, decoder: [2, 2] } });
      for (const im of final.job.images) {
        const r = await fetch(base + im.url);
        const file = await decodeImage(Buffer.from(await r.arrayBuffer()));
        expect(Buffer.from(file.data).equals(Buffer.from(local[im.index].rgb))).toBe(true);
      }
      // both workers busy with long jobs: the third waits with its place in the queue; cancel reaches all
      const LONG = { prior: 2, decoder: [400, 200] };
      const jobs = [];
      for (let k = 0; k < 3; k++) jobs.push(await submit(base, { kind: 'dream', prompts: ['a blue square'], samples: 1, seed: k, steps: LONG }));
      await until('two jobs running and one waiting', async () => {
        const states = await Promise.all(jobs.map(async (j) => (await api<JobSnapshot>(base, `/api/jobs/${j.id}`)).body));
        return states.filter((j) => j.state === 'running' && j.progress).length === 2 && states.some((j) => j.state === 'queued' && j.position === 1);
      });
      for (const j of jobs) expect((await api(base, `/api/jobs/${j.id}`, { method: 'DELETE' })).status).toBe(200);
      for (const j of jobs) expect((await waitFinal(base, j.id, 20_000)).state).toBe('cancelled');
    } finally {
      server.kill('SIGTERM');
      await new Promise((r) => server.on('close', r));
    }
  });

  it('a worker killed mid-job (SIGKILL): the job completes on the other worker', { timeout: SLOW }, async () => {
    const { client } = await openClient();
    try {
      let started = false;
      const result = new Promise<QueueJobResult>((resolve, reject) => {
        void client.submit({ kind: 'dream', prompts: ['a green triangle on a black background'], samples: 1, seed: 9, steps: { prior: 2, decoder: [40, 20] }, condScale: {} }, {
          onProgress: (p: QueueProgress) => {
            if (p.type === 'progress') started = true;
          },
          onCompleted: resolve,
          onFailed: (reason) => reject(new Error(reason)),
        });
      });
      await until('the job to start', () => started);
      const victim = workers.find((w) => w.log.some((l) => /: dream \(attempt 1\)$/.test(l)) && w.log.filter((l) => /: dream \(attempt/.test(l)).length > w.log.filter((l) => / done$/.test(l)).length)!;
      expect(victim).toBeDefined();
      victim.proc.kill('SIGKILL');
      const r = await result;
      expect(r.images).toHaveLength(1);
      const survivor = workers.find((w) => w !== victim)!;
      expect(survivor.log.some((l) => /: dream \(attempt \d\)$/.test(l))).toBe(true);
      expect(r.worker).not.toBe(`${hostname()}:${victim.proc.pid}`);
      // put a second worker back for the tests that follow
      workers.splice(workers.indexOf(victim), 1);
      startWorker();
      await until('two workers', async () => (await client.workers()).filter((w) => w.id.endsWith(`:${victim.proc.pid}`) === false).length >= 2);
    } finally {
      await client.close();
    }
  });

  it('cancel reaches the worker running the job and stops it at the next step', { timeout: SLOW }, async () => {
    const { client } = await openClient();
    try {
      let started = false;
      let steps = 0;
      const failed = new Promise<string>((resolve, reject) => {
        void client
          .submit({ kind: 'dream', prompts: ['a white square on a red background'], samples: 1, seed: 1, steps: { prior: 2, decoder: [200, 100] }, condScale: {} }, {
            onProgress: (p) => {
              if (p.type === 'progress') (started = true), steps++;
            },
            onCompleted: () => reject(new Error('completed despite the cancel')),
            onFailed: resolve,
          })
          .then(async (id) => {
            await until('the job to start', () => started);
            const t0 = Date.now();
            expect(await client.cancel(id)).toBe(true);
            expect(await failed).toBe('cancelled');
            expect(Date.now() - t0).toBeLessThan(10_000);
            await until('the worker to log the cancel', () => workers.some((w) => w.log.some((l) => l === `job ${id} failed: cancelled`)));
            expect(steps).toBeLessThan(300); // stopped well before its 2 + 200 + 100 steps
          });
      });
      await failed;
    } finally {
      await client.close();
    }
  });

  it('the batch CLI interrupted and run again writes every image exactly once', { timeout: SLOW }, async () => {
    const args = ['dream', 'a yellow circle on a blue background', '--samples', '6', '--steps', '2', '--seed', '20', '--queue', url, '--output-path', 'resume'];
    const first = await runCli(args, (p) => {
      const poll = setInterval(() => {
        void readdir(join(dir, 'resume')).then(
          (n) => {
            if (n.some((f) => f.endsWith('.png'))) {
              clearInterval(poll);
              p.kill('SIGINT');
            }
          },
          () => undefined,
        );
      }, 50);
    });
    expect(first.code, first.stderr).toBe(130);
    expect(first.stderr).toMatch(/interrupted: \d of 6 images written \(run the same command again to resume\)/);
    const second = await runCli(args);
    expect(second.code, second.stderr).toBe(0);
    const names = (await readdir(join(dir, 'resume'))).sort();
    expect(names).toEqual([0, 1, 2, 3, 4, 5].map((k) => `a yellow circle on a blue background_${k}.png`));
    const firstPaths = first.stdout.trim().split('\n').filter(Boolean);
    const secondPaths = second.stdout.trim().split('\n').filter(Boolean);
    expect(firstPaths.length).toBeGreaterThanOrEqual(1);
    expect(new Set([...firstPaths, ...secondPaths]).size).toBe(firstPaths.length + secondPaths.length); // none written twice
    expect(second.stderr).toMatch(new RegExp(`already there`));
  });

  it('refuses to mix models: a submitter or a job made for another model config', { timeout: SLOW }, async () => {
    await expect(openClient('0123456789abcdef')).rejects.toThrow(ModelMismatchError);
    await expect(openClient('0123456789abcdef')).rejects.toThrow(/runs model config digest [0-9a-f]{16}, but this side has 0123456789abcdef/);
    const { client } = await openClient();
    try {
      const job = await client.queue.add('dream', { spec: { kind: 'dream', prompts: ['x'], samples: 1, seed: 0, steps: {}, condScale: {} }, configDigest: 'ffffffffffffffff' });
      await until('the job to fail', async () => (await job.getState()) === 'failed');
      const failed = await client.queue.getJob(job.id!);
      expect(failed!.failedReason).toMatch(/model mismatch: the job was made for model config digest ffffffffffffffff, worker .* runs [0-9a-f]{16}/);
    } finally {
      await client.close();
    }
  });
});
