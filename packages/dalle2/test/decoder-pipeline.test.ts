// Decoder (DALLE2-pytorch 1.1.0) loading, single steps and full sampling runs vs the upstream fixtures
// (shared/fixtures/decoder): DDIM and DDPM cascades, RePaint inpainting, cascade splitting, lazy
// loading / releasing of unets, input validation and GPU memory hygiene. Sizes, step counts, guidance
// scales and draw counts come from the fixture files and the manifest.
// Tolerances: step tensors |got - want| <= 1e-4 + 1e-4 |want|; [0, 1] images after a whole run 2e-3;
// uint8 images +-1 (truncating conversion).
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { fileURLToPath } from 'node:url';
import { readFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tensor, SafetensorsFile, interpolateNearest, writeSafetensors, type Runtime } from '@dalle2/tensor';
import { ReplayNoise, SeededNoise, SCHEDULE_BUFFER_NAMES, ddimTimePairs, type NoiseSource } from '@dalle2/sampler';
import { testRuntime, expectClose } from '@dalle2/tensor/testing';
import { WeightError } from '@dalle2/models';
import { Decoder, loadDecoderConfig, type DecoderConfig, type DecoderStepInfo } from '../src/pipelines/index.js';

const FIXTURES = new URL('../../../../shared/fixtures/', import.meta.url);
const fixture = (rel: string) => fileURLToPath(new URL(rel, FIXTURES));
const TOL = { atol: 1e-4, rtol: 1e-4 };
const IMAGE_TOL = { atol: 2e-3, rtol: 0 };
const LSB = { atol: 1, rtol: 0 };
const WEIGHTS = fixture('decoder/weights.safetensors');
const LONG = 600_000;

interface RunEntry {
  per_unet?: { shape: number[]; sample_timesteps: number | null; timestep_sequence?: number[] }[];
  cond_scale?: number[];
  inpaint_resample_times?: number;
  noise_log?: { name: string; shape: number[] }[];
}

let rt: Runtime;
let config: DecoderConfig;
let configDdpm: DecoderConfig;
let manifest: { files: Record<string, RunEntry> };
let dec: Decoder;
const files = new Map<string, SafetensorsFile>();

async function file(rel: string): Promise<SafetensorsFile> {
  let f = files.get(rel);
  if (!f) files.set(rel, (f = await SafetensorsFile.open(fixture(rel))));
  return f;
}

async function upload(rel: string, name: string): Promise<Tensor> {
  const f = await file(rel);
  return Tensor.from(rt, await f.readFloat32(name), f.info(name).shape);
}

async function ints(rel: string, name: string): Promise<Int32Array> {
  const data = await (await file(rel)).read(name);
  return Int32Array.from(data as ArrayLike<number | bigint>, Number);
}

async function want(rel: string, name: string): Promise<Float32Array> {
  return (await file(rel)).readFloat32(name);
}

/** The conditioning the sample recordings used (the decoder fixtures' CLIP embeds / text encodings). */
async function conditioning(): Promise<{ imageEmbed: Tensor; textEncodings: Tensor }> {
  return { imageEmbed: await upload('decoder/unet_forward.safetensors', 'unet0.image_embed'), textEncodings: await upload('decoder/unet_forward.safetensors', 'unet0.text_encodings') };
}

const uint8 = (x: Float32Array) => Int32Array.from(x, (v) => Math.trunc(Math.fround(v * 255)));

/** A replay of a subset of a recording's draws. */
async function replay(rel: string, from = 0, to = Infinity): Promise<ReplayNoise & { total: number }> {
  const f = await file(rel);
  const names = f.keys().filter((k) => /^noise_\d+$/.test(k)).sort();
  const picked = names.slice(from, to);
  const r = new ReplayNoise(await Promise.all(picked.map(async (k) => ({ data: await f.readFloat32(k), shape: f.info(k).shape, name: k })))) as ReplayNoise & { total: number };
  r.total = picked.length;
  return r;
}

/** Creates the nearest-resize tables the cascade uses (cached for the runtime's lifetime), so memory can be compared. */
async function warmResizeTables(c: DecoderConfig): Promise<void> {
  for (let i = 1; i < c.imageSizes.length; i++) {
    const [a, b] = [c.imageSizes[i - 1], c.imageSizes[i]];
    const x = Tensor.from(rt, new Float32Array(a * a), [1, 1, a, a]);
    interpolateNearest(x, [b, b]).dispose();
    x.dispose();
  }
  await rt.sync();
}

beforeAll(async () => {
  rt = await testRuntime();
  config = await loadDecoderConfig(fixture('decoder/config.json'));
  configDdpm = await loadDecoderConfig(fixture('decoder/config_ddpm.json'));
  manifest = JSON.parse(await readFile(fixture('manifest.json'), 'utf8')) as typeof manifest;
  dec = await Decoder.fromSafetensors(rt, WEIGHTS, config);
}, LONG);

afterAll(async () => {
  dec?.dispose();
  for (const f of files.values()) await f.close();
});

describe('Decoder.fromSafetensors', () => {
  it('loads eagerly, or lazily with unets that can be released and reloaded', async () => {
    for (let i = 0; i < dec.numUnets; i++) expect(dec.isLoaded(i)).toBe(true);
    await rt.sync();
    const before = rt.memory().inUse;
    const lazy = await Decoder.fromSafetensors(rt, WEIGHTS, JSON.parse(await readFile(fixture('decoder/config_ddpm.json'), 'utf8')), { lazy: true });
    expect([...Array(lazy.numUnets).keys()].map((i) => lazy.isLoaded(i))).toEqual(Array(lazy.numUnets).fill(false));
    expect(rt.memory().inUse).toBe(before);
    const u = await lazy.unet(1);
    expect(lazy.isLoaded(1)).toBe(true);
    expect(await lazy.unet(1)).toBe(u);
    expect(() => lazy.loadedUnet(0)).toThrow(/unet 1 is not loaded/);
    expect(rt.memory().inUse).toBeGreaterThan(before);
    lazy.releaseUnet(1);
    expect(lazy.isLoaded(1)).toBe(false);
    expect(rt.memory().inUse).toBe(before);
    await lazy.unet(1);
    lazy.dispose();
    expect(rt.memory().inUse).toBe(before);
  }, LONG);

  it('reads the schedules from the checkpoint on request (equal to the computed ones)', async () => {
    const d = await Decoder.fromSafetensors(rt, WEIGHTS, config, { lazy: true, schedules: 'checkpoint' });
    for (let i = 0; i < d.numUnets; i++) {
      for (const name of SCHEDULE_BUFFER_NAMES) expect(Array.from(d.schedules[i].f32[name]), name).toEqual(Array.from(dec.schedules[i].f32[name]));
    }
    // the DDPM variant (T = 8) cannot use the T = 1000 buffers stored with the shared weights
    await expect(Decoder.fromSafetensors(rt, WEIGHTS, configDdpm, { lazy: true, schedules: 'checkpoint' })).rejects.toThrow(/has 1000 timesteps, the config 8/);
  });

  it('rejects checkpoint keys that belong to no unet, and missing unets', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'decoder-test-'));
    try {
      const t = { dtype: 'F32' as const, shape: [1], data: new Float32Array([1]) };
      const stray = join(dir, 'stray.safetensors');
      await writeSafetensors(stray, { 'unets.0.x': t, 'unets.1.x': t, 'prior.net.w': t, 'unets.7.y': t });
      await expect(Decoder.fromSafetensors(rt, stray, config)).rejects.toThrow(/2 key\(s\) belong to no part of a 2-unet Decoder: prior\.net\.w, unets\.7\.y/);
      const missing = join(dir, 'missing.safetensors');
      await writeSafetensors(missing, { 'unets.0.x': t });
      await expect(Decoder.fromSafetensors(rt, missing, config)).rejects.toThrow(WeightError);
      await expect(Decoder.fromSafetensors(rt, missing, config)).rejects.toThrow(/no weights for unet 2 \(unets\.1\.\*\)/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('Decoder.p_mean_variance / p_sample vs upstream (decoder/p_sample)', () => {
  it('every unet: model mean, learned or fixed log-variance, and the sampled x', async () => {
    const rel = 'decoder/p_sample.safetensors';
    const f = await file(rel);
    const meaning = (n: string) => (manifest.files[rel] as { tensors: Record<string, { meaning: string }> }).tensors[n].meaning;
    for (let i = 0; f.has(`unet${i}.x`); i++) {
      const p = `unet${i}.`;
      const opt = async (n: string) => (f.has(p + n) ? upload(rel, p + n) : undefined);
      const a = {
        x: await upload(rel, `${p}x`),
        t: Array.from(await ints(rel, `${p}t`)),
        imageEmbed: await opt('image_embed'),
        textEncodings: await opt('text_encodings'),
        lowresCondImg: await opt('lowres_cond_img'),
        condScale: Number(/cond_scale=([0-9.]+)/.exec(meaning(`${p}out`))![1]),
      };
      const noise = await upload(rel, `${p}noise_000`);
      const mv = dec.pMeanVariance(i, a);
      expectClose(await mv.mean.toFloat32(), await want(rel, `${p}model_mean`), TOL, `unet${i} model_mean`);
      const lv = mv.logVariance instanceof Tensor ? await mv.logVariance.toFloat32() : mv.logVariance;
      expect(mv.logVariance instanceof Tensor).toBe(config.learnedVariance[i]);
      expectClose(lv, await want(rel, `${p}posterior_log_variance`), TOL, `unet${i} posterior_log_variance`);
      // the same step from the already computed unet output
      const y = dec.pSample(i, { ...a, noise, modelOutput: mv.modelOutput });
      expectClose(await y.toFloat32(), await want(rel, `${p}out`), TOL, `unet${i} out`);
      for (const t of [mv.mean, mv.modelOutput, mv.logVariance, y, noise, a.x, a.imageEmbed, a.textEncodings, a.lowresCondImg]) if (t instanceof Tensor) t.dispose();
    }
  }, LONG);
});

describe('Decoder.sample vs upstream', () => {
  it('DDIM cascade (decoder/sample_ddim): timesteps, draws, per-unet outputs, image and uint8', async () => {
    const rel = 'decoder/sample_ddim.safetensors';
    const entry = manifest.files[rel];
    const noise = await replay(rel);
    const cond = await conditioning();
    const steps: DecoderStepInfo[][] = [];
    const inUse: number[][] = [];
    const outputs: Float32Array[] = [];
    let firstOut: Float32Array | undefined;
    const image = await dec.sample({
      ...cond,
      condScale: entry.cond_scale,
      noise,
      onStep: async (s) => {
        (steps[s.unet] ??= []).push({ ...s });
        (inUse[s.unet] ??= []).push(rt.memory().inUse);
        if (s.unet === 0 && s.call === 0) firstOut = await s.modelOutput.toFloat32();
      },
      onUnet: async ({ output }) => {
        outputs.push(await output.toFloat32());
      },
    });
    entry.per_unet!.forEach((u, i) => {
      expect(steps[i].map((s) => s.time)).toEqual(u.timestep_sequence);
      expect(steps[i].map((s) => s.timeNext)).toEqual([...u.timestep_sequence!.slice(1), 0]);
    });
    expect(noise.consumed).toBe(noise.total);
    // every step frees what it allocated: GPU memory in use is the same at each step of a unet
    inUse.forEach((u, i) => expect(new Set(u).size, `unet ${i}: ${u.join(', ')}`).toBe(1));
    expectClose(firstOut!, await want(rel, 'unet0.step_000_out'), TOL, 'first unet output');
    for (let i = 0; i < outputs.length; i++) expectClose(outputs[i], await want(rel, `unet${i}.output`), IMAGE_TOL, `unet${i}.output`);
    expect(image.shape).toEqual((await file(rel)).info('image').shape);
    const img = await image.toFloat32();
    expectClose(img, await want(rel, 'image'), IMAGE_TOL, 'image');
    expectClose(uint8(img), await ints(rel, 'image_uint8'), LSB, 'image_uint8');
    for (const t of [image, cond.imageEmbed, cond.textEncodings]) t.dispose();
  }, LONG);

  it('splits the cascade: stopAtUnet returns the base image, startAtUnet upsamples a given one', async () => {
    const rel = 'decoder/sample_ddim.safetensors';
    const entry = manifest.files[rel];
    const baseShape = entry.per_unet![0].shape;
    const baseDraws = entry.noise_log!.filter((d) => d.shape.join() === baseShape.join()).length;
    const cond = await conditioning();
    const first = await replay(rel, 0, baseDraws);
    const base = await dec.sample({ ...cond, condScale: entry.cond_scale, noise: first, stopAtUnet: 1 });
    expect(base.shape).toEqual(baseShape);
    expect(first.remaining).toBe(0);
    expectClose(await base.toFloat32(), await want(rel, 'unet0.output'), IMAGE_TOL, 'unet0.output');
    const recorded = await upload(rel, 'unet0.output');
    const rest = await replay(rel, baseDraws);
    const up = await dec.sample({ ...cond, condScale: entry.cond_scale, noise: rest, startAtUnet: 2, image: recorded });
    expect(rest.remaining).toBe(0);
    expectClose(await up.toFloat32(), await want(rel, 'image'), IMAGE_TOL, 'image from the recorded base');
    for (const t of [base, recorded, up, cond.imageEmbed, cond.textEncodings]) t.dispose();
  }, LONG);

  it('DDPM cascade (decoder/sample_ddpm) on a lazy decoder that releases each unet after use', async () => {
    const rel = 'decoder/sample_ddpm.safetensors';
    const entry = manifest.files[rel];
    const lazy = await Decoder.fromSafetensors(rt, WEIGHTS, configDdpm, { lazy: true });
    await warmResizeTables(configDdpm);
    const before = rt.memory().inUse;
    const cond = await conditioning();
    const noise = await replay(rel);
    let calls = 0;
    const image = await lazy.sample({ ...cond, condScale: entry.cond_scale, noise, releaseUnets: true, onStep: () => void calls++ });
    expect(calls).toBe(configDdpm.timesteps * configDdpm.unets.length);
    expect(noise.consumed).toBe(noise.total); // T + 1 draws per unet
    expect(noise.total).toBe((configDdpm.timesteps + 1) * configDdpm.unets.length);
    for (let i = 0; i < lazy.numUnets; i++) expect(lazy.isLoaded(i)).toBe(false);
    const img = await image.toFloat32();
    expectClose(img, await want(rel, 'image'), IMAGE_TOL, 'image');
    expectClose(uint8(img), await ints(rel, 'image_uint8'), LSB, 'image_uint8');
    for (const t of [image, cond.imageEmbed, cond.textEncodings]) t.dispose();
    await rt.sync();
    expect(rt.memory().inUse).toBe(before);
    lazy.dispose();
  }, LONG);

  it('RePaint inpainting (decoder/inpaint_ddpm), mask given as [B, 1, H, W]', async () => {
    const rel = 'decoder/inpaint_ddpm.safetensors';
    const entry = manifest.files[rel];
    const ddpm = new Decoder({ unets: [await dec.unet(0), await dec.unet(1)], config: configDdpm });
    const f = await file(rel);
    const [B, H, W] = f.info('inpaint_mask').shape;
    const maskData = await ints(rel, 'inpaint_mask');
    const mask = Tensor.from(rt, maskData, [B, 1, H, W], 'i32');
    const inpaintImage = await upload(rel, 'inpaint_image');
    const imageEmbed = await upload(rel, 'image_embed');
    const textEncodings = await upload(rel, 'text_encodings');
    const noise = await replay(rel);
    const image = await ddpm.sample({
      imageEmbed, textEncodings, condScale: entry.cond_scale, noise, inpaintImage, inpaintMask: mask, inpaintResampleTimes: entry.inpaint_resample_times,
    });
    expect(noise.consumed).toBe(noise.total);
    const img = await image.toFloat32();
    expectClose(img, await want(rel, 'image'), IMAGE_TOL, 'image');
    expectClose(uint8(img), await ints(rel, 'image_uint8'), LSB, 'image_uint8');
    const known = await want(rel, 'inpaint_image');
    const C = img.length / (B * H * W);
    for (let b = 0; b < B; b++) {
      for (let k = 0; k < H * W; k++) {
        if (!maskData[b * H * W + k]) continue;
        for (let c = 0; c < C; c++) expect(Math.abs(img[(b * C + c) * H * W + k] - known[(b * C + c) * H * W + k])).toBeLessThan(1e-6);
      }
    }
    for (const t of [image, mask, inpaintImage, imageEmbed, textEncodings]) t.dispose();
  }, LONG);
});

describe('Decoder.sample on the pipeline recordings (recorded prior / CLIP outputs in)', () => {
  it('text-to-image (decoder half) and image variation', async () => {
    type PipelineEntry = RunEntry & { decoder?: RunEntry };
    for (const [rel, prefix, embed, text] of [
      ['pipeline/text_to_image.safetensors', 'decoder.', 'prior.image_embed', 'decoder.text_encodings'],
      ['pipeline/variation.safetensors', '', 'image_embed', 'text_encodings'],
    ] as const) {
      const entry = manifest.files[rel] as PipelineEntry;
      const run = entry.decoder ?? entry;
      const condScale = run.cond_scale ?? run.per_unet!.map((u) => (u as { cond_scale: number }).cond_scale);
      const f = await file(rel);
      const noise = await ReplayNoise.fromSafetensors(f, prefix);
      const total = noise.remaining;
      const imageEmbed = await upload(rel, embed);
      const textEncodings = await upload(rel, text);
      const image = await dec.sample({ imageEmbed, textEncodings, condScale, noise });
      expect(noise.consumed, rel).toBe(total);
      const img = await image.toFloat32();
      expectClose(img, await want(rel, `${prefix}image`), IMAGE_TOL, `${rel} image`);
      expectClose(uint8(img), await ints(rel, 'image_uint8'), LSB, `${rel} image_uint8`);
      for (const t of [image, imageEmbed, textEncodings]) t.dispose();
    }
  }, LONG);
});

describe('Decoder.sample execution', () => {
  it('reads nothing back and builds no pipeline inside the loop (warm runtime)', async () => {
    const rel = 'decoder/sample_ddim.safetensors';
    const entry = manifest.files[rel];
    const cond = await conditioning();
    const run = async () => (await dec.sample({ ...cond, condScale: entry.cond_scale, noise: await replay(rel) })).dispose();
    await run(); // pipelines of every kernel the cascade uses now exist
    const counts = { readback: 0, pipelines: 0, flushes: 0 };
    const device = rt.device as unknown as { createComputePipeline: (...a: unknown[]) => unknown };
    const createPipeline = device.createComputePipeline;
    const readBinding = rt.readBinding.bind(rt);
    const flush = rt.flush.bind(rt);
    device.createComputePipeline = (...a: unknown[]) => {
      counts.pipelines++;
      return createPipeline.apply(rt.device, a);
    };
    expect(device.createComputePipeline).not.toBe(createPipeline); // the spy is in place
    rt.readBinding = (...a) => {
      counts.readback++;
      return readBinding(...a);
    };
    rt.flush = () => {
      counts.flushes++;
      flush();
    };
    try {
      await run();
    } finally {
      device.createComputePipeline = createPipeline;
      rt.readBinding = readBinding;
      rt.flush = flush;
    }
    expect(counts.readback).toBe(0);
    expect(counts.pipelines).toBe(0);
    expect(counts.flushes).toBeGreaterThanOrEqual(entry.per_unet!.reduce((n, u) => n + u.timestep_sequence!.length, 0));
    cond.imageEmbed.dispose();
    cond.textEncodings.dispose();
  }, LONG);
});

describe('Decoder.sample options', () => {
  it('textMask treats masked-out positions as padding (same as zeroed encodings); sampleTimesteps overrides the config', async () => {
    const cond = await conditioning();
    const [B, L, D] = cond.textEncodings.shape;
    const keep = 3;
    const maskData = Int32Array.from({ length: B * L }, (_, i) => Number(i % L < keep));
    const textMask = Tensor.from(rt, maskData, [B, L], 'i32');
    const host = await cond.textEncodings.toFloat32();
    const zeroed = Tensor.from(rt, host.map((v, i) => (maskData[Math.floor(i / D)] ? v : 0)), [B, L, D]);
    const steps: number[] = [];
    const run = async (args: { textEncodings: Tensor; textMask?: Tensor }) => {
      const img = await dec.sample({ imageEmbed: cond.imageEmbed, ...args, condScale: 1.5, sampleTimesteps: [2, null], stopAtUnet: 1, noise: new SeededNoise(7), onStep: (s) => void steps.push(s.time) });
      const out = await img.toFloat32();
      img.dispose();
      return out;
    };
    const masked = await run({ textEncodings: cond.textEncodings, textMask });
    expect(steps).toEqual(ddimTimePairs(config.timesteps, 2).map(([t]) => t));
    expect(Array.from(masked)).toEqual(Array.from(await run({ textEncodings: zeroed })));
    expect(Array.from(masked)).not.toEqual(Array.from(await run({ textEncodings: cond.textEncodings })));
    for (const t of [textMask, zeroed, cond.imageEmbed, cond.textEncodings]) t.dispose();
  }, LONG);
});

describe('Decoder.sample input checks', () => {
  it('refuses inputs upstream refuses, and frees everything when a run fails midway', async () => {
    const cond = await conditioning();
    const noise: NoiseSource = {
      next: () => {
        throw new Error('no draw expected');
      },
    };
    const bad = (args: Partial<Parameters<Decoder['sample']>[0]>) => dec.sample({ ...cond, noise, ...args });
    await expect(bad({ imageEmbed: undefined })).rejects.toThrow(/imageEmbed is required/);
    await expect(bad({ textEncodings: undefined })).rejects.toThrow(/textEncodings are required/);
    await expect(bad({ condScale: [1, 2, 3] })).rejects.toThrow(/condScale has 3 entries for 2 unets/);
    await expect(bad({ sampleTimesteps: [config.timesteps + 1, 8] })).rejects.toThrow(/unet 1: 1001 sampling steps must be an integer in \[1, 1000\]/);
    await expect(bad({ inpaintImage: cond.imageEmbed })).rejects.toThrow(/inpaintImage and inpaintMask must be given together/);
    await expect(bad({ stopAtUnet: 3 })).rejects.toThrow(/stopAtUnet 3 must be a unet number in \[1, 2\]/);
    await expect(bad({ startAtUnet: 2 })).rejects.toThrow(/image is required when starting at unet 2/);
    const noGuidance = new Decoder({ unets: [await dec.unet(0), await dec.unet(1)], config: { ...config, imageCondDropProb: 0, textCondDropProb: 0 } });
    await expect(noGuidance.sample({ ...cond, noise, condScale: 2 })).rejects.toThrow(/not trained with conditional dropout/);
    // a recording one draw short: the run fails in the last step and leaves no tensor behind
    const rel = 'decoder/sample_ddim.safetensors';
    await warmResizeTables(config);
    const before = rt.memory().inUse;
    const short = await replay(rel, 0, (await replay(rel)).total - 1);
    await expect(dec.sample({ ...cond, condScale: manifest.files[rel].cond_scale, noise: short })).rejects.toThrow(/ReplayNoise: draw \d+ asks for shape/);
    await rt.sync();
    expect(rt.memory().inUse).toBe(before);
    cond.imageEmbed.dispose();
    cond.textEncodings.dispose();
  }, LONG);
});
