import { describe, it, expect } from 'vitest';
import { Tensor } from '../src/tensor.js';
import type { DType } from '../src/dtype.js';
import { slice, sliceAxis, narrow, split, chunk, type SliceIndex } from '../src/ops/slice.js';
import { sliceRef } from '../src/cpu/layout.js';
import { testRuntime, rng, expectClose, randomInput } from './helpers.js';

// Slicing moves values without arithmetic: results must be bit-exact (f16 compared as raw bits).
const EXACT = { atol: 0, rtol: 0 };

// One runtime for the file (testRuntime's afterAll is registered at file level, after every describe).
const rt = await testRuntime();
const dtypes: DType[] = rt.hasF16 ? ['f32', 'f16', 'i32'] : ['f32', 'i32'];

const input = (shape: number[], dtype: DType, seed: number) => randomInput(rt, shape, dtype, seed);

/** A random Python slice of an axis of size `dim`: indices in [-dim, dim] or null, step in ±{1, 2, 3}. */
function randomSlice(dim: number, r: () => number): [SliceIndex, SliceIndex, number] {
  const idx = (): SliceIndex => (r() < 0.2 ? null : Math.floor(r() * (2 * dim + 1)) - dim);
  const step = (r() < 0.25 ? -1 : 1) * (1 + Math.floor(r() * 3));
  return [idx(), idx(), step];
}

describe('slice', () => {
  for (const dtype of dtypes) {
    it(`random Python slices, rank 1..6 (${dtype})`, async () => {
      const r = rng(11);
      const dimsPool = [1, 2, 3, 5, 7, 9];
      for (let rank = 1; rank <= 6; rank++) {
        for (let trial = 0; trial < 4; trial++) {
          const shape = Array.from({ length: rank }, () => dimsPool[Math.floor(r() * dimsPool.length)]);
          if (rank === 1) shape[0] = 257;
          const k = 1 + Math.floor(r() * rank); // slice the k leading axes
          const specs = shape.slice(0, k).map((d) => randomSlice(d, r));
          const [starts, ends, steps] = [specs.map((s) => s[0]), specs.map((s) => s[1]), specs.map((s) => s[2])];
          const { t, host } = await input(shape, dtype, rank * 10 + trial);
          const y = slice(t, starts, ends, steps);
          const ref = sliceRef(host, shape, starts, ends, steps);
          const what = `slice ${dtype} [${shape}] starts [${starts}] ends [${ends}] steps [${steps}]`;
          expect(y.shape, what).toEqual(ref.shape);
          expectClose(await y.read(), ref.data, EXACT, what);
          t.dispose();
          y.dispose();
        }
      }
    });
  }

  it('sliceAxis with negative axis and indices, and reversed order', async () => {
    const shape = [4, 5, 77];
    const { t, host } = await input(shape, 'f32', 3);
    const a = sliceAxis(t, -1, -70, -3, 4);
    expect(a.shape).toEqual([4, 5, 17]);
    expectClose(await a.read(), sliceRef(host, shape, [null, null, -70], [null, null, -3], [1, 1, 4]).data, EXACT, 'sliceAxis');
    const rev = sliceAxis(t, 1, null, null, -1);
    expectClose(await rev.read(), sliceRef(host, shape, [null, null], [null, null], [1, -1]).data, EXACT, 'reverse');
    const lead = sliceAxis(t, 0, 1, 3); // contiguous block: buffer-copy path
    expectClose(await lead.read(), host.subarray(5 * 77, 3 * 5 * 77), EXACT, 'leading rows');
    const empty = sliceAxis(t, 1, 3, 3);
    expect(empty.shape).toEqual([4, 0, 77]);
  });

  it('narrow matches torch.narrow', async () => {
    const shape = [3, 11, 2];
    const { t, host } = await input(shape, 'i32', 4);
    const y = narrow(t, 1, -4, 3);
    expect(y.shape).toEqual([3, 3, 2]);
    expectClose(await y.read(), sliceRef(host, shape, [null, 7], [null, 10]).data, EXACT, 'narrow');
  });

  it('rejects out-of-range indices, zero steps and bad argument lengths', () => {
    const x = Tensor.empty(rt, [2, 5]);
    expect(() => slice(x, [0, 7], [2, 9])).toThrow(/slice: input \[2, 5\] axis 1: start 7 out of range for dim 5 \(must lie in \[-5, 5\]\)/);
    expect(() => slice(x, [0, -6], [2, 5])).toThrow(/start -6 out of range/);
    expect(() => slice(x, [0], [2], [0])).toThrow(/step 0 must be a nonzero integer/);
    expect(() => slice(x, [0, 0, 0], [1, 1, 1])).toThrow(/must have equal lengths <= rank 2/);
    expect(() => slice(x, [0, 0], [1])).toThrow(/equal lengths/);
    expect(() => sliceAxis(x, 2, 0, 1)).toThrow(/sliceAxis: axis 2 out of range for rank 2/);
    expect(() => sliceAxis(x, 1, 0, 6)).toThrow(/end 6 out of range for dim 5/);
    expect(() => narrow(x, 1, 3, 3)).toThrow(/narrow: input \[2, 5\] axis 1: \[3, \+3\) out of range for dim 5/);
  });
});

describe('split / chunk', () => {
  it('split by size and by list, chunk like torch', async () => {
    const shape = [3, 10, 7];
    const { t, host } = await input(shape, 'f32', 9);
    const bySize = split(t, 4, 1);
    expect(bySize.map((p) => p.shape[1])).toEqual([4, 4, 2]);
    const byList = split(t, [1, 6, 0, 3], -2);
    expect(byList.map((p) => p.shape)).toEqual([[3, 1, 7], [3, 6, 7], [3, 0, 7], [3, 3, 7]]);
    let at = 0;
    for (const p of byList) {
      const len = p.shape[1];
      expectClose(await p.read(), sliceRef(host, shape, [null, at], [null, at + len]).data, EXACT, `split part at ${at}`);
      at += len;
    }
    const ch = chunk(t, 3, 2); // 7 -> 3, 3, 1 like torch.chunk
    expect(ch.map((p) => p.shape[2])).toEqual([3, 3, 1]);
    expectClose(await ch[2].read(), sliceRef(host, shape, [null, null, 6], [null, null, 7]).data, EXACT, 'chunk tail');
    expect(chunk(t, 4, 1).map((p) => p.shape[1])).toEqual([3, 3, 3, 1]);
    expect(chunk(t, 6, 0).map((p) => p.shape[0])).toEqual([1, 1, 1]);
  });

  it('rejects sizes that do not partition the axis', () => {
    const x = Tensor.empty(rt, [3, 10]);
    expect(() => split(x, [3, 3], 1)).toThrow(/split: sizes \[3, 3\] \(sum 6\) don't partition axis 1 of \[3, 10\] \(size 10\)/);
    expect(() => split(x, 0, 1)).toThrow(/chunk size 0 must be a positive integer/);
    expect(() => chunk(x, 0)).toThrow(/chunks 0 must be a positive integer/);
  });
});
