// Decoder Unet (base + low-res-conditioned upsampler) vs upstream DALLE2-pytorch 1.1.0 fixtures
// (shared/fixtures/decoder). Every size comes from the fixture's config.json and weights; the CFG scale
// comes from the manifest's description of the recorded call.
// Tolerance for every unet output: |got - want| <= 1e-4 + 1e-4 * |want| (f32; outputs reach ~10).
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { fileURLToPath } from 'node:url';
import { readFile } from 'node:fs/promises';
import { Tensor, SafetensorsFile, add, concat, mulScalar, sliceAxis, sub, type Runtime } from '@dalle2/tensor';
import { testRuntime, expectClose } from '@dalle2/tensor/testing';
import { Weights } from '../src/weights.js';
import {
  Unet, parseDecoderUnetConfigs, parseUnetConfig, castUnetConfig, sinusoidalPosEmb,
  type UnetConfig, type UnetForwardArgs,
} from '../src/unet/index.js';

const FIXTURES = new URL('../../../../shared/fixtures/', import.meta.url);
const fixture = (rel: string) => fileURLToPath(new URL(rel, FIXTURES));
const TOL = { atol: 1e-4, rtol: 1e-4 };

type Host = Map<string, { shape: number[]; f32?: Float32Array; ints?: number[] }>;

/** A fixture file's tensors as host arrays (int64 -> numbers). */
async function readAll(rel: string): Promise<Host> {
  const f = await SafetensorsFile.open(fixture(rel));
  try {
    const out: Host = new Map();
    for (const k of f.keys()) {
      const info = f.info(k);
      const data = await f.read(k);
      if (data instanceof BigInt64Array) out.set(k, { shape: info.shape, ints: Array.from(data, Number) });
      else out.set(k, { shape: info.shape, f32: await f.readFloat32(k) });
    }
    return out;
  } finally {
    await f.close();
  }
}

let rt: Runtime;
let decoderJson: { decoder: Record<string, unknown> };
let configs: UnetConfig[];
let fwd: Host;
let condScale: number;
const unets: Unet[] = [];

function upload(key: string): Tensor {
  const e = fwd.get(key);
  if (!e?.f32) throw new Error(`fixture tensor ${key} missing or not float`);
  return Tensor.from(rt, e.f32, e.shape);
}

function ints(key: string): number[] {
  const e = fwd.get(key);
  if (!e?.ints) throw new Error(`fixture tensor ${key} missing or not int64`);
  return e.ints;
}

async function expectTensor(t: Tensor, key: string): Promise<void> {
  const want = fwd.get(key)!;
  expect(t.shape).toEqual(want.shape);
  const got = await t.toFloat32();
  // UNET_ERR=1 prints how close each output is, for tolerance reports.
  if (process.env.UNET_ERR) {
    let worst = 0, ratio = 0;
    got.forEach((g, i) => { const d = Math.abs(g - want.f32![i]); worst = Math.max(worst, d); ratio = Math.max(ratio, d / (TOL.atol + TOL.rtol * Math.abs(want.f32![i]))); });
    console.log(`${key}: max abs err ${worst.toExponential(2)}, max err/(atol+rtol|want|) ${ratio.toFixed(3)}`);
  }
  expectClose(got, want.f32!, TOL, key);
  t.dispose();
}

/** The recorded inputs of unet `i` (names as the fixture stores them). */
function inputs(i: number, extra: Partial<UnetForwardArgs> = {}): UnetForwardArgs {
  const p = `unet${i}.`;
  return {
    x: upload(`${p}x`),
    timesteps: ints(`${p}t`),
    imageEmbed: fwd.has(`${p}image_embed`) ? upload(`${p}image_embed`) : undefined,
    textEncodings: fwd.has(`${p}text_encodings`) ? upload(`${p}text_encodings`) : undefined,
    lowresCondImg: fwd.has(`${p}lowres_cond_img`) ? upload(`${p}lowres_cond_img`) : undefined,
    ...extra,
  };
}

function release(a: UnetForwardArgs): void {
  for (const t of [a.x, a.imageEmbed, a.textEncodings, a.lowresCondImg]) t?.dispose();
}

beforeAll(async () => {
  rt = await testRuntime();
  decoderJson = JSON.parse(await readFile(fixture('decoder/config.json'), 'utf8')) as typeof decoderJson;
  configs = parseDecoderUnetConfigs(decoderJson, 'decoder/config.json');
  fwd = await readAll('decoder/unet_forward.safetensors');
  const manifest = JSON.parse(await readFile(fixture('manifest.json'), 'utf8')) as {
    files: Record<string, { tensors: Record<string, { meaning: string }> }>;
  };
  const meaning = manifest.files['decoder/unet_forward.safetensors'].tensors['unet0.out_cond_scale'].meaning;
  condScale = Number(/cond_scale=([0-9.]+)/.exec(meaning)?.[1]);
  for (let i = 0; i < configs.length; i++) unets.push(await Unet.fromSafetensors(rt, fixture('decoder/weights.safetensors'), i, configs[i]));
});

afterAll(() => unets.forEach((u) => u.dispose()));

describe('Unet config (TrainDecoderConfig decoder.unets[i], cast as Decoder.__init__ does)', () => {
  it('applies the Decoder cast: lowres_cond, image conditioning, learned-variance output channels', () => {
    const dec = decoderJson.decoder;
    const lv = dec.learned_variance as boolean[];
    expect(configs.length).toBe((dec.unets as unknown[]).length);
    configs.forEach((c, i) => {
      expect(c.lowresCond).toBe(i > 0);
      expect(c.condOnImageEmbeds).toBe(i === 0);
      expect(c.channels).toBe(dec.channels);
      expect(c.channelsOut).toBe((dec.channels as number) * (lv[i] ? 2 : 1));
      const raw = (dec.unets as Record<string, unknown>[])[i];
      expect(c.condOnTextEncodings).toBe(raw.cond_on_text_encodings === true);
      expect(c.selfAttn).toHaveLength(c.dimMults.length);
      expect(c.numResnetBlocks).toHaveLength(c.dimMults.length);
    });
  });

  it('rejects unknown and unsupported options by JSON path', () => {
    const unet0 = (decoderJson.decoder.unets as Record<string, unknown>[])[0];
    const bad = (patch: Record<string, unknown>) => () => parseUnetConfig({ ...unet0, ...patch }, 'decoder.unets[1]', 'cfg');
    expect(bad({ foo: 1 })).toThrow(/cfg: decoder\.unets\[1\]\.foo: unsupported option/);
    expect(bad({ combine_upsample_fmaps: true })).toThrow(/decoder\.unets\[1\]\.combine_upsample_fmaps: unsupported value true/);
    expect(bad({ self_attn: [true] })).toThrow(/decoder\.unets\[1\]\.self_attn: expected true\/false or a list of \d+/);
    expect(bad({ dim: 0 })).toThrow(/decoder\.unets\[1\]\.dim: expected an integer >= 1/);
    expect(bad({ init_cross_embed_kernel_sizes: [3, 4] })).toThrow(/init_cross_embed_kernel_sizes: kernel sizes must be odd/);
    const doc = { decoder: { ...decoderJson.decoder, unets: [unet0, { ...unet0, bar: true }] } };
    expect(() => parseDecoderUnetConfigs(doc, 'cfg')).toThrow(/cfg: decoder\.unets\[1\]\.bar: unsupported option/);
    const noText = castUnetConfig(parseUnetConfig({ ...unet0, text_embed_dim: null, cond_on_text_encodings: false }), {});
    expect(noText.textEmbedDim).toBeNull();
    expect(() => castUnetConfig(noText, { condOnTextEncodings: true }, 'u')).toThrow(/u\.text_embed_dim: is required/);
  });

  it('SinusoidalPosEmb is [sin, cos] of t * exp(-j ln(1e4) / (half - 1))', () => {
    const emb = sinusoidalPosEmb([0, 500], 8);
    expect(Array.from(emb.slice(0, 8))).toEqual([0, 0, 0, 0, 1, 1, 1, 1]);
    const f = Math.exp((-2 * Math.log(10000)) / 3);
    expect(emb[8 + 2]).toBeCloseTo(Math.sin(500 * f), 5);
    expect(emb[8 + 4 + 2]).toBeCloseTo(Math.cos(500 * f), 5);
  });
});

describe('Unet strict loading', () => {
  it('names unused weights under the unet scope (config without the linear attention)', async () => {
    const w = await Weights.fromSafetensors(rt, fixture('decoder/weights.safetensors'), { filter: (k) => k.startsWith('unets.0.') });
    try {
      const c = configs[0];
      expect(c.sparseAttn).toBe(true);
      expect(() => new Unet(w.scope('unets.0'), { ...c, sparseAttn: false })).toThrow(/does not use \d+ weight\(s\): unets\.0\.downs\.0\.3\.fn\./);
    } finally {
      w.dispose();
    }
  });

  it('names a missing weight and a wrong shape', async () => {
    const w = await Weights.fromSafetensors(rt, fixture('decoder/weights.safetensors'), {
      filter: (k) => k.startsWith('unets.1.') && k !== 'unets.1.mid_attn.fn.fn.null_kv',
    });
    try {
      expect(() => new Unet(w.scope('unets.1'), configs[1])).toThrow(/missing weight "unets\.1\.mid_attn\.fn\.fn\.null_kv"/);
      expect(() => new Unet(w.scope('unets.1'), { ...configs[1], condDim: configs[1].condDim + 1 })).toThrow(/has shape .* expected/);
    } finally {
      w.dispose();
    }
  });
});

describe('Unet forward vs upstream 1.1.0', () => {
  it('base unet: forward (image embed + text encodings)', async () => {
    const a = inputs(0);
    await expectTensor(unets[0].forward(a), 'unet0.out');
    release(a);
  });

  it('base unet: null branch (image and text dropped)', async () => {
    const a = inputs(0, { imageCondDrop: true, textCondDrop: true });
    await expectTensor(unets[0].forward(a), 'unet0.out_null');
    release(a);
  });

  it('base unet: short text encodings are right-padded to max_text_len', async () => {
    const a = inputs(0);
    a.textEncodings!.dispose();
    a.textEncodings = upload('unet0.text_encodings_short');
    await expectTensor(unets[0].forward(a), 'unet0.out_short_text');
    release(a);
  });

  /** Conditional and null rows in one batched pass (per-row drops), then null + (cond - null) * s: what guidance asks of the unet. */
  function guided(unet: Unet, a: UnetForwardArgs, s: number): Tensor {
    const B = a.x.shape[0];
    const twice = (t?: Tensor) => (t ? concat([t, t], 0) : undefined);
    const drop = [...Array<boolean>(B).fill(false), ...Array<boolean>(B).fill(true)];
    const both = unet.forward({
      x: twice(a.x)!, timesteps: [...a.timesteps, ...a.timesteps], imageEmbed: twice(a.imageEmbed), textEncodings: twice(a.textEncodings),
      lowresCondImg: twice(a.lowresCondImg), imageCondDrop: drop, textCondDrop: drop,
    });
    const cond = sliceAxis(both, 0, 0, B);
    const nul = sliceAxis(both, 0, B, 2 * B);
    const out = add(nul, mulScalar(sub(cond, nul), s));
    both.dispose();
    return out;
  }

  it('base unet: per-row cond drops batch the conditional and null passes (guided output)', async () => {
    expect(condScale).toBeGreaterThan(1);
    const a = inputs(0);
    await expectTensor(guided(unets[0], a, condScale), 'unet0.out_cond_scale');
    expect(() => unets[0].forward({ ...a, imageCondDrop: [true] })).toThrow(/imageCondDrop has 1 flags for batch 2/);
    release(a);
  });

  it('upsampler: forward and the guided batch (low-res conditioning, no image/text conditioning)', async () => {
    const a = inputs(1);
    await expectTensor(unets[1].forward(a), 'unet1.out');
    await expectTensor(guided(unets[1], a, condScale), 'unet1.out_cond_scale');
    release(a);
  });

  it('holds no GPU memory once the output is disposed', async () => {
    const a = inputs(0);
    const before = rt.memory().inUse;
    const out = unets[0].forward({ ...a, imageCondDrop: [false, true], textCondDrop: [true, false] });
    await out.read();
    out.dispose();
    expect(rt.memory().inUse).toBe(before);
    release(a);
  });

  it('rejects inputs that do not fit the config', () => {
    const a = inputs(1);
    expect(() => unets[1].forward({ ...a, lowresCondImg: undefined })).toThrow(/Unet\.forward: lowresCondImg is required/);
    expect(() => unets[1].forward({ ...a, timesteps: [1] })).toThrow(/Unet\.forward: 1 timesteps for batch 2/);
    const odd = a.lowresCondImg!.reshape([a.x.shape[0], a.x.shape[1], a.x.shape[2] / 2, a.x.shape[3] * 2]);
    expect(() => unets[1].forward({ ...a, lowresCondImg: odd })).toThrow(/Unet\.forward: lowresCondImg .* must match x/);
    odd.dispose();
    const b = inputs(0);
    expect(() => unets[0].forward({ ...b, imageEmbed: undefined })).toThrow(/Unet\.forward: imageEmbed is required/);
    expect(() => unets[0].forward({ ...b, lowresCondImg: a.lowresCondImg })).toThrow(/Unet\.forward: lowresCondImg given to a unet without lowres_cond/);
    release(a);
    release(b);
  });
});
