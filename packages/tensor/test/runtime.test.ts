// Engine behaviour: uploads/readback per dtype, views, buffer reuse rules, scopes, error surfacing.
import { describe, it, expect } from 'vitest';
import { Tensor, tidy, unary, GpuError, bucketSize, Runtime } from '../src/index.js';
import { testRuntime, randn, expectClose } from './helpers.js';
import { f16BitsToF32, f32ToF16Bits } from '../src/safetensors/halfFloat.js';

describe('runtime', async () => {
  const rt = await testRuntime();

  it('describes the adapter and the limits it requested', () => {
    expect(rt.describe()).toMatch(/backend \w+/);
    expect(rt.limits.maxStorageBufferBindingSize).toBeGreaterThanOrEqual(128 * 2 ** 20);
    expect(rt.limits.maxComputeWorkgroupsPerDimension).toBeGreaterThanOrEqual(65535);
  });

  it('round-trips f32, i32 and f16 data', async () => {
    const f = randn(1001, 1);
    expectClose(await Tensor.from(rt, f, [7, 11, 13]).read(), f, { atol: 0, rtol: 0 }, 'f32');
    const i = Int32Array.from({ length: 77 }, (_, k) => k * 7919 - 3000);
    expect(Array.from(await Tensor.from(rt, i, [77], 'i32').read())).toEqual(Array.from(i));
    if (rt.hasF16) {
      // Odd element count: the f16 byte size is not a multiple of 4.
      const h = randn(5, 2);
      const back = await Tensor.from(rt, h, [5], 'f16').toFloat32();
      expectClose(back, f16BitsToF32(f32ToF16Bits(h)), { atol: 0, rtol: 0 }, 'f16');
    }
  });

  it('rejects mismatched data length and bad shapes', () => {
    expect(() => Tensor.from(rt, [1, 2, 3], [2, 2])).toThrow(/3 values for shape \[2, 2\] \(4 elements\)/);
    expect(() => Tensor.empty(rt, [2, -1])).toThrow(/invalid shape \[2, -1\]/);
  });

  it('reshape is a view sharing storage; -1 is inferred', async () => {
    const x = Tensor.from(rt, randn(24, 3), [2, 3, 4]);
    const v = x.reshape([6, -1]);
    expect(v.shape).toEqual([6, 4]);
    expect(v.binding().buffer).toBe(x.binding().buffer);
    x.dispose(); // storage stays alive while the view holds it
    expect(Array.from(await v.read())).toHaveLength(24);
    expect(() => v.reshape([5, 5])).toThrow(/can't reshape \[6, 4\] \(24 elements\) to \[5, 5\]/);
    expect(() => x.reshape([24])).toThrow(/disposed/);
  });

  it('narrowView is a view when aligned, undefined otherwise', async () => {
    const align = rt.limits.minStorageBufferOffsetAlignment;
    const rowElems = align / 4;
    const data = randn(3 * rowElems, 4);
    const x = Tensor.from(rt, data, [3, rowElems]);
    const mid = x.narrowView(1, 2)!;
    expectClose(await mid.read(), data.subarray(rowElems), { atol: 0, rtol: 0 }, 'narrow');
    const odd = Tensor.from(rt, randn(9, 5), [9, 1]);
    expect(odd.narrowView(1, 1)).toBeUndefined();
    expect(() => x.narrowView(2, 2)).toThrow(/out of range/);
  });

  it('tidy frees temporaries and keeps results; memory returns to the baseline', async () => {
    await rt.sync();
    const before = rt.memory().inUse;
    const x = Tensor.from(rt, randn(4096, 6), [4096]);
    const y = tidy(rt, () => {
      const a = unary('exp', x);
      const b = unary('neg', a);
      return unary('abs', b);
    });
    expect(rt.memory().inUse - before).toBe(2 * bucketSize(4096 * 4));
    x.dispose();
    y.dispose();
    expect(rt.memory().inUse).toBe(before);
  });

  it('reuses released buffers instead of allocating', async () => {
    await rt.sync();
    const x = Tensor.from(rt, randn(10000, 7), [10000]);
    for (let i = 0; i < 3; i++) tidy(rt, () => unary('neg', unary('exp', x))).dispose();
    await rt.sync();
    const allocated = rt.memory().allocated;
    for (let i = 0; i < 20; i++) tidy(rt, () => unary('neg', unary('exp', x))).dispose();
    await rt.sync();
    // No new storage buffer (40 KB each); only small per-submit uniform buffers may appear.
    expect(rt.memory().allocated - allocated).toBeLessThan(bucketSize(10000 * 4));
    x.dispose();
  });

  it('an upload never takes a buffer still used by unfinished GPU work', async () => {
    // Release a buffer used by a recorded-but-unsubmitted dispatch, then upload: the upload must get a
    // different buffer or the queued write would clobber the dispatch input.
    const a = Tensor.from(rt, new Float32Array(64).fill(2), [64]);
    const y = unary('neg', a);
    const aBuffer = a.binding().buffer;
    a.dispose();
    const b = Tensor.from(rt, new Float32Array(64).fill(5), [64]);
    expect(b.binding().buffer).not.toBe(aBuffer);
    expectClose(await y.read(), new Float32Array(64).fill(-2), { atol: 0, rtol: 0 }, 'neg');
    b.dispose();
    y.dispose();
  });

  it('surfaces GPU validation errors as thrown errors naming the kernel', async () => {
    const x = Tensor.from(rt, randn(8, 8), [8]);
    // A binding larger than the buffer is a validation error raised by Dawn, attributed to the kernel.
    const bad = { ...x.binding(), size: 4096 };
    expect(() =>
      rt.run({ kernel: 'unary', defines: { T: 'f32', EXPR: 'x' }, inputs: [bad], outputs: [x], uniforms: new ArrayBuffer(16), workgroups: [1] }),
    ).toThrow(/unary\{EXPR=x,T=f32\}: binding \[0, \+4096\) past buffer end/);
    rt.run({ kernel: 'unary', defines: { T: 'f32', EXPR: 'x' }, inputs: [x], outputs: [x], uniforms: new ArrayBuffer(16), workgroups: [1] });
    await expect(rt.sync()).rejects.toThrow(GpuError);
    await expect(rt.sync()).resolves.toBeUndefined(); // the error is reported once
  });

  it('rejects dispatches past the per-dimension limit', () => {
    const x = Tensor.from(rt, [1], [1]);
    expect(() => rt.run({ kernel: 'unary', defines: { T: 'f32', EXPR: 'x' }, inputs: [x], outputs: [x], workgroups: [70000] })).toThrow(
      /exceeds maxComputeWorkgroupsPerDimension/,
    );
  });

  it('profiles kernels with timestamp queries when asked', async () => {
    const prof = await Runtime.create({ profile: true });
    try {
      if (!prof.profiler) return; // adapter without timestamp-query
      const x = Tensor.from(prof, randn(4096, 9), [4096]);
      for (let i = 0; i < 3; i++) unary('exp', x).dispose();
      await prof.sync();
      const t = prof.timings().find((k) => k.kernel.startsWith('unary{EXPR=exp(x)'));
      expect(t?.calls).toBe(3);
      expect(t!.totalMs).toBeGreaterThanOrEqual(0);
    } finally {
      await prof.destroy();
    }
  });

  it('reports device loss on the next use', async () => {
    const doomed = await Runtime.create();
    const x = Tensor.from(doomed, [1, 2, 3], [3]);
    doomed.device.destroy();
    await doomed.device.lost;
    expect(() => unary('neg', x)).toThrow(/GPU device lost \(destroyed/);
  });
});
