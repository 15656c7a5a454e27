import { describe, it, expect } from 'vitest';
import { Tensor } from '../src/tensor.js';
import type { DType } from '../src/dtype.js';
import { concat, stack } from '../src/ops/concat.js';
import { concatRef, type LayoutArray } from '../src/cpu/layout.js';
import { testRuntime, rng, expectClose, randomInput } from './helpers.js';

// Concatenation moves values without arithmetic: results must be bit-exact (f16 compared as raw bits).
const EXACT = { atol: 0, rtol: 0 };

// One runtime for the file (testRuntime's afterAll is registered at file level, after every describe).
const rt = await testRuntime();
const dtypes: DType[] = rt.hasF16 ? ['f32', 'f16', 'i32'] : ['f32', 'i32'];

const input = (shape: number[], dtype: DType, seed: number) => randomInput(rt, shape, dtype, seed);

describe('concat', () => {
  for (const dtype of dtypes) {
    it(`random shapes, rank 1..6, every axis (${dtype})`, async () => {
      const r = rng(5);
      const pool = [1, 2, 3, 5, 7];
      for (let rank = 1; rank <= 6; rank++) {
        const base = Array.from({ length: rank }, () => pool[Math.floor(r() * pool.length)]);
        for (let axis = -rank; axis < rank; axis += 1 + Math.floor(r() * 2)) {
          const a = (axis + rank) % rank;
          const count = 1 + Math.floor(r() * 4);
          const parts = [];
          for (let i = 0; i < count; i++) {
            const shape = [...base];
            shape[a] = Math.floor(r() * 4) + (i === 0 ? 1 : 0); // some inputs empty along the axis
            parts.push(await input(shape, dtype, rank * 100 + i));
          }
          const y = concat(parts.map((p) => p.t), axis);
          const ref = concatRef(parts.map((p) => ({ data: p.host as LayoutArray, shape: [...p.t.shape] })), axis);
          const what = `concat ${dtype} ${parts.map((p) => `[${p.t.shape}]`).join(' ')} axis ${axis}`;
          expect(y.shape, what).toEqual(ref.shape);
          expectClose(await y.read(), ref.data, EXACT, what);
          for (const p of parts) p.t.dispose();
          y.dispose();
        }
      }
    });
  }

  it('joins more inputs than one dispatch could bind (leading and inner axes)', async () => {
    const count = rt.limits.maxStorageBuffersPerShaderStage + 3;
    const parts = [];
    for (let i = 0; i < count; i++) parts.push(await input([2, 1 + (i % 3), 3], 'f32', i + 1));
    const refIn = parts.map((p) => ({ data: p.host as LayoutArray, shape: [...p.t.shape] }));
    const y = concat(parts.map((p) => p.t), 1);
    expectClose(await y.read(), concatRef(refIn, 1).data, EXACT, `concat of ${count} inputs`);
    const flat = parts.map((p) => p.t.reshape([-1]));
    const z = concat(flat, 0); // contiguous blocks: buffer-copy path
    const flatRef = concatRef(refIn.map((x) => ({ data: x.data, shape: [x.data.length] })), 0);
    expectClose(await z.read(), flatRef.data, EXACT, 'flat concat');
  });

  it('stack inserts a new axis', async () => {
    const parts = [await input([3, 5], 'i32', 1), await input([3, 5], 'i32', 2)];
    const y = stack(parts.map((p) => p.t), -1);
    expect(y.shape).toEqual([3, 5, 2]);
    const ref = concatRef(parts.map((p) => ({ data: p.host as LayoutArray, shape: [3, 5, 1] })), 2);
    expectClose(await y.read(), ref.data, EXACT, 'stack');
  });

  it('errors name the offending input index and both shapes', () => {
    const a = Tensor.empty(rt, [2, 3]);
    const b = Tensor.empty(rt, [2, 4]);
    const c = Tensor.empty(rt, [3, 4]);
    expect(concat([a, b], 1).shape).toEqual([2, 7]);
    expect(() => concat([a, b, c], 1)).toThrow(/concat: input 2 has shape \[3, 4\] but input 0 has \[2, 3\]; all dims except axis 1 must match/);
    expect(() => concat([a, b], 0)).toThrow(/concat: input 1 has shape \[2, 4\] but input 0 has \[2, 3\]/);
    expect(() => concat([a, Tensor.empty(rt, [2, 3, 1])], 0)).toThrow(/input 1 has shape \[2, 3, 1\]/);
    expect(() => concat([a, Tensor.empty(rt, [2, 3], 'i32')], 0)).toThrow(/concat: input 1 is i32 \[2, 3\] but input 0 is f32 \[2, 3\]/);
    expect(() => concat([a], 2)).toThrow(/concat: axis 2 out of range for rank 2/);
    expect(() => concat([])).toThrow(/concat: no inputs/);
    expect(() => stack([a, b])).toThrow(/stack: input 1 has shape \[2, 4\] but input 0 has \[2, 3\]/);
  });
});
