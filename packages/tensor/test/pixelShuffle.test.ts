import { describe, it, expect } from 'vitest';
import { Tensor } from '../src/tensor.js';
import type { DType } from '../src/dtype.js';
import { pixelShuffle, pixelUnshuffle } from '../src/ops/pixelShuffle.js';
import { pixelShuffleRef, pixelUnshuffleRef } from '../src/cpu/pixelShuffle.js';
import { f16BitsToF32, f32ToF16Bits } from '../src/safetensors/halfFloat.js';
import { testRuntime, randn, expectClose } from './helpers.js';

// Pure data movement: results must be bit-exact.
const EXACT = { atol: 0, rtol: 0 };
const numel = (s: readonly number[]) => s.reduce((p, d) => p * d, 1);
const rt = await testRuntime();

/** Values exactly representable in every dtype under test (small integers). */
const ints = (n: number) => Float32Array.from({ length: n }, (_, i) => (i % 2001) - 1000);

describe('pixelShuffle / pixelUnshuffle vs CPU reference', () => {
  async function check(shape: number[], r: number, dtype: DType = 'f32') {
    const data = dtype === 'f32' ? randn(numel(shape), 51) : ints(numel(shape));
    const host = dtype === 'i32' ? Int32Array.from(data) : data;
    const x = Tensor.from(rt, host, shape, dtype);
    const [c, h, w] = shape.slice(-3);
    const lead = shape.slice(0, -3);
    if (c % (r * r) === 0) {
      const y = pixelShuffle(x, r);
      expect(y.shape).toEqual([...lead, c / (r * r), h * r, w * r]);
      expectClose(await y.toFloat32(), pixelShuffleRef(data, shape, r), EXACT, `shuffle ${dtype} ${shape} r=${r}`);
      // Round trip back to the input.
      expectClose(await pixelUnshuffle(y, r).toFloat32(), data, EXACT, `round trip ${shape}`);
    }
    if (h % r === 0 && w % r === 0) {
      const y = pixelUnshuffle(x, r);
      expect(y.shape).toEqual([...lead, c * r * r, h / r, w / r]);
      expectClose(await y.toFloat32(), pixelUnshuffleRef(data, shape, r), EXACT, `unshuffle ${dtype} ${shape} r=${r}`);
      expectClose(await pixelShuffle(y, r).toFloat32(), data, EXACT, `round trip back ${shape}`);
    }
  }

  it('odd shapes, r = 1 / 2 / 3', async () => {
    await check([2, 12, 3, 5], 2);
    await check([1, 27, 4, 3], 3);
    await check([3, 4, 6], 2); // rank 3: both directions
    await check([2, 2, 4, 6, 9], 3); // rank 5: leading dims flatten into the batch
    await check([1, 3, 5, 7], 1);
    await check([1, 4, 10, 6], 2); // both directions valid
  });

  it('f16 and i32 move bits exactly', async () => {
    await check([2, 12, 4, 6], 2, 'i32');
    if (rt.hasF16) await check([2, 12, 4, 6], 2, 'f16');
  });

  it('reference matches hand-worked torch layouts', () => {
    // [1, 4, 1, 1] -> [1, 1, 2, 2]: channel i*2 + j lands at (i, j).
    expect(Array.from(pixelShuffleRef(Float32Array.from([0, 1, 2, 3]), [1, 4, 1, 1], 2))).toEqual([0, 1, 2, 3]);
    // [1, 4, 1, 2] -> [1, 1, 2, 4]: out[oh, ow] = in[c = (oh % 2) * 2 + ow % 2, w = ow / 2], in index c * 2 + w.
    const x = Float32Array.from([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(Array.from(pixelShuffleRef(x, [1, 4, 1, 2], 2))).toEqual([0, 2, 1, 3, 4, 6, 5, 7]);
    expect(Array.from(pixelUnshuffleRef(Float32Array.from([0, 2, 1, 3, 4, 6, 5, 7]), [1, 1, 2, 4], 2))).toEqual(Array.from(x));
  });

  it('rejects bad shapes', () => {
    const x = Tensor.from(rt, randn(5 * 16, 1), [1, 5, 4, 4]);
    expect(() => pixelShuffle(x, 2)).toThrow(/pixelShuffle: input \[1, 5, 4, 4\]: channels 5 not divisible by r\^2 = 4/);
    expect(() => pixelUnshuffle(x, 3)).toThrow(/pixelUnshuffle: input \[1, 5, 4, 4\]: height 4 and width 4 must be divisible by r = 3/);
    expect(() => pixelShuffle(Tensor.from(rt, [1, 2, 3, 4], [4, 1]), 2)).toThrow(/pixelShuffle: input \[4, 1\] must be \[\.\.\., C, H, W\]/);
    expect(() => pixelUnshuffle(x, 0)).toThrow(/pixelUnshuffle: factor 0 must be a positive integer/);
  });
});
