import { describe, expect, it } from 'vitest';
import { formatTable, median, parseBenchArgs, sample } from './harness.js';

describe('bench harness', () => {
  it('parses suite, --quick and --filter', () => {
    expect(parseBenchArgs(['kernels', '--quick', '--filter', 'matmul'], ['kernels'])).toEqual({
      suite: 'kernels',
      opts: { quick: true, filter: 'matmul' },
    });
    expect(parseBenchArgs(['--filter=f16', 'kernels'], ['kernels'])).toEqual({ suite: 'kernels', opts: { quick: false, filter: 'f16' } });
  });

  it('reports usage errors', () => {
    expect(parseBenchArgs([], ['kernels'])).toEqual({ error: 'no suite given' });
    expect(parseBenchArgs(['conv'], ['kernels'])).toEqual({ error: "unknown suite 'conv'" });
    expect(parseBenchArgs(['kernels', '--fast'], ['kernels'])).toEqual({ error: 'unknown option --fast' });
    expect(parseBenchArgs(['kernels', '--filter'], ['kernels'])).toEqual({ error: '--filter needs a substring' });
  });

  it('takes medians and caps repetitions', async () => {
    expect(median([5, 1, 3])).toBe(3);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    let calls = 0;
    const times = await sample(async () => void calls++, { min: 2, max: 4, budgetMs: 1e9 });
    expect(times.length).toBe(4);
    expect(calls).toBe(4);
  });

  it('formats rows, errors included', () => {
    const row = { kernel: 'matmul', shape: '[2,2]x[2,2]', dtype: 'f32', ms: 1.5, gflops: 2, gbps: 3, peakBytes: 2 ** 20, reps: 3 };
    const text = formatTable([row, { ...row, kernel: 'add', error: 'boom' }]);
    expect(text).toMatch(/matmul\s+\[2,2\]x\[2,2\]\s+f32\s+1\.50\s+2\.00\s+3\.00\s+1\.0\s+3/);
    expect(text).toMatch(/add .* error\s+boom/);
  });
});
