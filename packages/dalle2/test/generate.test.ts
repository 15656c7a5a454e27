// generate() on the bundled demo model: replaying the 80 recorded upstream draws (prior draws, then
// decoder draws, one stream) reproduces the reference image; a seeded run draws the prompted colours;
// seeds are reproducible per image (image k of seed s is image 0 of seed s + k, whatever the batching
// and the other prompts); images arrive as they finish; a run cancels at a step boundary; PNGs hold
// the returned pixels and the parameters; options are checked against the model before sampling.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { SafetensorsFile, type Runtime } from '@dalle2/tensor';
import { ReplayNoise } from '@dalle2/sampler';
import { testRuntime } from '@dalle2/tensor/testing';
import { DEFAULT_MODEL_CONFIG, generate, type GeneratedImage, type GenerateProgress } from '../src/generate.js';
import { decodeImage } from '../src/image/index.js';
import { readParameters } from '../src/parameters.js';
import { OptionError } from '../src/plan.js';
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
    await expect(generate([], { manager })).rejects.toThrow('no prompts');
    await expect(generate(['ok', '  '], { manager })).rejects.toThrow('prompt 2 is empty');
    await expect(generate('x', { manager, samples: 0 })).rejects.toThrow(/samples must be a positive integer/);
    await expect(generate('x', { manager, seed: 1.5 })).rejects.toThrow(/seed must be an integer/);
    await expect(generate('x', { manager, steps: 5000 })).rejects.toThrow('decoder steps of unet 1 must be an integer in [1, 1000], got 5000');
    const err = (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => e as OptionError);
    const lists = await err(generate('x', { manager, steps: { decoder: [4, 4, 4] } }));
    expect(lists).toBeInstanceOf(OptionError);
    expect(lists).toMatchObject({ option: 'steps.decoder', message: '3 values for a decoder with 2 unets (give one for all, or one per unet)' });
    expect(await err(generate('x', { manager, condScale: { decoder: [1, -2] } }))).toMatchObject({ option: 'condScale.decoder', message: 'decoder cond scale of unet 2 must be a number >= 0, got -2' });
    expect(await err(generate('x', { manager, condScale: { decoder: [1, 2, 3] } }))).toMatchObject({ option: 'condScale.decoder' });
    const long = 'red '.repeat(400);
    expect(await err(generate(['ok', long], { manager }))).toMatchObject({ option: 'prompt', message: 'prompt 2 is 400 tokens long; the model reads at most 256' });
  });

  it('truncate: an over-long prompt uses its first 256 tokens', async () => {
    const long = `a red circle on a blue background ${'and more '.repeat(200)}`;
    const [cut] = await generate(long, { manager, steps: 2, truncate: true, seed: 3 });
    expect(cut.width).toBeGreaterThan(0);
    expect(readParameters(cut.png)).toMatchObject({ prompt: long, seed: 3 });
  });
});

describe('per-image seeds, streaming and cancelling', () => {
  const bytes = (im: GeneratedImage) => Buffer.from(im.pixels.buffer, im.pixels.byteOffset, im.pixels.byteLength);

  it('image k of seed s is image 0 of seed s + k, whatever the batch size and the other prompts', async () => {
    const opts = { manager, steps: 3 };
    const run = await generate(['a red circle on a blue background', 'a yellow square on a black background'], { ...opts, seed: 20, samples: 3, batchSize: 2 });
    expect(run.map((im) => [im.promptIndex, im.sampleIndex, im.seed])).toEqual([
      [0, 0, 20], [0, 1, 21], [0, 2, 22], [1, 0, 20], [1, 1, 21], [1, 2, 22],
    ]);
    const alone = await generate('a yellow square on a black background', { ...opts, seed: 22 });
    expect(bytes(alone[0]).equals(bytes(run[5]))).toBe(true);
    const batched = await generate(['a yellow square on a black background'], { ...opts, seed: 20, samples: 3, batchSize: 3 });
    // Another batch size may pick other kernels for the bigger products (their sums round differently):
    // the same image up to float rounding, at most 1 LSB in 8 bits.
    batched.forEach((im, k) => {
      let maxDiff = 0;
      im.pixels.forEach((v, i) => (maxDiff = Math.max(maxDiff, Math.abs(v - run[3 + k].pixels[i]))));
      let maxLsb = 0;
      im.rgb.forEach((v, i) => (maxLsb = Math.max(maxLsb, Math.abs(v - run[3 + k].rgb[i]))));
      expect(maxDiff).toBeLessThan(1e-5);
      expect(maxLsb).toBeLessThanOrEqual(1);
    });
    expect(bytes(run[3]).equals(bytes(run[4]))).toBe(false);
    expect(readParameters(run[4].png)).toMatchObject({
      kind: 'dream', prompt: 'a yellow square on a black background', seed: 21, runSeed: 20, sample: 1,
      plan: { priorSteps: 3, decoderSteps: [3, 3], decoderCondScale: [2, 1] },
    });
  });

  it('hands each image over as soon as it is decoded', async () => {
    const events: string[] = [];
    const images = await generate('a white square on a red background', {
      manager, steps: 2, samples: 2, batchSize: 1, seed: 4,
      onProgress: (p) => {
        if (p.stage === 'decoder' && p.step === 0 && p.unet === 1) events.push(`decoder batch ${p.batch}`);
      },
      onImage: (im) => {
        events.push(`image ${im.sampleIndex}`);
      },
    });
    expect(events).toEqual(['decoder batch 0', 'image 0', 'decoder batch 1', 'image 1']);
    expect(images).toHaveLength(2);
  });

  it('an abort signal stops the run at the next step and keeps what finished', async () => {
    const ctl = new AbortController();
    const got: GeneratedImage[] = [];
    const run = generate('a blue circle on a white background', {
      manager, steps: 2, samples: 3, batchSize: 1, signal: ctl.signal,
      onImage: (im) => {
        got.push(im);
        ctl.abort(new Error('stopped by the test'));
      },
    });
    await expect(run).rejects.toThrow('stopped by the test');
    expect(got).toHaveLength(1);
    // the manager is still usable afterwards
    expect(await generate('a blue circle on a white background', { manager, steps: 2 })).toHaveLength(1);
  });
});
