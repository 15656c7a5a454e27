// The dalle2-laion-style scripts behind generate(): upstream batching and grouping of results per
// input, cond-scale defaults from the load config, image variations, and lowMemory stage swapping
// (few sampling steps: exactness is tested in generate.test.ts).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Runtime } from '@dalle2/tensor';
import { testRuntime } from '@dalle2/tensor/testing';
import { DEFAULT_MODEL_CONFIG, generate } from '../src/generate.js';
import type { ImagePreview } from '../src/jobs/index.js';
import { DalleModelManager } from '../src/manager/index.js';
import { BasicInference, ImageVariation, InferenceScript, repeatAndBatch, type SamplingProgress } from '../src/scripts/index.js';

let rt: Runtime;
let manager: DalleModelManager;

beforeAll(async () => {
  rt = await testRuntime();
  manager = await DalleModelManager.load(DEFAULT_MODEL_CONFIG, { rt });
});
afterAll(async () => {
  await manager?.dispose();
});

describe('upstream batching', () => {
  it('repeats each input sampleCount times and splits into batches (_repeat_tensor_and_batch)', () => {
    expect(repeatAndBatch(3, 2, 4)).toEqual([
      [0, 0, 1, 1],
      [2, 2],
    ]);
    expect(repeatAndBatch(1, 1, 10)).toEqual([[0]]);
    expect(() => repeatAndBatch(2, 0, 1)).toThrow(/sample count 0/);
    expect(() => repeatAndBatch(2, 1, 0)).toThrow(/batch size 0/);
  });
});

describe('scripts on the bundled model', () => {
  it('BasicInference groups images per prompt and per embedding, batching as asked', async () => {
    const batches = new Set<string>();
    const script = new BasicInference(manager, {
      seed: 3,
      onProgress: (p: SamplingProgress) => batches.add(`${p.stage} ${p.batch + 1}/${p.batches}`),
    });
    const out = await script.run(['a red circle on a white background', 'a purple square on a green background'], {
      priorSampleCount: 2,
      decoderSampleCount: 2,
      priorBatchSize: 3,
      decoderBatchSize: 5,
      priorTimesteps: 2,
      decoderTimesteps: [2, 2],
    });
    expect(out.map((r) => r.prompt)).toEqual(['a red circle on a white background', 'a purple square on a green background']);
    // 2 prompts x 2 embeddings (global indices 0..3) x 2 images each
    expect(out.map((r) => [...r.byEmbedding.keys()])).toEqual([
      [0, 1],
      [2, 3],
    ]);
    for (const r of out) for (const imgs of r.byEmbedding.values()) expect(imgs.map((d) => [d.image.width, d.pixels.length])).toEqual([[32, 3072], [32, 3072]]);
    // prior: 4 rows in batches of 3; decoder: 8 images in batches of 5
    expect([...batches].sort()).toEqual(['decoder 1/2', 'decoder 2/2', 'prior 1/2', 'prior 2/2']);
  });

  it('default cond scales come from the load config; samplePrior returns sampleCount CLIP-sized embeddings per input', async () => {
    const script = new InferenceScript(manager, { seed: 1 });
    expect(await script.decoderCondScales()).toEqual([2, 1]);
    const embeds = await script.samplePrior(['a yellow diamond on a purple background'], { timesteps: 2, sampleCount: 3 });
    expect([...embeds.keys()]).toEqual([0]);
    expect(embeds.get(0)!.map((e) => e.length)).toEqual([64, 64, 64]);
  });

  it('ImageVariation embeds images with CLIP and decodes variations per image', async () => {
    const first = await new BasicInference(manager, { seed: 2 }).run('a white triangle on a red background', { priorTimesteps: 2, decoderTimesteps: 2 });
    const source = [...first[0].byEmbedding.values()][0][0].image;
    const variations = await new ImageVariation(manager, { seed: 4 }).run([source, source], { sampleCount: 2, timesteps: 2 });
    expect([...variations.keys()]).toEqual([0, 1]);
    expect(variations.get(1)!.map((d) => d.image.width)).toEqual([32, 32]);
  });

  it('lowMemory frees the prior while the decoder runs and vice versa', async () => {
    const m = await DalleModelManager.load(DEFAULT_MODEL_CONFIG, { rt });
    try {
      const seen: string[] = [];
      const script = new BasicInference(m, {
        lowMemory: true,
        onProgress: (p) => {
          if (p.step === 0) seen.push(`${p.stage}: prior ${m.isResident('prior')}, decoder ${m.isResident('decoder')}`);
        },
      });
      await script.run('an orange circle on a blue background', { priorTimesteps: 2, decoderTimesteps: 2 });
      expect(seen).toEqual(['prior: prior true, decoder false', 'decoder: prior false, decoder true', 'decoder: prior false, decoder true']);
      expect(m.isResident('decoder')).toBe(false);
    } finally {
      await m.dispose();
    }
  });
});

describe('decoder previews', () => {
  it('come every N steps per unet (never at the very end), indexed like the results, showing the predicted image', async () => {
    const previews: ImagePreview[] = [];
    const images = await generate(['a red circle on a white background', 'a blue square'], {
      manager, seed: 3, samples: 2, steps: { prior: 2, decoder: [8, 4] }, batchSize: { decoder: 3 },
      preview: { every: 2, onPreview: (p) => void previews.push(p) },
    });
    // unet 1: steps 1, 3, 5, 7; unet 2: step 1 (step 3 is the last: the image itself follows); per decoder batch (3 + 1 rows)
    expect(previews.map((p) => `${p.unet}:${p.step}:${p.images.map((i) => i.index).join(',')}`)).toEqual([
      ...[1, 3, 5, 7].map((s) => `1:${s}:0,1,2`), '2:1:0,1,2',
      ...[1, 3, 5, 7].map((s) => `1:${s}:3`), '2:1:3',
    ]);
    expect(previews[0].images[0].image.width).toBe(16);
    expect(previews[4].images[0].image.width).toBe(32);
    // the predicted x_0 half-way through the upsampler is already close to the final image
    for (const p of [previews[4], previews[9]]) {
      for (const { index, image } of p.images) {
        const final = images[index].rgb;
        const mean = image.data.reduce((a, v, i) => a + Math.abs(v - final[i]), 0) / final.length;
        expect(mean, `image ${index}`).toBeLessThan(25);
      }
    }
  });
});
