// Noise sources: SeededNoise is deterministic per seed and standard normal (moments and tails within
// sampling error for 2e5 draws); ReplayNoise hands recorded draws out in order, from arrays or from a
// fixture's noise_NNN tensors, and names the draw, the shapes and the recording in its errors.
import { describe, expect, it } from 'vitest';
import { ReplayNoise, RowNoise, SeededNoise, imageSeed } from '../src/noise.js';
import { fixture, manifestEntry } from './helpers.js';

describe('SeededNoise', () => {
  it('is deterministic per seed and differs between seeds', () => {
    const a = new SeededNoise(42);
    const b = new SeededNoise(42);
    const c = new SeededNoise(43);
    const x1 = a.next([3, 5]);
    expect(Array.from(b.next([3, 5]))).toEqual(Array.from(x1));
    expect(Array.from(c.next([3, 5]))).not.toEqual(Array.from(x1));
    // later draws continue the stream
    expect(Array.from(a.next([7]))).toEqual(Array.from(b.next([7])));
    expect(Array.from(a.next([7]))).not.toEqual(Array.from(x1.subarray(0, 7)));
    // seeds beyond 32 bits matter
    expect(Array.from(new SeededNoise(2 ** 40).next([4]))).not.toEqual(Array.from(new SeededNoise(0).next([4])));
  });

  it('draws standard normals', () => {
    const n = 200_001; // odd: the last pair is cut
    const x = new SeededNoise(7).next([n]);
    let s1 = 0;
    let s2 = 0;
    let s4 = 0;
    let beyond3 = 0;
    let nonFinite = 0;
    for (const v of x) {
      s1 += v;
      s2 += v * v;
      s4 += v ** 4;
      if (Math.abs(v) > 3) beyond3++;
      if (!Number.isFinite(v)) nonFinite++;
    }
    expect(nonFinite).toBe(0);
    const mean = s1 / n;
    const variance = s2 / n - mean * mean;
    // standard errors: mean 1/sqrt(n) = 0.0022, variance sqrt(2/n) = 0.0032, kurtosis ~0.011
    expect(Math.abs(mean)).toBeLessThan(0.01);
    expect(Math.abs(variance - 1)).toBeLessThan(0.015);
    expect(Math.abs(s4 / n / (variance * variance) - 3)).toBeLessThan(0.06);
    // P(|z| > 3) = 0.0027
    expect(beyond3 / n).toBeGreaterThan(0.0022);
    expect(beyond3 / n).toBeLessThan(0.0032);
  });

  it('rejects seeds that are not safe integers', () => {
    expect(() => new SeededNoise(1.5)).toThrow(/seed 1.5 must be a safe integer/);
  });
});

describe('ReplayNoise', () => {
  it('replays arrays in order and names the draw when it runs out or sizes differ', () => {
    const rec = Float32Array.of(3, 4, 5, 6);
    const r = new ReplayNoise([Float32Array.of(1, 2), { data: rec, shape: [2, 2], name: 'rec_b' }]);
    expect(Array.from(r.next([2]))).toEqual([1, 2]);
    expect(() => r.next([4])).toThrow(/draw 1 asks for shape \[4\] but recording rec_b has \[2, 2\]/);
    expect(r.consumed).toBe(1);
    const d = r.next([2, 2]);
    d[0] = 99; // a caller writing into its draw does not change the recording
    expect(rec[0]).toBe(3);
    expect(r.remaining).toBe(0);
    expect(() => r.next([2])).toThrow(/draw 2 asks for shape \[2\] but only 2 draws were recorded/);
    const sizes = new ReplayNoise([Float32Array.of(1, 2, 3)]);
    expect(() => sizes.next([2])).toThrow(/draw 0 asks for shape \[2\] but recording draw 0 has 3 values/);
  });

  it('reads a fixture noise_NNN sequence in order with its recorded shapes', async () => {
    const rel = 'decoder/sample_ddim.safetensors';
    const file = await fixture(rel);
    const log = manifestEntry(rel).noise_log ?? [];
    expect(log.length).toBeGreaterThan(1);
    const r = await ReplayNoise.fromSafetensors(file);
    expect(r.remaining).toBe(log.length);
    for (const [i, entry] of log.entries()) {
      expect(entry.name).toBe(`noise_${String(i).padStart(3, '0')}`);
      const got = r.next(entry.shape);
      expect(got.subarray(0, 4)).toEqual((await file.readFloat32(entry.name)).subarray(0, 4));
    }
    expect(() => r.next(log[0].shape)).toThrow(new RegExp(`draw ${log.length} asks .* only ${log.length} draws were recorded`));
  });

  it('reads prefixed draws and reports a shape mismatch with the tensor name', async () => {
    const file = await fixture('decoder/p_sample.safetensors');
    const r = await ReplayNoise.fromSafetensors(file, 'unet1.');
    const shape = file.info('unet1.noise_000').shape;
    expect(r.remaining).toBe(1);
    const wrong = [shape[0], shape[1], shape[2] / 2, shape[3] * 2];
    expect(() => r.next(wrong)).toThrow(
      new RegExp(`draw 0 asks for shape \\[${wrong.join(', ')}\\] but recording unet1\\.noise_000 has \\[${shape.join(', ')}\\]`),
    );
    expect(Array.from(r.next(shape).subarray(0, 3))).toEqual(Array.from((await file.readFloat32('unet1.noise_000')).subarray(0, 3)));
  });
});

describe('RowNoise', () => {
  it('gives each row group its own stream, whatever the batch', () => {
    // Batch of 2 images with 3 candidate rows each, drawn twice; then image 1 alone.
    const batched = new RowNoise([new SeededNoise(5), new SeededNoise(6)]);
    const a1 = batched.next([6, 4]);
    const a2 = batched.next([6, 4]);
    const alone = new RowNoise([new SeededNoise(6)]);
    expect(alone.next([3, 4])).toEqual(a1.subarray(12, 24));
    expect(alone.next([3, 4])).toEqual(a2.subarray(12, 24));
    expect(new SeededNoise(5).next([3, 4])).toEqual(a1.subarray(0, 12));
    expect(a1.subarray(0, 12)).not.toEqual(a1.subarray(12, 24));
  });

  it('refuses draws that do not split into the row groups', () => {
    const n = new RowNoise([new SeededNoise(1), new SeededNoise(2)]);
    expect(() => n.next([3, 4])).toThrow('RowNoise: draw of shape [3, 4] does not split into 2 row groups');
  });

  it('seeds image k of seed s as image 0 of seed s + k', () => {
    expect(imageSeed(10, 3)).toBe(13);
    expect(() => imageSeed(Number.MAX_SAFE_INTEGER, 1)).toThrow(/not a safe integer/);
  });
});
