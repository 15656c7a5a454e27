import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import {
  TorchProcess,
  compareCases,
  compareRow,
  fmtMs,
  formatCompareTable,
  geomean,
  parseTorchHeader,
  parseTorchReply,
  pythonCandidates,
  ratio,
  torchRequestLine,
} from './compare.js';

/** The first candidate interpreter that imports torch (undefined: the spawn test is skipped). */
const torchPython = pythonCandidates().find((p) => spawnSync(p, ['-c', 'import torch'], { stdio: 'ignore', timeout: 60_000 }).status === 0);

describe('compare protocol', () => {
  it('writes one JSON request per line', () => {
    const line = torchRequestLine({ op: 'matmul', M: 2, K: 3, N: 4, dtype: 'f32', quick: true, id: 7 });
    expect(line.endsWith('\n')).toBe(true);
    expect(line.slice(0, -1)).not.toContain('\n');
    expect(JSON.parse(line)).toEqual({ op: 'matmul', M: 2, K: 3, N: 4, dtype: 'f32', quick: true, id: 7 });
  });

  it('parses the header line', () => {
    expect(parseTorchHeader('{"torch": "1.13.1", "device": "cuda:NVIDIA H100", "threads": 16}')).toEqual({
      torch: '1.13.1', device: 'cuda:NVIDIA H100', threads: 16,
    });
    expect(parseTorchHeader('{"error": "cannot import torch: No module named \'torch\'"}')).toEqual({ error: "cannot import torch: No module named 'torch'" });
    expect(parseTorchHeader('Traceback (most recent call last):')).toHaveProperty('error');
    expect(parseTorchHeader('{"torch": "2.0"}')).toHaveProperty('error');
  });

  it('parses replies: timings, errors, garbage', () => {
    expect(parseTorchReply('{"id": 3, "ms": 1.5, "reps": 25, "device": "cpu", "threads": 2}')).toEqual({ id: 3, ms: 1.5, reps: 25, device: 'cpu', threads: 2 });
    expect(parseTorchReply('{"ms": 0.25, "reps": 3, "device": "cpu", "threads": 1}')).toEqual({ ms: 0.25, reps: 3, device: 'cpu', threads: 1 });
    expect(parseTorchReply('{"id": 4, "error": "f16 on CPU not compared"}')).toEqual({ id: 4, error: 'f16 on CPU not compared' });
    expect(parseTorchReply('{"ms": "fast", "reps": 3, "device": "cpu", "threads": 1}')).toHaveProperty('error');
    expect(parseTorchReply('{"ms": 1, "reps": 0, "device": "cpu", "threads": 1}')).toHaveProperty('error');
    expect(parseTorchReply('[1, 2]')).toHaveProperty('error');
    expect(parseTorchReply('UserWarning: something')).toEqual({ error: 'not JSON: UserWarning: something' });
  });
});

describe('compare rows and table', () => {
  const c = { name: 'matmul', shape: '[256,256]x[256,256]', dtype: 'f32', flops: 2 * 256 ** 3 };

  it('computes ours/torch and GFLOP/s', () => {
    expect(ratio(6, 2)).toBe(3);
    expect(ratio(NaN, 2)).toBeNaN();
    expect(ratio(1, 0)).toBeNaN();
    const row = compareRow(c, { ms: 4, reps: 3 }, { ms: 2, reps: 5, device: 'cpu', threads: 1 });
    expect(row.ratio).toBe(2);
    expect(row.ours.gflops).toBeCloseTo(c.flops / 4e6);
    expect(row.torch).toMatchObject({ ms: 2, reps: 5, device: 'cpu', threads: 1 });
    expect(geomean([2, 8, NaN])).toBeCloseTo(4);
    expect(geomean([NaN])).toBeNaN();
  });

  it('keeps errors on either side', () => {
    const row = compareRow(c, { ms: NaN, reps: 0, error: 'no shader-f16' }, { error: 'f16 on CPU not compared' });
    expect(row.ratio).toBeNaN();
    expect(row.ours).toMatchObject({ error: 'no shader-f16', reps: 0 });
    expect(row.torch.error).toBe('f16 on CPU not compared');
  });

  it('formats a markdown table with numbered notes for errors', () => {
    const ok = compareRow(c, { ms: 12.345, reps: 3 }, { ms: 0.5, reps: 25, device: 'cpu', threads: 1 });
    const f16 = compareRow({ ...c, dtype: 'f16' }, { ms: 150.04, reps: 3 }, { error: 'f16 on CPU not compared' });
    const f16b = compareRow({ ...c, shape: '[2,2] | x', dtype: 'f16' }, { ms: 1, reps: 3 }, { error: 'f16 on CPU not compared' });
    const lines = formatCompareTable([ok, f16, f16b]).split('\n');
    expect(lines[0]).toMatch(/^\| case\s+\| shape\s+\| dtype \| ours ms \| torch ms \| ours\/torch \| ours GFLOP\/s \| torch GFLOP\/s \|$/);
    expect(lines[1]).toMatch(/^\|-+\|-+\|-+\|-+:\|-+:\|-+:\|-+:\|-+:\|$/);
    expect(lines[2]).toMatch(/^\| matmul\s+\| \[256,256\]x\[256,256\]\s+\| f32\s+\|\s+12\.35 \|\s+0\.500 \|\s+24\.69 \|\s+2\.72 \|\s+67\.1 \|$/);
    expect(lines[3]).toMatch(/\|\s+150\.0 \|\s+n\/a \[1\] \|\s+- \|/);
    expect(lines[4]).toContain('[2,2] \\| x'); // pipes escaped inside cells
    expect(lines[4]).toContain('n/a [1]'); // same message, same note
    expect(lines.slice(5)).toEqual(['', '[1] torch: f16 on CPU not compared']);
    expect(new Set(lines.slice(0, 5).map((l) => l.length)).size).toBe(1); // fixed widths
  });

  it('formats milliseconds to about three digits', () => {
    expect([fmtMs(0.01234), fmtMs(3.14159), fmtMs(271.828), fmtMs(NaN)]).toEqual(['0.012', '3.14', '271.8', '-']);
  });

  it('lists f32 and f16 rows, --quick and --filter', () => {
    const all = compareCases(true, { quick: false });
    expect(all.length).toBe(28);
    expect(compareCases(false, { quick: false }).every((x) => x.ours.dtype === 'f32')).toBe(true);
    const quick = compareCases(true, { quick: true });
    expect(quick.map((x) => `${x.ours.name} ${x.ours.dtype}`)).toEqual(['matmul f32', 'matmul f16', 'linear f32', 'conv2d f32', 'attention f32']);
    const convs = compareCases(false, { quick: false, filter: 'conv2d' });
    expect(convs.map((x) => x.torch)).toContainEqual({ op: 'conv2d', N: 1, C: 320, H: 32, W: 32, Cout: 1536, k: 1, pad: 0, stride: 1 });
    for (const x of all) expect(x.ours.flops).toBeGreaterThan(0);
  });
});

describe('torch_ops.py', () => {
  it('reports a missing interpreter', async () => {
    const r = await TorchProcess.start(['/nonexistent/python3']);
    expect(r).toMatchObject({ error: 'no python3 with an importable torch' });
    expect(r instanceof TorchProcess ? [] : r.tried).toEqual([expect.stringContaining('/nonexistent/python3: ')]);
  });

  it.runIf(torchPython !== undefined)('times a tiny matmul', async () => {
    const t = await TorchProcess.start([torchPython!]);
    if (!(t instanceof TorchProcess)) throw new Error(t.tried.join('; '));
    try {
      expect(t.info.threads).toBeGreaterThan(0);
      const reply = await t.request({ op: 'matmul', M: 8, K: 8, N: 8 }, 'f32', true);
      if ('error' in reply) throw new Error(reply.error);
      expect(reply.ms).toBeGreaterThan(0);
      expect(reply.reps).toBeGreaterThanOrEqual(1);
      expect(reply.reps).toBeLessThanOrEqual(3);
      const bad = await t.request({ op: 'layer_norm', rows: 4, d: 8 }, 'f16', true);
      if (t.info.device === 'cpu') expect(bad).toMatchObject({ error: 'f16 on CPU not compared' });
    } finally {
      await t.close();
    }
  });
});
