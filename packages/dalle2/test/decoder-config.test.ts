// Decoder config parsing (TrainDecoderConfig `decoder`, Decoder.__init__ defaults and casts) and the
// per-unet noise schedules it implies, vs the fixture configs and recorded schedule buffers. No GPU.
import { describe, it, expect } from 'vitest';
import { fileURLToPath } from 'node:url';
import { readFile } from 'node:fs/promises';
import { SafetensorsFile } from '@dalle2/tensor';
import { SCHEDULE_BUFFER_NAMES } from '@dalle2/sampler';
import { Decoder, parseDecoderConfig, loadDecoderConfig, type DecoderConfig } from '../src/pipelines/index.js';

const FIXTURES = new URL('../../../../shared/fixtures/', import.meta.url);
const fixture = (rel: string) => fileURLToPath(new URL(rel, FIXTURES));

type Doc = { decoder: Record<string, unknown> };

async function doc(rel = 'decoder/config.json'): Promise<Doc> {
  return JSON.parse(await readFile(fixture(rel), 'utf8')) as Doc;
}

/** The fixture config with `decoder` patched (undefined deletes a key). */
async function patched(patch: Record<string, unknown>, rel?: string): Promise<Doc> {
  const d = await doc(rel);
  for (const [k, v] of Object.entries(patch)) {
    if (v === undefined) delete d.decoder[k];
    else d.decoder[k] = v;
  }
  return d;
}

/** A decoder over config without weights (its schedules only). */
function schedulesOf(config: DecoderConfig): Decoder {
  return new Decoder({ unets: config.unets.map(() => () => Promise.reject(new Error('no weights in this test'))), config });
}

describe('parseDecoderConfig', () => {
  it('reads the fixture configs (file or object) with the Decoder casts', async () => {
    const d = await doc();
    const c = await loadDecoderConfig(fixture('decoder/config.json'));
    expect(parseDecoderConfig(d)).toEqual(c);
    const dec = d.decoder;
    const n = (dec.unets as unknown[]).length;
    expect(c.unets).toHaveLength(n);
    expect(c.imageSizes).toEqual([...(dec.image_sizes as number[])].sort((a, b) => a - b));
    expect(c.timesteps).toBe(dec.timesteps);
    expect(c.sampleTimesteps).toEqual(dec.sample_timesteps);
    expect(c.betaSchedules).toEqual(dec.beta_schedule);
    expect(c.learnedVariance).toEqual(dec.learned_variance);
    expect(c.ddimSamplingEta).toBe(1);
    expect(c.autoNormalizeImg).toBe(true);
    c.unets.forEach((u, i) => {
      expect(u.lowresCond).toBe(i > 0);
      expect(u.condOnImageEmbeds).toBe(i === 0);
      expect(u.channelsOut).toBe(c.channels * (c.learnedVariance[i] ? 2 : 1));
    });
    const ddpm = await loadDecoderConfig(fixture('decoder/config_ddpm.json'));
    expect(ddpm.sampleTimesteps).toEqual(Array(n).fill(null));
    expect(ddpm.unets).toEqual(c.unets);
  });

  it('applies upstream defaults: beta_schedule, learned_variance, sample_timesteps, image sizes', async () => {
    const c = parseDecoderConfig(await patched({ beta_schedule: undefined, learned_variance: undefined, sample_timesteps: 4, image_sizes: [32, 16, 32] }));
    expect(c.betaSchedules).toEqual(['cosine', 'linear']); // Decoder default: cosine ..., linear for the last
    expect(c.learnedVariance).toEqual([true, false]); // cast_tuple(True) padded with False
    expect(c.unets.map((u) => u.channelsOut)).toEqual([6, 3]);
    expect(c.sampleTimesteps).toEqual([4, 4]);
    expect(c.imageSizes).toEqual([16, 32]); // sorted(set(image_sizes))
    const lv = parseDecoderConfig(await patched({ learned_variance: false }));
    expect(lv.learnedVariance).toEqual([false, false]);
    expect(lv.unets.map((u) => u.channelsOut)).toEqual([3, 3]);
    const bare = parseDecoderConfig((await doc()).decoder);
    expect(bare).toEqual(await loadDecoderConfig(fixture('decoder/config.json')));
  });

  it('names the JSON path of unknown, invalid and unsupported settings', async () => {
    const bad = async (patch: Record<string, unknown>) => parseDecoderConfig(await patched(patch), 'cfg.json');
    await expect(bad({ foo: 1 })).rejects.toThrow('cfg.json: decoder.foo: unsupported option');
    await expect(bad({ sample_timesteps: [8, 2000] })).rejects.toThrow(/cfg\.json: decoder\.sample_timesteps: unet 2: 2000 sampling steps exceed the 1000/);
    await expect(bad({ sample_timesteps: [8] })).rejects.toThrow(/decoder\.sample_timesteps: expected null or an integer >= 1 or a list of 2/);
    await expect(bad({ beta_schedule: ['cosine', 'exotic'] })).rejects.toThrow(/decoder\.beta_schedule: expected one of cosine/);
    await expect(bad({ image_size: 32 })).rejects.toThrow(/decoder\.image_sizes: give exactly one of image_size and image_sizes/);
    await expect(bad({ image_sizes: [16, 16] })).rejects.toThrow(/decoder\.image_sizes: 1 distinct image size\(s\) \[16\] for 2 unet/);
    await expect(bad({ use_dynamic_thres: true })).rejects.toThrow(/decoder\.use_dynamic_thres: unsupported value true/);
    await expect(bad({ vae: [{}] })).rejects.toThrow(/decoder\.vae: unsupported value/);
    await expect(bad({ timesteps: 0 })).rejects.toThrow(/decoder\.timesteps: expected an integer >= 1/);
    const d = await patched({});
    (d.decoder.unets as Record<string, unknown>[])[1].bogus = 1;
    expect(() => parseDecoderConfig(d, 'cfg.json')).toThrow('cfg.json: decoder.unets[1].bogus: unsupported option');
    // training-only options are accepted (and ignored)
    const train = parseDecoderConfig(await patched({ blur_sigma: 0.6, clip_denoised: false, vb_loss_weight: 0.001, random_crop_sizes: null }));
    expect(train).toEqual(await loadDecoderConfig(fixture('decoder/config.json')));
  });
});

describe('Decoder noise schedules', () => {
  it('match the recorded noise_schedulers.* buffers of both fixture configs', async () => {
    for (const [cfg, buffers] of [
      ['decoder/config.json', 'decoder/weights.safetensors'],
      ['decoder/config_ddpm.json', 'decoder/ddpm_schedules.safetensors'],
    ]) {
      const dec = schedulesOf(await loadDecoderConfig(fixture(cfg)));
      const f = await SafetensorsFile.open(fixture(buffers));
      try {
        for (let i = 0; i < dec.numUnets; i++) {
          expect(dec.schedules[i].numTimesteps).toBe(dec.config.timesteps);
          for (const name of SCHEDULE_BUFFER_NAMES) {
            const want = await f.readFloat32(`noise_schedulers.${i}.${name}`);
            const got = dec.schedules[i].f32[name];
            let worst = 0;
            want.forEach((w, k) => (worst = Math.max(worst, Math.abs(w - got[k]) / Math.max(1, Math.abs(w)))));
            expect(worst, `${cfg} unet ${i} ${name}`).toBeLessThan(1e-6);
          }
        }
      } finally {
        await f.close();
      }
    }
  });
});
