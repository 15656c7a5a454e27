import { describe, it, expect } from 'vitest';
import { Tensor } from '../src/tensor.js';
import type { DType } from '../src/dtype.js';
import { gather, indexSelect, embedding, gatherChunkRows, checkIndices } from '../src/ops/gather.js';
import { gatherRef } from '../src/cpu/layout.js';
import { testRuntime, randInt, expectClose, randomInput } from './helpers.js';

// Gathers copy values without arithmetic: results must be bit-exact (f16 compared as raw bits).
const EXACT = { atol: 0, rtol: 0 };

// One runtime for the file (testRuntime's afterAll is registered at file level, after every describe).
const rt = await testRuntime();
const dtypes: DType[] = rt.hasF16 ? ['f32', 'f16', 'i32'] : ['f32', 'i32'];
const ALIGN = rt.limits.minStorageBufferOffsetAlignment ?? 256;

const input = (shape: number[], dtype: DType, seed: number) => randomInput(rt, shape, dtype, seed);

describe('gather / indexSelect / embedding', () => {
  for (const dtype of dtypes) {
    it(`embedding rows with 2-D ids, out-of-range ids give zeros (${dtype})`, async () => {
      const { t, host } = await input([37, 7], dtype, 1);
      const idsHost = Int32Array.from([0, 36, 5, 5, -1, 37, 12, 3, 1000, 2, 9, 36]);
      const ids = Tensor.from(rt, idsHost, [3, 4], 'i32');
      const y = embedding(t, ids);
      expect(y.shape).toEqual([3, 4, 7]);
      expectClose(await y.read(), gatherRef(host, [37, 7], idsHost, [3, 4]).data, EXACT, `embedding ${dtype}`);
    });

    it(`indexSelect / gather on inner and negative axes, rank 1..5 (${dtype})`, async () => {
      const shapes = [[77], [5, 9], [3, 11, 2], [2, 3, 5, 3], [2, 1, 3, 4, 3]];
      for (const [si, shape] of shapes.entries()) {
        for (const axis of [0, -1, Math.floor(shape.length / 2)]) {
          const a = (axis + shape.length) % shape.length;
          const idsHost = randInt(6, si * 10 + a, 0, shape[a]);
          const ids = Tensor.from(rt, idsHost, [6], 'i32');
          const { t, host } = await input(shape, dtype, si + 2);
          const y = indexSelect(t, axis, ids);
          const ref = gatherRef(host, shape, idsHost, [6], axis);
          const what = `indexSelect ${dtype} [${shape}] axis ${axis}`;
          expect(y.shape, what).toEqual(ref.shape);
          expectClose(await y.read(), ref.data, EXACT, what);
          t.dispose();
          y.dispose();
        }
      }
    });

    it(`chunked table binding under an artificial limit (${dtype})`, async () => {
      // Odd row sizes (6 or 20 bytes) force chunk row counts that are multiples of align / gcd(rowBytes, align).
      const d = dtype === 'f16' ? 3 : 5;
      const v = 301;
      const rowBytes = d * (dtype === 'f16' ? 2 : 4);
      const maxBindingBytes = Math.ceil((v * rowBytes) / 3);
      const rows = gatherChunkRows(v, rowBytes, maxBindingBytes, ALIGN);
      expect(rows).toBeLessThan(v); // really several chunks
      const { t, host } = await input([v, d], dtype, 4);
      const idsHost = Int32Array.from([300, 0, rows - 1, rows, rows + 1, 2 * rows, v - 1, -5, v, 150, rows, 7]);
      const y = embedding(t, Tensor.from(rt, idsHost, [12], 'i32'), { maxBindingBytes });
      expectClose(await y.read(), gatherRef(host, [v, d], idsHost, [12]).data, EXACT, `chunked ${dtype}`);
    });
  }

  it('chunk rows keep every chunk offset aligned and within the limit', () => {
    const cases = [[1000, 20, 4096], [1000, 6, 1000], [49408, 3072, 128 << 20], [5, 3072, 10000], [100, 1024, 1 << 20], [777, 1538, 1 << 19]];
    for (const align of new Set([ALIGN, 16, 256])) {
      for (const [rows, rowBytes, max] of cases) {
        const r = gatherChunkRows(rows, rowBytes, max, align);
        if (rows * rowBytes > max) {
          expect((r * rowBytes) % align, `${rows} x ${rowBytes} B, align ${align}`).toBe(0);
          expect(r * rowBytes).toBeLessThanOrEqual(max);
          expect((r + align) * rowBytes, 'uses (nearly) the whole limit').toBeGreaterThan(max);
        } else expect(r).toBe(rows);
      }
    }
    expect(gatherChunkRows(1000, 6, 1000, 256)).toBe(128);
    expect(() => gatherChunkRows(1000, 6, 500, 256, 'embedding')).toThrow(/embedding: 128 row\(s\) of 6 bytes \(offset alignment 256\) exceed the 500-byte binding limit/);
  });

  it('chunks a table view that starts inside its buffer (narrowView)', async () => {
    const { t, host } = await input([300, 5], 'f32', 12);
    const view = t.narrowView(64, 200); // 64 rows of 20 bytes: a 1280-byte offset, aligned for 16 and 256
    expect(view).toBeDefined();
    const idsHost = Int32Array.from([0, 199, 63, 64, 130, 100, 5]);
    const y = embedding(view!, Tensor.from(rt, idsHost, [7], 'i32'), { maxBindingBytes: 1024 });
    expectClose(await y.read(), gatherRef(host.subarray(64 * 5, 264 * 5), [200, 5], idsHost, [7]).data, EXACT, 'view');
  });

  it('embedding with host ids checks the range before upload', async () => {
    const { t, host } = await input([11, 4], 'f32', 6);
    const y = embedding(t, [3, 10, 0, 3, 7, 1], { idsShape: [2, 3] });
    expect(y.shape).toEqual([2, 3, 4]);
    expectClose(await y.read(), gatherRef(host, [11, 4], [3, 10, 0, 3, 7, 1], [2, 3]).data, EXACT, 'host ids');
    expect(() => embedding(t, [1, 2, 11])).toThrow(/embedding: id 11 at position 2 out of range \[0, 11\)/);
    expect(() => checkIndices([0, -1], 5)).toThrow(/gather: id -1 at position 1 out of range \[0, 5\)/);
  });

  it('rejects bad ids, tables and unchunkable layouts', () => {
    const x = Tensor.empty(rt, [4, 5, 6]);
    const ids = Tensor.from(rt, [0, 1], [2], 'i32');
    expect(() => gather(x, Tensor.empty(rt, [2]), 0)).toThrow(/gather: ids dtype f32 not supported \(expected i32\)/);
    expect(() => gather(x, ids, 3)).toThrow(/gather: axis 3 out of range for rank 3/);
    expect(() => embedding(x, ids)).toThrow(/embedding: table must be \[V, D\], got \[4, 5, 6\]/);
    expect(() => indexSelect(x, 0, Tensor.from(rt, [0, 1, 0, 1], [2, 2], 'i32'))).toThrow(/indexSelect: ids must be 1-D, got \[2, 2\]/);
    expect(() => gather(x, ids, 1, { maxBindingBytes: 256 })).toThrow(/gather: input \[4, 5, 6\] \(480 bytes\) exceeds the 256-byte binding limit; only a gather over the leading axis is chunked/);
  });

  it('CLIP-sized table above 128 MiB (real binding limit)', async (ctx) => {
    const [v, d] = [43750, 768]; // 33.6M f32 = 134.4 MB > 128 MiB
    const bytes = v * d * 4;
    if (rt.limits.maxBufferSize < bytes) ctx.skip(`maxBufferSize ${rt.limits.maxBufferSize} < ${bytes}: can't allocate the table`);
    const host = new Float32Array(v * d);
    for (let i = 0; i < host.length; i++) host[i] = i; // rows differ by 768: any row mix-up shows
    const table = Tensor.from(rt, host, [v, d]);
    const rows = gatherChunkRows(v, d * 4, rt.limits.maxStorageBufferBindingSize, ALIGN);
    // rows === v on adapters that bind it whole (the gather is still checked)
    const idsHost = Int32Array.from([0, rows - 1, Math.min(rows, v - 1), v - 1, 12345, -1, v, 43000]);
    const y = embedding(table, Tensor.from(rt, idsHost, [8], 'i32'));
    expectClose(await y.read(), gatherRef(host, [v, d], idsHost, [8]).data, EXACT, `table ${bytes} bytes, ${rows} rows per chunk`);
    table.dispose();
  });
});
