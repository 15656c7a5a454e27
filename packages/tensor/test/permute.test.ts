import { describe, it, expect } from 'vitest';
import { Tensor } from '../src/tensor.js';
import type { DType } from '../src/dtype.js';
import { permute, transpose, expand, broadcastTo, contiguousCopy, stridedCopySetRun } from '../src/ops/permute.js';
import { slice } from '../src/ops/slice.js';
import { permuteRef, expandRef, sliceRef } from '../src/cpu/layout.js';
import { testRuntime, rng, expectClose, randomInput } from './helpers.js';

// Layout ops move values without arithmetic: results must be bit-exact (f16 compared as raw bits).
const EXACT = { atol: 0, rtol: 0 };

// One runtime for the file (testRuntime's afterAll is registered at file level, after every describe).
const rt = await testRuntime();
const dtypes: DType[] = rt.hasF16 ? ['f32', 'f16', 'i32'] : ['f32', 'i32'];

const input = (shape: number[], dtype: DType, seed: number) => randomInput(rt, shape, dtype, seed);

function shuffled(n: number, r: () => number): number[] {
  const a = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

const ODD = [1, 2, 3, 5, 7, 11];

describe('permute / transpose', () => {

  for (const dtype of dtypes) {
    it(`random permutations, rank 1..6 (${dtype})`, async () => {
      const r = rng(7);
      for (let rank = 1; rank <= 6; rank++) {
        for (let trial = 0; trial < 3; trial++) {
          const shape = Array.from({ length: rank }, () => ODD[Math.floor(r() * ODD.length)]);
          if (rank <= 2) shape[0] = 77; // a few bigger dims for the 1-D/2-D cases
          const dims = shuffled(rank, r).map((d) => (r() < 0.3 ? d - rank : d)); // some negative dims
          const { t, host } = await input(shape, dtype, rank * 10 + trial);
          const y = permute(t, dims);
          const ref = permuteRef(host, shape, dims);
          expect(y.shape).toEqual(ref.shape);
          expect(y.dtype).toBe(dtype);
          expectClose(await y.read(), ref.data, EXACT, `permute ${dtype} [${shape}] by [${dims}]`);
          t.dispose();
          y.dispose();
        }
      }
    });
  }

  // The kernel copies runs of E innermost elements per invocation (8 on CPU drivers, 1 on GPUs): every
  // run length must give the same bits, with partial runs at the end of odd rows.
  for (const e of [1, 3, 8]) {
    it(`run length ${e}: random permutations, expand and a reversed slice`, async () => {
      stridedCopySetRun(e);
      try {
        const r = rng(70 + e);
        for (let rank = 1; rank <= 5; rank++) {
          const shape = Array.from({ length: rank }, () => ODD[Math.floor(r() * ODD.length)] + 2);
          const dims = shuffled(rank, r);
          const { t, host } = await input(shape, 'f32', rank);
          expectClose(await permute(t, dims).read(), permuteRef(host, shape, dims).data, EXACT, `E=${e} permute [${shape}] by [${dims}]`);
        }
        const { t, host } = await input([3, 1, 13], 'f32', 9);
        expectClose(await expand(t, [3, 5, 13]).read(), expandRef(host, [3, 1, 13], [3, 5, 13]).data, EXACT, `E=${e} expand`);
        const rev = await input([4, 19], 'f32', 10);
        const want = sliceRef(rev.host, [4, 19], [null, 17], [null, 1], [1, -2]).data;
        expectClose(await slice(rev.t, [null, 17], [null, 1], [1, -2]).read(), want, EXACT, `E=${e} reversed slice`);
      } finally {
        stridedCopySetRun(undefined);
      }
    });
  }
  it('rejects a bad run length', () => {
    expect(() => stridedCopySetRun(0)).toThrow(/run length 0 must be an integer in 1..32/);
  });

  it('transpose of the last two dims matches the reference (257 x 33, f32)', async () => {
    const { t, host } = await input([3, 257, 33], 'f32', 5);
    const y = transpose(t, -1, -2);
    expect(y.shape).toEqual([3, 33, 257]);
    expectClose(await y.read(), permuteRef(host, [3, 257, 33], [0, 2, 1]).data, EXACT, 'transpose');
  });

  it('handles rank 8 (MAX_RANK) and size-1 / zero-size dims', async () => {
    const shape = [2, 1, 3, 2, 1, 2, 3, 2];
    const dims = [7, 0, 6, 1, 5, 2, 4, 3];
    const { t, host } = await input(shape, 'i32', 3);
    expectClose(await permute(t, dims).read(), permuteRef(host, shape, dims).data, EXACT, 'rank 8');
    const z = permute(Tensor.empty(rt, [3, 0, 2]), [2, 0, 1]);
    expect(z.shape).toEqual([2, 3, 0]);
  });

  it('rejects bad permutations naming the op, dims and input shape', () => {
    const x = Tensor.empty(rt, [2, 3, 4]);
    expect(() => permute(x, [0, 0, 1])).toThrow(/permute: dims \[0, 0, 1\] is not a permutation of 0\.\.2 for input \[2, 3, 4\]/);
    expect(() => permute(x, [0, 1])).toThrow(/not a permutation/);
    expect(() => permute(x, [0, 1, 3])).toThrow(/not a permutation/);
    expect(() => permute(x, [2, -3, 1])).not.toThrow();
    expect(() => transpose(x, 0, 3)).toThrow(/transpose: axis 3 out of range for rank 3/);
    expect(() => permute(Tensor.empty(rt, [1, 1, 1, 1, 1, 1, 1, 1, 1]), [0, 1, 2, 3, 4, 5, 6, 7, 8])).toThrow(/exceeds 8/);
  });
});

describe('expand / broadcastTo', () => {
  const CASES: { from: number[]; to: number[]; want: number[] }[] = [
    { from: [3, 1, 5], to: [2, 3, 4, 5], want: [2, 3, 4, 5] },
    { from: [1], to: [7, 77], want: [7, 77] },
    { from: [1, 7, 1], to: [-1, -1, 3], want: [1, 7, 3] },
    { from: [5, 1, 1, 3], to: [2, 5, 3, 7, 3], want: [2, 5, 3, 7, 3] },
    { from: [257], to: [3, 257], want: [3, 257] },
  ];

  for (const dtype of dtypes) {
    it(`matches the reference (${dtype})`, async () => {
      for (const [i, c] of CASES.entries()) {
        const { t, host } = await input(c.from, dtype, i + 1);
        const y = (i % 2 ? broadcastTo : expand)(t, c.to);
        expect(y.shape).toEqual(c.want);
        expectClose(await y.read(), expandRef(host, c.from, c.want).data, EXACT, `expand [${c.from}] -> [${c.to}]`);
      }
    });
  }

  it('rejects incompatible targets', () => {
    const x = Tensor.empty(rt, [3, 2]);
    expect(() => expand(x, [3, 4])).toThrow(/expand: can't expand \[3, 2\] to \[3, 4\]: dim 1: 2 is neither 4 nor 1/);
    expect(() => expand(x, [2])).toThrow(/target rank 1 < input rank 2/);
    expect(() => expand(x, [-1, 3, 2])).toThrow(/-1 at new leading dim 0/);
  });
});

describe('contiguousCopy', () => {
  it('copies f32 (buffer-copy path), odd-length f16 (kernel path) and i32 into a new buffer', async () => {
    for (const [i, dtype] of dtypes.entries()) {
      const { t, host } = await input([3, 7, 11], dtype, 40 + i);
      const y = contiguousCopy(t);
      expect(y.binding().buffer).not.toBe(t.binding().buffer);
      expectClose(await y.read(), host, EXACT, `copy ${dtype}`);
    }
  });
});
