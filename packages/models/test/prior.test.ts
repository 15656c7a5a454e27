// DiffusionPriorNetwork vs upstream DALLE2-pytorch 1.1.0 fixtures (shared/fixtures/prior). Every size
// (dim, depth, heads, dim_head, max_text_len) comes from the fixture's config and weights.
// Tolerance for every network output: |got - want| <= 1e-4 + 1e-4 * |want| (f32).
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { fileURLToPath } from 'node:url';
import { readFile } from 'node:fs/promises';
import { Tensor, SafetensorsFile, type Runtime } from '@dalle2/tensor';
import { testRuntime, expectClose } from '@dalle2/tensor/testing';
import { Weights } from '../src/weights.js';
import { DiffusionPriorNetwork, loadPriorNetConfig, rotaryDim, type PriorNetConfig, type PriorForwardInputs } from '../src/prior/index.js';

const FIXTURES = new URL('../../../../shared/fixtures/', import.meta.url);
const fixture = (rel: string) => fileURLToPath(new URL(rel, FIXTURES));
const TOL = { atol: 1e-4, rtol: 1e-4 };

/** A fixture file's tensors as host arrays (int64 -> numbers). */
async function readAll(rel: string): Promise<Map<string, { shape: number[]; f32?: Float32Array; ints?: number[] }>> {
  const f = await SafetensorsFile.open(fixture(rel));
  try {
    const out = new Map<string, { shape: number[]; f32?: Float32Array; ints?: number[] }>();
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

type Host = Awaited<ReturnType<typeof readAll>>;

let rt: Runtime;
let config: PriorNetConfig;
let net: DiffusionPriorNetwork;
let fwd: Host;

function upload(h: Host, key: string): Tensor {
  const e = h.get(key);
  if (!e?.f32) throw new Error(`fixture tensor ${key} missing or not float`);
  return Tensor.from(rt, e.f32, e.shape);
}

function ints(h: Host, key: string): number[] {
  const e = h.get(key);
  if (!e?.ints) throw new Error(`fixture tensor ${key} missing or not int64`);
  return e.ints;
}

async function expectTensor(t: Tensor, h: Host, key: string): Promise<void> {
  const want = h.get(key)!;
  expect(t.shape).toEqual(want.shape);
  expectClose(await t.toFloat32(), want.f32!, TOL, key);
  t.dispose();
}

function baseInputs(): PriorForwardInputs {
  return {
    imageEmbed: upload(fwd, 'image_embed'),
    timesteps: ints(fwd, 'timesteps'),
    textEmbed: upload(fwd, 'text_embed'),
    textEncodings: upload(fwd, 'text_encodings'),
  };
}

beforeAll(async () => {
  rt = await testRuntime();
  config = await loadPriorNetConfig(fixture('prior/config.json'));
  net = await DiffusionPriorNetwork.fromSafetensors(rt, fixture('prior/weights.safetensors'), config);
  fwd = await readAll('prior/forward.safetensors');
});

afterAll(() => net?.dispose());

describe('DiffusionPriorNetwork config', () => {
  it('matches the constructor kwargs the fixture generator used', async () => {
    const manifest = JSON.parse(await readFile(fixture('manifest.json'), 'utf8')) as {
      files: Record<string, { net_constructor_kwargs: Record<string, number | boolean> }>;
    };
    const kw = manifest.files['prior/weights.safetensors'].net_constructor_kwargs;
    const camel = (s: string) => s.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
    const expected: Record<string, number | boolean> = {};
    for (const [k, v] of Object.entries(kw)) if (!k.endsWith('_dropout')) expected[camel(k)] = v;
    expect({ ...config }).toEqual(expected);
  });
});

describe('DiffusionPriorNetwork weights', () => {
  it('rotary freqs buffers hold 1 / 10000^(2k / rot) for every layer', async () => {
    const f = await SafetensorsFile.open(fixture('prior/weights.safetensors'));
    try {
      const rot = rotaryDim(config.dimHead);
      const want = Float32Array.from({ length: rot / 2 }, (_, k) => 1 / Math.pow(10000, (2 * k) / rot));
      for (let i = 0; i < config.depth; i++) {
        expectClose(await f.readFloat32(`net.causal_transformer.layers.${i}.0.rotary_emb.freqs`), want, { atol: 0, rtol: 2e-7 }, `layer ${i}`);
      }
    } finally {
      await f.close();
    }
  });

  it('names a missing key, a wrong shape and an unused key', async () => {
    const f = await SafetensorsFile.open(fixture('prior/weights.safetensors'));
    const host: [string, { shape: number[]; data: Float32Array }][] = [];
    for (const k of f.keys()) if (k.startsWith('net.')) host.push([k, { shape: f.info(k).shape, data: await f.readFloat32(k) }]);
    await f.close();
    const build = (entries: typeof host, cfg = config) => {
      const w = Weights.fromHost(rt, entries, 'host');
      try {
        new DiffusionPriorNetwork(w, cfg);
        w.assertAllUsed('DiffusionPriorNetwork');
      } finally {
        w.dispose();
      }
    };
    const q = 'net.causal_transformer.layers.0.0.to_q.weight';
    expect(() => build(host.filter(([k]) => k !== q))).toThrow(`missing weight "${q}"`);
    expect(() => build(host, { ...config, heads: config.heads + 1 })).toThrow(/has shape .* expected/);
    expect(() => build([...host, ['net.extra.weight', { shape: [1], data: new Float32Array(1) }]])).toThrow(/does not use 1 weight\(s\): net\.extra\.weight/);
    // Not the net's: a Weights map with schedule buffers is fine when scoped at net (reported by nobody).
    expect(() => build(host)).not.toThrow();
  });
});

describe('DiffusionPriorNetwork.forward vs upstream (atol 1e-4 + rtol 1e-4)', () => {
  // Generous timeout: the first forward compiles every pipeline, and with a cold Mesa shader cache the
  // attention kernel alone has taken minutes to compile on lavapipe (warm: ~3 s for the whole file's first call).
  it('out: full text encodings', async () => {
    await expectTensor(net.forward(baseInputs()), fwd, 'out');
  }, 600_000);

  it('out_cond_scale and out_cond_drop_1 equal out: the net states CFG is a no-op in 1.1.0', async () => {
    expect(net.condScaleIsNoop).toBe(true);
    // upstream's guided output equals the plain forward (the pipeline then skips guidance)
    await expectTensor(net.forward(baseInputs()), fwd, 'out_cond_scale');
    await expectTensor(net.forward({ ...baseInputs(), condDropProb: 1 }), fwd, 'out_cond_drop_1');
  });

  it('out_short: encodings shorter than max_text_len are padded with null_text_embed', async () => {
    await expectTensor(net.forward({ ...baseInputs(), textEncodings: upload(fwd, 'text_encodings_short') }), fwd, 'out_short');
  });

  it('out_no_text_encodings: all slots null; an all-false textMask gives the same', async () => {
    await expectTensor(net.forward({ ...baseInputs(), textEncodings: undefined }), fwd, 'out_no_text_encodings');
    const enc = upload(fwd, 'text_encodings');
    const mask = Tensor.from(rt, new Int32Array(enc.shape[0] * enc.shape[1]), [enc.shape[0], enc.shape[1]], 'i32');
    await expectTensor(net.forward({ ...baseInputs(), textEncodings: enc, textMask: mask }), fwd, 'out_no_text_encodings');
  });

  it('rejects bad inputs by name', () => {
    const inp = baseInputs();
    expect(() => net.forward({ ...inp, timesteps: [0, config.numTimesteps] })).toThrow(`timesteps[1] = ${config.numTimesteps} outside [0, ${config.numTimesteps})`);
    expect(() => net.forward({ ...inp, timesteps: [1] })).toThrow(/1 timesteps for batch 2/);
    expect(() => net.forward({ ...inp, textEmbed: inp.imageEmbed.reshape([-1]) })).toThrow(/textEmbed \[\d+\] must be/);
  });
});

describe('DiffusionPriorNetwork in f16', () => {
  // f16 weights and activations (f32 inputs are cast): |got - want| <= 1e-2 + 1e-2 * |want| against the
  // f32 upstream output (observed max abs error ~4e-3 on lavapipe). Timeout: cold f16 pipeline compiles.
  it('out stays close to the f32 fixture', async (ctx) => {
    if (!rt.hasF16) ctx.skip();
    const half = await DiffusionPriorNetwork.fromSafetensors(rt, fixture('prior/weights.safetensors'), config, { dtype: 'f16' });
    try {
      const y = half.forward(baseInputs());
      expect(y.dtype).toBe('f16');
      expectClose(await y.toFloat32(), fwd.get('out')!.f32!, { atol: 1e-2, rtol: 1e-2 }, 'f16 out');
    } finally {
      half.dispose();
    }
  }, 600_000);
});

describe('DiffusionPriorNetwork vs the DDIM sampling trace (sample_ddim_r1)', () => {
  it('step_NNN_pred from step_NNN_x and step_NNN_t at the first and last steps', async () => {
    const s = await readAll('prior/sample_ddim_r1.safetensors');
    const steps = [...s.keys()].filter((k) => /^step_\d+_pred$/.test(k)).sort();
    expect(steps.length).toBeGreaterThan(1);
    for (const key of [steps[0], steps[steps.length - 1]]) {
      const step = key.slice(0, -'_pred'.length);
      const pred = net.forward({
        imageEmbed: upload(s, `${step}_x`),
        timesteps: ints(s, `${step}_t`),
        textEmbed: upload(s, 'clip_text_embed'),
        textEncodings: upload(s, 'clip_text_encodings'),
      });
      await expectTensor(pred, s, key);
    }
  });
});
