import { describe, it, expect } from 'vitest';
import { Tensor } from '../src/tensor.js';
import { resize2d, resampleAxis, type ResampleMethod } from '../src/ops/resample.js';
import { resize2dRef } from '../src/cpu/resample.js';
import { SafetensorsFile } from '../src/safetensors/index.js';
import { testRuntime, randn, expectClose } from './helpers.js';

// Weighted sums of <= 4/scale taps in f32: 1e-5 abs on unit-scale data.
const TOL = { atol: 1e-5, rtol: 1e-5 };
const FIXTURES = new URL('../../../../shared/fixtures/', import.meta.url);

describe('resampling vs CPU reference', async () => {
  const rt = await testRuntime();
  const methods: ResampleMethod[] = ['nearest', 'bilinear', 'bicubic', 'cubic_aa'];
  const cases: [number[], [number, number]][] = [
    [[1, 3, 7, 5], [14, 10]], // 2x up
    [[2, 3, 16, 16], [32, 32]],
    [[1, 2, 9, 13], [4, 5]], // non-integer down
    [[1, 1, 48, 48], [32, 32]], // 1.5x down (CLIP adapter case)
    [[3, 5, 6], [11, 3]], // rank 3, mixed up/down
    [[1, 1, 1, 1], [3, 2]],
  ];
  for (const method of methods) {
    it(method, async () => {
      for (const [k, [shape, size]] of cases.entries()) {
        const data = randn(shape.reduce((a, b) => a * b, 1), 10 + k);
        const x = Tensor.from(rt, data, shape);
        const y = resize2d(x, size, method);
        expect(y.shape).toEqual([...shape.slice(0, -2), ...size]);
        expectClose(await y.read(), resize2dRef(data, shape, size, method), TOL, `${method} ${shape} -> ${size}`);
      }
    });
  }

  it('nearest follows PyTorch index rule for non-integer scales', async () => {
    // in 5 -> out 3: floor(j * 5/3) = 0, 1, 3
    const x = Tensor.from(rt, [0, 1, 2, 3, 4], [1, 5]);
    expect(Array.from(await resampleAxis(x, 1, 3, 'nearest').read())).toEqual([0, 1, 3]);
  });

  it('f16 matches the f32 reference within half precision', async () => {
    if (!rt.hasF16) return;
    const shape = [1, 3, 12, 12];
    const data = randn(432, 3);
    const y = resize2d(Tensor.from(rt, data, shape, 'f16'), [8, 8], 'cubic_aa');
    expectClose(await y.toFloat32(), resize2dRef(data, shape, [8, 8], 'cubic_aa'), { atol: 4e-3, rtol: 2e-3 }, 'f16');
  });

  it('reproduces DALLE2-pytorch CLIP adapter resize (ResizeRight) on the fixture', async () => {
    const f = await SafetensorsFile.open(new URL('clip/image.safetensors', FIXTURES).pathname);
    const big = await f.readFloat32('big_pixels');
    const want = await f.readFloat32('big_resized');
    const bigShape = f.info('big_pixels').shape;
    const outShape = f.info('big_resized').shape;
    await f.close();
    const y = resize2d(Tensor.from(rt, big, bigShape), [outShape[2], outShape[3]], 'cubic_aa');
    expectClose(await y.read(), want, { atol: 1e-5, rtol: 1e-5 }, 'big_resized');
  });

  it('rejects bad sizes', () => {
    const x = Tensor.from(rt, [1, 2], [1, 2]);
    expect(() => resampleAxis(x, 1, 0, 'nearest')).toThrow(/output length 0/);
    expect(() => resize2d(Tensor.from(rt, [1], [1]), [2, 2], 'nearest')).toThrow(/rank >= 2/);
  });
});
