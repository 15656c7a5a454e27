// generate() on the bundled demo model: replaying the 80 recorded upstream draws (prior draws, then
// decoder draws, one stream) reproduces the reference image; a seeded run draws the prompted colours;
// seeds are reproducible; PNGs hold the returned pixels.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { SafetensorsFile, type Runtime } from '@dalle2/tensor';
import { ReplayNoise } from '@dalle2/sampler';
import { testRuntime } from '@dalle2/tensor/testing';
import { DEFAULT_MODEL_CONFIG, generate, type GeneratedImage, type GenerateProgress } from '../src/generate.js';
import { decodeImage } from '../src/image/index.js';
import { DalleModelManager } from '../src/manager/index.js';

const REFERENCE = fileURLToPath(new URL('../models/demo/samples/reference_generation.safetensors', import.meta.url));
const SLOW = 900_000; // a full 32 + 32 + 16-step generation takes ~40-80 s on lavapipe

let rt: Runtime;
let manager: DalleModelManager;

beforeAll(async () => {
  rt = await testRuntime();
  manager = await DalleModelManager.load(DEFAULT_MODEL_CONFIG, { rt });
});
afterAll(async () => {
  await manager?.dispose();
});

/** Fractions of pixels (CHW floats in [0, 1]) that are clearly of a colour. */
function colourShares(im: GeneratedImage): Record<'red' | 'blue' | 'white' | 'yellow', number> {
  const n = im.width * im.height;
  const share = { red: 0, blue: 0, white: 0, yellow: 0 };
  for (let i = 0; i < n; i++) {
    const [r, g, b] = [im.pixels[i], im.pixels[n + i], im.pixels[2 * n + i]];
    if (r > 0.55 && g < 0.35 && b < 0.35) share.red++;
    if (b > 0.55 && r < 0.35 && g < 0.35) share.blue++;
    if (r > 0.75 && g > 0.75 && b > 0.75) share.white++;
    if (r > 0.6 && g > 0.6 && b < 0.4) share.yellow++;
  }
  for (const k of Object.keys(share) as (keyof typeof share)[]) share[k] /= n;
  return share;
}

describe('generate on the bundled demo model', () => {
  it('replaying the recorded draws reproduces the reference generation', { timeout: SLOW }, async () => {
    const file = await SafetensorsFile.open(REFERENCE);
    try {
      const noise = await ReplayNoise.fromSafetensors(file);
      expect(noise.remaining).toBe(80);
      const stages = new Set<string>();
      const [img, ...rest] = await generate(file.metadata.prompt, {
        manager,
        noise,
        onProgress: (p: GenerateProgress) => stages.add(p.stage === 'decoder' ? `decoder ${p.unet}/${p.unets} ${p.steps}` : `${p.stage} ${'steps' in p ? p.steps : ''}`),
      });
      expect(rest).toEqual([]);
      expect(noise.remaining).toBe(0); // every draw used, in order: 32 prior, 32 + 16 decoder
      expect([...stages]).toEqual(['prior 32', 'decoder 1/2 32', 'decoder 2/2 16']);
      expect(file.metadata.prompt).toBe('a red circle on a white background');
      const want = await file.readFloat32('image');
      let worst = 0;
      for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(img.pixels[i] - want[i]));
      expect(worst).toBeLessThan(2e-3);
      // 8-bit output: (x * 255).byte() of the same floats, so within 1 LSB of upstream's uint8 image
      const want8 = (await file.read('image_uint8')) as Uint8Array; // [1, 3, 32, 32]
      const n = 32 * 32;
      let lsb = 0;
      for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) lsb = Math.max(lsb, Math.abs(img.rgb[i * 3 + c] - want8[c * n + i]));
      expect(lsb).toBeLessThanOrEqual(1);
      const decoded = await decodeImage(img.png);
      expect([decoded.width, decoded.height]).toEqual([32, 32]);
      expect(Buffer.from(decoded.data).equals(Buffer.from(img.rgb))).toBe(true);
    } finally {
      await file.close();
    }
  });

  it('a seeded generation draws the prompted colours', { timeout: SLOW }, async () => {
    const [red, blue] = await generate(['a red circle on a white background', 'a blue square on a yellow background'], { manager, seed: 0 });
    expect([red.prompt, blue.prompt, red.promptIndex, blue.promptIndex]).toEqual([
      'a red circle on a white background',
      'a blue square on a yellow background',
      0,
      1,
    ]);
    const r = colourShares(red);
    const b = colourShares(blue);
    // The shape covers roughly 10-40 % of the 32x32 image, the background most of the rest.
    expect(r.red, JSON.stringify(r)).toBeGreaterThan(0.05);
    expect(r.white, JSON.stringify(r)).toBeGreaterThan(0.3);
    expect(r.blue + r.yellow, JSON.stringify(r)).toBeLessThan(0.02);
    expect(b.blue, JSON.stringify(b)).toBeGreaterThan(0.05);
    expect(b.yellow, JSON.stringify(b)).toBeGreaterThan(0.3);
    expect(b.red + b.white, JSON.stringify(b)).toBeLessThan(0.02);
  });

  it('the same seed gives the same images, another seed other images; samples per prompt', async () => {
    const opts = { manager, steps: 3, samples: 2 };
    const a = await generate('a green triangle on a black background', { ...opts, seed: 11 });
    const again = await generate('a green triangle on a black background', { ...opts, seed: 11 });
    const other = await generate('a green triangle on a black background', { ...opts, seed: 12 });
    expect(a.map((x) => [x.promptIndex, x.sampleIndex])).toEqual([
      [0, 0],
      [0, 1],
    ]);
    expect(Buffer.from(a[0].pixels.buffer).equals(Buffer.from(again[0].pixels.buffer))).toBe(true);
    expect(Buffer.from(a[1].pixels.buffer).equals(Buffer.from(again[1].pixels.buffer))).toBe(true);
    expect(Buffer.from(a[0].pixels.buffer).equals(Buffer.from(a[1].pixels.buffer))).toBe(false);
    expect(Buffer.from(a[0].pixels.buffer).equals(Buffer.from(other[0].pixels.buffer))).toBe(false);
  });

  it('per-stage steps and guidance overrides reach the samplers', async () => {
    const seen = new Map<string, number>();
    await generate('a white square on a red background', {
      manager,
      steps: { prior: 2, decoder: [3, 2] },
      condScale: { decoder: [1.5, 1] },
      onProgress: (p) => {
        if (p.stage !== 'load') seen.set(p.stage === 'prior' ? 'prior' : `unet ${p.unet}`, p.steps);
      },
    });
    expect(Object.fromEntries(seen)).toEqual({ prior: 2, 'unet 1': 3, 'unet 2': 2 });
  });

  it('rejects bad options with a clear message', async () => {
    await expect(generate([], { manager })).rejects.toThrow('generate: no prompts');
    await expect(generate(['ok', '  '], { manager })).rejects.toThrow('generate: prompt 1 is empty');
    await expect(generate('x', { manager, samples: 0 })).rejects.toThrow(/samples must be a positive integer/);
    await expect(generate('x', { manager, seed: 1.5 })).rejects.toThrow(/seed must be a safe integer/);
    await expect(generate('x', { manager, steps: 5000 })).rejects.toThrow(/5000/);
  });
});
