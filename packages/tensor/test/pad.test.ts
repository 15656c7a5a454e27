import { describe, it, expect } from 'vitest';
import { Tensor } from '../src/tensor.js';
import type { DType } from '../src/dtype.js';
import { pad, type PadMode } from '../src/ops/pad.js';
import { padRef } from '../src/cpu/layout.js';
import { f32ToF16Bits } from '../src/safetensors/halfFloat.js';
import { testRuntime, rng, expectClose, randomInput } from './helpers.js';

// Padding moves values without arithmetic: results must be bit-exact (f16 compared as raw bits).
const EXACT = { atol: 0, rtol: 0 };

// One runtime for the file (testRuntime's afterAll is registered at file level, after every describe).
const rt = await testRuntime();
const dtypes: DType[] = rt.hasF16 ? ['f32', 'f16', 'i32'] : ['f32', 'i32'];

const input = (shape: number[], dtype: DType, seed: number) => randomInput(rt, shape, dtype, seed);

/** The pad value as the reference stores it: raw half bits for f16. */
const refValue = (v: number, dtype: DType) => (dtype === 'f16' ? f32ToF16Bits(Float32Array.of(v))[0] : v);

describe('pad', () => {
  for (const dtype of dtypes) {
    for (const mode of ['constant', 'replicate', 'reflect'] as PadMode[]) {
      it(`random pads, rank 1..5, ${mode} (${dtype})`, async () => {
        const r = rng(mode.length * 7 + dtype.length);
        const value = dtype === 'i32' ? -7 : -1.5;
        for (let rank = 1; rank <= 5; rank++) {
          const shape = Array.from({ length: rank }, () => 2 + Math.floor(r() * 5));
          if (rank === 1) shape[0] = 77;
          const k = 1 + Math.floor(r() * rank); // pad the k trailing dims
          const pads: number[] = [];
          for (let j = 0; j < 2 * k; j++) {
            const dim = shape[rank - 1 - Math.floor(j / 2)];
            // reflect needs pad < dim; allow some cropping (negative) in every mode
            pads.push(Math.floor(r() * dim) - (r() < 0.2 ? 1 : 0));
          }
          const { t, host } = await input(shape, dtype, rank);
          const y = pad(t, pads, { value, mode });
          const ref = padRef(host, shape, pads, refValue(value, dtype), mode);
          const what = `pad ${mode} ${dtype} [${shape}] pads [${pads}]`;
          expect(y.shape, what).toEqual(ref.shape);
          expectClose(await y.read(), ref.data, EXACT, what);
          t.dispose();
          y.dispose();
        }
      });
    }
  }

  it('F.pad ordering: last dim first, default value 0, cropping', async () => {
    const { t, host } = await input([2, 3, 4], 'f32', 3);
    const y = pad(t, [1, 2, 0, 1]); // W: +1 left +2 right, H: +0 top +1 bottom
    expect(y.shape).toEqual([2, 4, 7]);
    const out = await y.read();
    expect(out[0]).toBe(0);
    expect(out[1]).toBe(host[0]);
    expect(out[3 * 7 + 1]).toBe(0); // bottom row is padding
    const crop = pad(t, [-1, -1, 0, 0, 0, -1]);
    expect(crop.shape).toEqual([1, 3, 2]);
    expectClose(await crop.read(), padRef(host, [2, 3, 4], [-1, -1, 0, 0, 0, -1]).data, EXACT, 'crop');
  });

  it('pads an image-sized f32 tensor (reflect, 1 x 3 x 67 x 67)', async () => {
    const shape = [1, 3, 67, 67];
    const { t, host } = await input(shape, 'f32', 8);
    const y = pad(t, [3, 3, 3, 3], { mode: 'reflect' });
    expectClose(await y.read(), padRef(host, shape, [3, 3, 3, 3], 0, 'reflect').data, EXACT, 'reflect image');
  });

  it('rejects bad pad lists', () => {
    const x = Tensor.empty(rt, [2, 3]);
    expect(() => pad(x, [1])).toThrow(/pad: input \[2, 3\] pads \[1\]: need an even number of pads, at most 2 x rank 2/);
    expect(() => pad(x, [1, 1, 1, 1, 1, 1])).toThrow(/at most 2 x rank 2/);
    expect(() => pad(x, [0, 0, -2, -1])).toThrow(/dim 0 \(size 2\) cropped below zero/);
    expect(() => pad(x, [3, 0], { mode: 'reflect' })).toThrow(/reflect pads must be < the dim size 3 \(dim 1\)/);
    expect(() => pad(x, [0.5, 0])).toThrow(/pads must be integers/);
    expect(() => pad(Tensor.empty(rt, [2], 'i32'), [1, 1], 0.5)).toThrow(/pad: value 0.5 is not an i32/);
  });
});
