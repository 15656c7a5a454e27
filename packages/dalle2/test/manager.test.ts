// DalleModelManager on the bundled demo model (and, where shared/ is present, its legacy / fp16 /
// safetensors copies): what it loads and reports, where CLIP comes from, schedules computed from the
// config, releasing and reloading GPU memory, combining unet sources, and every load error's message.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { copyFile, readFile, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SafetensorsFile, Tensor, serializeSafetensors, type Runtime, type TensorsToWrite } from '@dalle2/tensor';
import { NoiseSchedule } from '@dalle2/sampler';
import { testRuntime } from '@dalle2/tensor/testing';
import { parseModelLoadConfig, type ModelLoadConfig } from '../src/config/index.js';
import { readPth } from '../src/checkpoint/index.js';
import { DalleModelManager, formatReport, type ModelReport } from '../src/manager/index.js';
import { removeTempDirs, tempDir } from './helpers/tmp.js';

const BUNDLED = fileURLToPath(new URL('../models/demo/', import.meta.url));
const SHARED = fileURLToPath(new URL('../../../../shared/demo-model/', import.meta.url));
const haveShared = existsSync(join(SHARED, 'decoder_fp16.pth'));
const bundled = (name: string) => join(BUNDLED, name);

let rt: Runtime;
let demo: DalleModelManager;
const warnings: string[] = [];

beforeAll(async () => {
  rt = await testRuntime();
  demo = await DalleModelManager.load(bundled('model_config.json'), { rt, warn: (m) => warnings.push(m) });
});
afterAll(async () => {
  await demo?.dispose();
  await removeTempDirs();
});

/** A config object whose relative paths resolve against `dir`. */
function config(json: unknown, dir = BUNDLED): ModelLoadConfig {
  return parseModelLoadConfig(json, join(dir, 'model_config.json'));
}

const local = (path: string) => ({ load_type: 'local', path });
const priorSection = { load_model_from: local('prior.pth'), load_config_from: local('prior_config.json'), default_sample_timesteps: 32 };
const decoderSection = { unet_sources: [{ unet_numbers: [1, 2], load_model_from: local('decoder.pth'), default_cond_scale: [2.0, 1.0] }] };

/**
 * Rewrites a safetensors file so its first key passing `pick` is a 1-D F32 weight over a 1 GiB sparse
 * region at the end: a loader that reads before checking shapes pays a gigabyte for it. Returns the key.
 */
async function pointAtHugeRegion(path: string, pick: (key: string) => boolean): Promise<string> {
  const bytes = await readFile(path);
  const n = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + n).toString()) as Record<string, unknown>;
  const key = Object.keys(header).find(pick) as string;
  const dataLen = bytes.length - 8 - n;
  header[key] = { dtype: 'F32', shape: [2 ** 28], data_offsets: [dataLen, dataLen + 2 ** 30] };
  const json = Buffer.from(JSON.stringify(header));
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(json.length));
  await writeFile(path, Buffer.concat([prefix, json, bytes.subarray(8 + n)]));
  await truncate(path, 8 + json.length + dataLen + 2 ** 30);
  return key;
}

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

function reportOf(m: DalleModelManager, kind: ModelReport['kind']): ModelReport {
  const r = m.report().find((x) => x.kind === kind);
  if (!r) throw new Error(`no ${kind} report`);
  return r;
}

/** Unet `n`'s forward on a fixed input (same for every decoder copy). */
async function unetOutput(m: DalleModelManager, n: number): Promise<Float32Array> {
  const d = await m.decoder();
  const unet = await d.decoder.unet(n - 1);
  const S = d.config.imageSizes[n - 1];
  const x = Tensor.from(rt, Float32Array.from({ length: 3 * S * S }, (_, i) => Math.sin(i * 0.37)), [1, 3, S, S]);
  const e = Tensor.from(rt, Float32Array.from({ length: 64 }, (_, i) => Math.cos(i * 0.11) / 4), [1, 64]);
  const lowres = n > 1 ? Tensor.from(rt, Float32Array.from({ length: 3 * S * S }, (_, i) => Math.cos(i * 0.05)), [1, 3, S, S]) : undefined;
  const out = unet.forward({ x, timesteps: [420], imageEmbed: e, lowresCondImg: lowres });
  try {
    return await out.toFloat32();
  } finally {
    for (const t of [x, e, lowres, out]) t?.dispose();
  }
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe('bundled demo model', () => {
  it('loads CLIP, prior and both unets and reports them', () => {
    const kinds = demo.report().map((r) => r.kind);
    expect(kinds).toEqual(['clip', 'prior', 'decoder']);
    const prior = reportOf(demo, 'prior');
    expect(prior.params).toBe(353_856); // README: 353,856 (rotary freqs buffers not counted)
    expect(prior.storedDtypes).toEqual({ F32: 50 });
    expect(prior.dtype).toBe('f32');
    const decoder = reportOf(demo, 'decoder');
    expect(decoder.params).toBe(1_272_070 + 978_780);
    expect(decoder.version).toBe('1.1.0');
    expect(decoder.description).toContain('16->32px');
    const clip = reportOf(demo, 'clip');
    expect(clip.storedDtypes).toEqual({ F16: 98 });
    for (const r of [clip, prior, decoder]) {
      expect(r.resident).toBe(true);
      expect(r.gpuBytes).toBeGreaterThanOrEqual(r.params * 4);
      expect(formatReport(r)).toContain(r.kind);
    }
    expect(warnings).toEqual([]);
  });

  it('takes sampling defaults from the load config and schedules from the model config', async () => {
    const d = await demo.decoder();
    expect(d.config.imageSizes).toEqual([16, 32]);
    expect(d.config.sampleTimesteps).toEqual([32, 16]);
    expect(d.unets.map((u) => u.condScale)).toEqual([2, 1]);
    expect(d.config.learnedVariance).toEqual([true, false]);
    const cosine = NoiseSchedule.create('cosine', 1000);
    for (const s of d.decoder.schedules) expect(Buffer.from(s.f32.alphas_cumprod.buffer).equals(Buffer.from(cosine.f32.alphas_cumprod.buffer))).toBe(true);
    const prior = await demo.prior();
    expect(prior.config.sampleTimesteps).toBe(32);
    expect(prior.config.predictXStart).toBe(true);
    expect(demo.priorDefaults().condScale).toBe(1);
    expect((await demo.clip()).kind).toBe('load_model_from');
  });

  it('releases a model\'s GPU memory and reloads it from its files on next use', async () => {
    const before = await unetOutput(demo, 2);
    const inUse = rt.memory().inUse;
    demo.release('decoder', 2);
    expect(demo.isResident('decoder')).toBe(false);
    expect(reportOf(demo, 'decoder').gpuBytes).toBeLessThan(reportOf(demo, 'decoder').params * 4);
    demo.release('prior');
    expect(reportOf(demo, 'prior').resident).toBe(false);
    expect(rt.memory().inUse).toBeLessThan(inUse);
    expect(maxAbsDiff(await unetOutput(demo, 2), before)).toBe(0);
    expect(demo.isResident('decoder')).toBe(true);
    expect((await demo.prior()).params).toBe(353_856);
    expect(demo.report().every((r) => r.resident)).toBe(true);
  });

  it('loads the upstream-format config (clip.model names the weights file)', async () => {
    const m = await DalleModelManager.load(bundled('model_config.upstream.json'), { rt, warn: (w) => warnings.push(w) });
    try {
      const clip = await m.clip();
      expect(clip.kind).toBe('model_path');
      expect(clip.path).toBe(bundled('clip.safetensors'));
    } finally {
      await m.dispose();
    }
  });
});

describe('where CLIP comes from', () => {
  it('falls back to the clip.* weights inside the prior checkpoint, with the same embeddings', async () => {
    const m = await DalleModelManager.load(config({ prior: priorSection }), { rt });
    try {
      const clip = await m.clip();
      expect(clip.kind).toBe('prior_checkpoint');
      expect(clip.storedDtypes).toEqual({ F16: 98 });
      const tokens = Int32Array.from({ length: 77 }, (_, i) => (i < 5 ? 320 + i * 7 : 0));
      const a = clip.adapter.embedText(tokens, 1);
      const b = (await demo.clip()).adapter.embedText(tokens, 1);
      expect(maxAbsDiff(await a.textEmbed.toFloat32(), await b.textEmbed.toFloat32())).toBe(0);
      for (const t of [a.textEmbed, a.textEncodings, b.textEmbed, b.textEncodings]) t.dispose();
      expect(m.report().map((r) => r.kind)).toEqual(['clip', 'prior']);
    } finally {
      await m.dispose();
    }
  });

  it('says what to provide when no CLIP weights are anywhere', async () => {
    const dir = await tempDir();
    // the prior without its clip.* keys, as safetensors
    const ck = await readPth(bundled('prior.pth'));
    const tensors: TensorsToWrite = {};
    for (const [k, t] of ck.stateDict()) if (!k.startsWith('clip.')) tensors[k] = { dtype: 'F32', shape: [...t.shape], data: await t.readFloat32() };
    await ck.close();
    await writeFile(join(dir, 'prior.safetensors'), serializeSafetensors(tensors));
    await copyFile(bundled('prior_config.json'), join(dir, 'prior_config.json'));
    const cfg = config({ prior: { ...priorSection, load_model_from: local('prior.safetensors') } }, dir);
    const err = await DalleModelManager.load(cfg, { rt }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/CLIP .*is required \(the prior embeds prompts with it\)/);
    expect((err as Error).message).toContain('clip.load_model_from');
    expect((err as Error).message).toContain('Hugging Face');
    // and with the weights named, the safetensors prior loads
    const ok = await DalleModelManager.load(
      config({ prior: { ...priorSection, load_model_from: local(join(dir, 'prior.safetensors')) }, clip: { load_model_from: local('clip.safetensors') } }),
      { rt },
    );
    expect((await ok.prior()).params).toBe(353_856);
    await ok.dispose();
  });

  it('rejects CLIP makes it cannot load, and x-clip / coca without their constructor kwargs', async () => {
    const err = await DalleModelManager.load(config({ prior: priorSection, clip: { make: 'open_clip' } }), { rt }).catch((e: Error) => e);
    expect((err as Error).message).toMatch(/clip\.make: "open_clip" is not supported \(supported: "openai", "x-clip", "coca"/);
    for (const make of ['x-clip', 'coca']) {
      const e = await DalleModelManager.load(config({ prior: priorSection, clip: { make } }), { rt }).catch((x: Error) => x);
      expect((e as Error).message).toMatch(new RegExp(`^clip\\.base_model_kwargs: is required for make "${make}"`));
    }
  });
});

describe('load errors name the config field', () => {
  it('a bare prior state dict without load_config_from', async () => {
    const err = await DalleModelManager.load(config({ prior: { load_model_from: local('prior.pth') } }), { rt }).catch((e: Error) => e);
    expect((err as Error).message).toMatch(/^prior\.load_config_from: .*prior\.pth is a bare state dict/);
  });

  it('a unet number the checkpoint does not have', async () => {
    const cfg = config({ decoder: { unet_sources: [{ unet_numbers: [1, 2, 3], load_model_from: local('decoder.pth') }] } });
    const err = await DalleModelManager.load(cfg, { rt }).catch((e: Error) => e);
    expect((err as Error).message).toMatch(/^decoder\.unet_sources\[0\]\.unet_numbers: unet 3 is not in .*decoder\.pth \(its config has 2 unet/);
  });

  it('a missing file', async () => {
    const err = await DalleModelManager.load(config({ decoder: { unet_sources: [{ unet_numbers: [1], load_model_from: local('nope.pth') }] } }), { rt }).catch((e: Error) => e);
    expect((err as Error).message).toMatch(/^decoder\.unet_sources\[0\]\.load_model_from: local file not found/);
  });

  it('a hostile model config (deep nesting, oversized) is refused before its parser recurses', async () => {
    const dir = await tempDir();
    const deep = join(dir, 'deep_prior_config.json');
    await writeFile(deep, `{"prior":${'{"a":'.repeat(50_000)}1${'}'.repeat(50_000)}}`);
    const cfg = config({ prior: { load_model_from: local(bundled('prior.pth')), load_config_from: local(deep) } }, dir);
    const err = await DalleModelManager.load(cfg, { rt }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/^prior\.load_config_from: .*deep_prior_config\.json: prior(\.a){31}: nested deeper than 32 levels$/);
    const big = join(dir, 'big_prior_config.json');
    await writeFile(big, Buffer.alloc(17 * 2 ** 20, 0x20));
    const cfg2 = config({ prior: { load_model_from: local(bundled('prior.pth')), load_config_from: local(big) } }, dir);
    expect(((await DalleModelManager.load(cfg2, { rt }).catch((e: Error) => e)) as Error).message).toMatch(/big_prior_config\.json is 17825792 bytes \(limit 16777216/);
  });

  it('a file that is no checkpoint', async () => {
    const cfg = config({ decoder: { unet_sources: [{ unet_numbers: [1, 2], load_model_from: local('decoder_config.json') }] } });
    const err = await DalleModelManager.load(cfg, { rt }).catch((e: Error) => e);
    expect((err as Error).message).toMatch(/decoder\.unet_sources\[0\]\.load_model_from: .*decoder_config\.json is neither a PyTorch checkpoint/);
  });
});

describe('combining unet sources', () => {
  it('takes each unet from the source that lists it, with that source\'s defaults', async () => {
    const cfg = config({
      decoder: {
        unet_sources: [
          { unet_numbers: [2], load_model_from: local('decoder.pth'), default_sample_timesteps: [8], default_cond_scale: [1.5] },
          { unet_numbers: [1], load_model_from: local('decoder.pth'), default_sample_timesteps: [12] },
        ],
      },
    });
    const m = await DalleModelManager.load(cfg, { rt });
    try {
      const d = await m.decoder();
      expect(d.unets.map((u) => [u.number, u.sourceIndex, u.sampleTimesteps, u.condScale])).toEqual([
        [1, 1, 12, 1],
        [2, 0, 8, 1.5],
      ]);
      expect(d.config.sampleTimesteps).toEqual([12, 8]);
      expect(maxAbsDiff(await unetOutput(m, 1), await unetOutput(demo, 1))).toBe(0);
      // its config names a clip (for image inputs) but no weights are given: loaded only when asked for
      expect(m.report().map((r) => r.kind)).toEqual(['decoder']);
      await expect(m.clip()).rejects.toThrow(/the decoder needs CLIP image embeddings of input images.*clip\.load_model_from/);
    } finally {
      await m.dispose();
    }
  });

  async function variantConfig(patch: (d: Record<string, unknown>) => void): Promise<string> {
    const dir = await tempDir();
    const doc = JSON.parse(await readFile(bundled('decoder_config.json'), 'utf8')) as { decoder: Record<string, unknown> };
    patch(doc.decoder);
    const path = join(dir, 'decoder_config.json');
    await writeFile(path, JSON.stringify(doc));
    return path;
  }

  it('refuses unets whose image sizes do not chain', async () => {
    const other = await variantConfig((d) => (d.image_sizes = [8, 32]));
    const cfg = config({
      decoder: {
        unet_sources: [
          { unet_numbers: [1], load_model_from: local('decoder.pth') },
          { unet_numbers: [2], load_model_from: local('decoder.pth'), load_config_from: local(other) },
        ],
      },
    });
    const err = await DalleModelManager.load(cfg, { rt }).catch((e: Error) => e);
    expect((err as Error).message).toMatch(/^decoder\.unet_sources\[1\]: unet 2 upsamples from 8px but unet 1 \(decoder\.unet_sources\[0\]\) outputs 16px/);
  });

  it('refuses unets trained with different timesteps', async () => {
    const other = await variantConfig((d) => {
      d.timesteps = 500;
      d.sample_timesteps = [32, 16];
    });
    const cfg = config({
      decoder: {
        unet_sources: [
          { unet_numbers: [1], load_model_from: local('decoder.pth') },
          { unet_numbers: [2], load_model_from: local('decoder.pth'), load_config_from: local(other) },
        ],
      },
    });
    const err = await DalleModelManager.load(cfg, { rt }).catch((e: Error) => e);
    expect((err as Error).message).toMatch(/unet 2 was trained with 500 timesteps but unet 1 with 1000/);
  });
});

describe('strict loading and versions', () => {
  async function decoderCopy(extra: TensorsToWrite, metadata?: Record<string, string>): Promise<string> {
    const src = haveShared ? join(SHARED, 'decoder.safetensors') : undefined;
    const tensors: TensorsToWrite = { ...extra };
    if (src) {
      const f = await SafetensorsFile.open(src);
      for (const k of f.keys()) tensors[k] = { dtype: 'F32', shape: f.info(k).shape, data: await f.readFloat32(k) };
      await f.close();
    } else {
      const ck = await readPth(bundled('decoder.pth'));
      for (const [k, t] of ck.stateDict()) tensors[k] = { dtype: 'F32', shape: [...t.shape], data: await t.readFloat32() };
      await ck.close();
    }
    const dir = await tempDir();
    const path = join(dir, 'decoder.safetensors');
    await writeFile(path, serializeSafetensors(tensors, metadata));
    return path;
  }

  const sourceOf = (path: string, strict: boolean) =>
    config({
      strict_loading: strict,
      decoder: { unet_sources: [{ unet_numbers: [1, 2], load_model_from: local(path), load_config_from: local('decoder_config.json') }] },
    });

  it('a unet weight of the wrong shape fails by name before any tensor data is read', async () => {
    const path = await decoderCopy({});
    const key = await pointAtHugeRegion(path, (k) => k.startsWith('unets.0.') && k.endsWith('.weight'));
    const before = process.memoryUsage().rss;
    const err = await DalleModelManager.load(sourceOf(path, true), { rt })
      .then(async (m) => {
        try {
          await m.decoder();
        } finally {
          await m.dispose();
        }
      })
      .catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(new RegExp(`weight "${escapeRe(key)}" has shape \\[268435456\\], expected \\[`));
    expect(process.memoryUsage().rss - before).toBeLessThan(512 * 2 ** 20);
  });

  it('a prior weight of the wrong shape fails by name before any tensor data is read', async () => {
    const dir = await tempDir();
    const ck = await readPth(bundled('prior.pth'));
    const tensors: TensorsToWrite = {};
    for (const [k, t] of ck.stateDict()) tensors[k] = { dtype: 'F32', shape: [...t.shape], data: await t.readFloat32() };
    await ck.close();
    const path = join(dir, 'prior.safetensors');
    await writeFile(path, serializeSafetensors(tensors));
    const key = await pointAtHugeRegion(path, (k) => k.startsWith('net.') && k.endsWith('.weight'));
    const before = process.memoryUsage().rss;
    const cfg = config({ prior: { ...priorSection, load_model_from: local(path), load_config_from: local(bundled('prior_config.json')) } }, dir);
    const err = await DalleModelManager.load(cfg, { rt })
      .then(async (m) => {
        try {
          await m.prior();
        } finally {
          await m.dispose();
        }
      })
      .catch((e: Error) => e);
    expect((err as Error).message).toMatch(new RegExp(`weight "${escapeRe(key)}" has shape \\[268435456\\], expected \\[`));
    expect(process.memoryUsage().rss - before).toBeLessThan(512 * 2 ** 20);
  });

  it('unexpected keys: an error with strict_loading, a warning without', async () => {
    const path = await decoderCopy({ 'stray.weight': { dtype: 'F32', shape: [2], data: new Float32Array(2) } });
    const err = await DalleModelManager.load(sourceOf(path, true), { rt }).catch((e: Error) => e);
    expect((err as Error).message).toMatch(/1 key\(s\) the decoder does not use: stray\.weight \(set strict_loading: false/);
    const seen: string[] = [];
    const m = await DalleModelManager.load(sourceOf(path, false), { rt, warn: (w) => seen.push(w) });
    await m.dispose();
    expect(seen.some((w) => /stray\.weight; ignored/.test(w))).toBe(true);
  });

  it('warns, as upstream, when the checkpoint records another DALLE2 version', async () => {
    const path = await decoderCopy({}, { version: '1.0.2' });
    const seen: string[] = [];
    const m = await DalleModelManager.load(sourceOf(path, true), { rt, warn: (w) => seen.push(w) });
    await m.dispose();
    expect(seen).toContain('WARNING: This decoder was trained on version 1.0.2 but the current version is 1.1.0. This may result in the model failing to load.');
  });
});

describe.skipIf(!haveShared)('the demo model\'s other checkpoint copies', () => {
  const shared = (name: string) => join(SHARED, name);
  const decoderFrom = (model: string, withConfig = false) =>
    config(
      {
        decoder: {
          unet_sources: [{ unet_numbers: [1, 2], load_model_from: local(shared(model)), ...(withConfig ? { load_config_from: local(shared('decoder_config.json')) } : {}) }],
        },
      },
      SHARED,
    );
  let reference: Float32Array[];

  beforeAll(async () => {
    reference = [await unetOutput(demo, 1), await unetOutput(demo, 2)];
  });

  for (const [name, file, withConfig, tol] of [
    ['legacy .pth', 'decoder_legacy.pth', false, 0],
    ['safetensors + decoder_config.json', 'decoder.safetensors', true, 0],
    ['fp16 .pth', 'decoder_fp16.pth', false, 0.05],
  ] as const) {
    it(`${name}: same unets${tol ? ' within fp16 tolerance' : ', bit for bit'}, schedules from the config`, async () => {
      const m = await DalleModelManager.load(decoderFrom(file, withConfig), { rt });
      try {
        for (const n of [1, 2]) {
          const got = await unetOutput(m, n);
          const diff = maxAbsDiff(got, reference[n - 1]);
          if (tol === 0) expect(diff, `unet ${n}`).toBe(0);
          else {
            const scale = Math.max(...reference[n - 1].map(Math.abs));
            expect(diff / scale, `unet ${n} relative to max |out| ${scale}`).toBeLessThan(tol);
          }
        }
        const d = await m.decoder();
        const cosine = NoiseSchedule.create('cosine', 1000);
        for (const s of d.decoder.schedules) expect(Buffer.from(s.f32.betas.buffer).equals(Buffer.from(cosine.f32.betas.buffer))).toBe(true);
        if (file === 'decoder_fp16.pth') {
          expect(reportOf(m, 'decoder').storedDtypes).toEqual({ F16: 574 });
        }
      } finally {
        await m.dispose();
      }
    });
  }

  it('the fp16 file\'s schedule buffers really are wrong (so computing them matters)', async () => {
    const ck = await readPth(shared('decoder_fp16.pth'));
    const betas = await ck.stateDict().get('noise_schedulers.0.betas')!.readFloat32();
    await ck.close();
    const cosine = NoiseSchedule.create('cosine', 1000).f32.betas;
    expect(maxAbsDiff(betas, cosine)).toBeGreaterThan(0);
  });

  it('the safetensors prior (no clip keys) with clip.safetensors', async () => {
    const m = await DalleModelManager.load(
      config({ prior: { ...priorSection, load_model_from: local(shared('prior.safetensors')) }, clip: { load_model_from: local(shared('clip.safetensors')) } }, SHARED),
      { rt },
    );
    try {
      expect((await m.prior()).params).toBe(353_856);
      expect((await m.clip()).kind).toBe('load_model_from');
    } finally {
      await m.dispose();
    }
  });
});
