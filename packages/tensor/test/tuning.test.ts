import { mkdtempSync, readFileSync, writeFileSync, existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Runtime } from '../src/runtime.js';
import { Tensor } from '../src/tensor.js';
import { conv2d, type Conv2dChoice } from '../src/ops/conv2d.js';
import { matmul } from '../src/ops/matmul.js';
import { conv2dRef } from '../src/cpu/conv2d.js';
import { matmulRef } from '../src/cpu/matmul.js';
import { adapterKey, tune, TuningTable } from '../src/tuning.js';
import { randn, expectClose } from './helpers.js';

const X = [1, 8, 9, 11];
const W = [12, 8, 3, 3];
const OPTS = { padding: 1 };

/** One conv on fresh data, checked against the CPU reference; returns the kernels the profiler saw. */
async function convOnce(rt: Runtime): Promise<string[]> {
  const xd = randn(X.reduce((a, b) => a * b), 1);
  const wd = randn(W.reduce((a, b) => a * b), 2, 0.5);
  const y = conv2d(Tensor.from(rt, xd, X), Tensor.from(rt, wd, W), undefined, OPTS);
  expectClose(await y.read(), conv2dRef(xd, X, wd, W, undefined, OPTS), { atol: 1e-5 * Math.sqrt(72), rtol: 1e-5 }, 'tuned conv2d');
  await rt.sync(); // collects the profiler's timestamps
  return rt.timings().map((t) => t.kernel.split('{')[0]);
}

describe('per-adapter tuning cache', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dalle2-tuning-'));

  it('records misses, measures every candidate, writes one file per adapter', async () => {
    const rt = await Runtime.create({ tuningDir: dir });
    try {
      await convOnce(rt);
      const a = Tensor.from(rt, randn(3 * 40, 3), [3, 40]);
      const b = Tensor.from(rt, randn(40 * 24, 4), [24, 40]);
      matmul(a, b, { transB: true }).dispose();
      const misses = rt.tuning.misses();
      expect(misses.map((m) => m.op).sort()).toEqual(['conv2d', 'matmul']);
      const results = await tune(rt, misses, { reps: 1 });
      expect(results).toHaveLength(2);
      for (const r of results) {
        expect(r.ms).toHaveLength(r.candidates.length);
        expect(r.candidates.length).toBeGreaterThan(1);
        expect(r.ms.every((v) => v > 0)).toBe(true);
        expect(r.candidates.map((c) => JSON.stringify(c))).toContain(JSON.stringify(r.choice));
      }
      expect(rt.tuning.misses()).toEqual([]);
      const files = readdirSync(dir).filter((f) => f.endsWith('.json'));
      expect(files).toHaveLength(1);
      const saved = JSON.parse(readFileSync(join(dir, files[0]), 'utf8')) as { adapter: string; entries: Record<string, unknown> };
      expect(saved.adapter).toBe(adapterKey(rt.info));
      expect(Object.keys(saved.entries)).toHaveLength(2);
      // The matmul result is still right with whatever variant won.
      const ad = await a.read();
      const bd = await b.read();
      const c = matmul(a, b, { transB: true });
      expectClose(await c.read(), matmulRef(ad, [3, 40], bd, [24, 40], { transB: true }), { atol: 2e-6 * Math.sqrt(40), rtol: 1e-5 }, 'tuned matmul');
    } finally {
      await rt.destroy();
    }
  });

  it('a new runtime reuses the stored choice (and the op really dispatches it)', async () => {
    const file = join(dir, readdirSync(dir).filter((f) => f.endsWith('.json'))[0]);
    const saved = JSON.parse(readFileSync(file, 'utf8')) as { entries: Record<string, { choice: Conv2dChoice }> };
    const id = Object.keys(saved.entries).find((k) => k.startsWith('conv2d|'))!;
    for (const forced of [{ variant: 'tiled', tile: { wgm: 8, wgn: 8, tm: 4, tn: 4, bk: 16 } }, { variant: 'subgroup', tile: { ra: 1, g: 2 } }] as Conv2dChoice[]) {
      saved.entries[id].choice = forced;
      writeFileSync(file, JSON.stringify(saved));
      const rt = await Runtime.create({ tuningDir: dir, profile: true });
      try {
        if (forced.variant === 'subgroup' && !rt.device.features.has('subgroups')) continue;
        const kernels = await convOnce(rt);
        expect(rt.tuning.hits).toBe(1);
        expect(rt.tuning.misses()).toEqual([]);
        expect(kernels).toContain(forced.variant === 'tiled' ? 'conv2d' : 'conv2d_sg');
      } finally {
        await rt.destroy();
      }
    }
  });

  it('ignores files of another adapter, another format, bad JSON or invalid choices', async () => {
    const file = join(dir, readdirSync(dir).filter((f) => f.endsWith('.json'))[0]);
    const good = readFileSync(file, 'utf8');
    const parsed = JSON.parse(good) as { adapter: string; format: number; entries: Record<string, { choice: unknown }> };
    const variants = [
      JSON.stringify({ ...parsed, adapter: `${parsed.adapter} (another driver)` }),
      JSON.stringify({ ...parsed, format: parsed.format + 1 }),
      '{ not json',
      JSON.stringify({ ...parsed, entries: Object.fromEntries(Object.entries(parsed.entries).map(([k, e]) => [k, { ...e, choice: { variant: 'subgroup', tile: { ra: -1 } } }])) }),
    ];
    for (const text of variants) {
      writeFileSync(file, text);
      const rt = await Runtime.create({ tuningDir: dir });
      try {
        await convOnce(rt);
        expect(rt.tuning.hits).toBe(0);
        expect(rt.tuning.misses().map((m) => m.op)).toEqual(['conv2d']);
      } finally {
        await rt.destroy();
      }
    }
    writeFileSync(file, good);
  });

  it('keys adapters by driver and device', async () => {
    const rt = await Runtime.create({ tuningDir: false });
    try {
      const other = { ...rt.info, description: `${rt.info.description} 2` };
      expect(adapterKey(other)).not.toBe(adapterKey(rt.info));
      const t = new TuningTable(other, dir);
      expect(t.file).not.toBe(new TuningTable(rt.info, dir).file);
      expect(t.size).toBe(0);
      expect(rt.tuning.file).toBeUndefined();
      expect(existsSync(dir)).toBe(true);
    } finally {
      await rt.destroy();
    }
  });
});
