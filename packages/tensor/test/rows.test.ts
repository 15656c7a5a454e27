import { describe, expect, it } from 'vitest';
import { Tensor } from '../src/tensor.js';
import { l2normRows, nonzeroRows, repeatRows } from '../src/ops/rows.js';
import { testRuntime, randn, expectClose } from './helpers.js';

const rt = await testRuntime();

describe('row helpers', () => {
  it('l2normRows: F.normalize over the last dim (odd sizes, a zero row stays zero)', async () => {
    for (const [rows, d] of [[1, 1], [3, 7], [5, 130], [2, 768]] as const) {
      const x = randn(rows * d, rows + d, 2);
      x.fill(0, 0, d); // row 0 is all zeros: divided by the 1e-12 floor, it stays 0
      const want = new Float32Array(rows * d);
      for (let r = 0; r < rows; r++) {
        let ss = 0;
        for (let j = 0; j < d; j++) ss += x[r * d + j] ** 2;
        const n = Math.max(Math.sqrt(ss), 1e-12);
        for (let j = 0; j < d; j++) want[r * d + j] = x[r * d + j] / n;
      }
      // f32 sum of squares, sqrt and division: a few ulps of the O(1) result.
      expectClose(await l2normRows(Tensor.from(rt, x, [rows, d])).read(), want, { atol: 1e-6, rtol: 1e-5 }, `l2normRows [${rows}, ${d}]`);
    }
  });

  it('repeatRows: each leading row r times in a row; r = 1 returns the input; bad r throws', async () => {
    const x = Tensor.from(rt, new Float32Array([1, 2, 3, 4, 5, 6]), [3, 1, 2]);
    const y = repeatRows(x, 2);
    expect(y.shape).toEqual([6, 1, 2]);
    expect(Array.from(await y.read())).toEqual([1, 2, 1, 2, 3, 4, 3, 4, 5, 6, 5, 6]);
    expect(repeatRows(x, 1)).toBe(x);
    expect(() => repeatRows(x, 0)).toThrow(/repeatRows: r 0 must be a positive integer/);
  });

  it('nonzeroRows: any(x != 0, -1) as i32 [..., 1]; tiny normals count, subnormals and -0 do not', async () => {
    const rows = [
      [0, 0, 0],
      [0, -0, 0],
      [0, 2e-38, 0], // near the smallest normal (1.18e-38): nonzero
      [0, 1e-45, 0], // a subnormal: flushed on GPUs, so counted as zero everywhere
      [-3, 0, 0],
      [0, 0, 65504],
    ];
    const x = Tensor.from(rt, new Float32Array(rows.flat()), [2, 3, 3]);
    const m = nonzeroRows(x);
    expect(m.shape).toEqual([2, 3, 1]);
    expect(m.dtype).toBe('i32');
    expect(Array.from(await m.read())).toEqual([0, 0, 1, 0, 1, 1]);
    if (rt.hasF16) {
      const h = Tensor.from(rt, new Float32Array([0, 0, 0.5, 0, 0, 0]), [2, 3], 'f16');
      expect(Array.from(await nonzeroRows(h).read())).toEqual([1, 0]);
    }
  });
});
