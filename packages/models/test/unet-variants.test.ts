// Unet options the fixture unets do not use (memory_efficient=false, NearestUpsample, cross-embed
// downsampling, scaled skip connections, a 3x3 final conv), run on synthetic random weights: the module
// layout follows Unet.__init__ (checked by key), every layer's shapes fit, and CFG batching equals two
// separate passes. Variants are derived from the fixture's config.json, nothing else is hard-coded.
// Tolerance for pass-vs-pass comparisons: |got - want| <= 1e-4 + 1e-4 * |want| (f32).
import { describe, it, expect, beforeAll } from 'vitest';
import { fileURLToPath } from 'node:url';
import { readFile } from 'node:fs/promises';
import { Tensor, add, mulScalar, sub, concat, sliceAxis, type Runtime } from '@dalle2/tensor';
import { testRuntime, expectClose, randn } from '@dalle2/tensor/testing';
import { Weights, type WeightScope } from '../src/weights.js';
import { Unet, parseUnetConfig, castUnetConfig, decoderUnetCast, type UnetConfig } from '../src/unet/index.js';
import { buildUnetLayers } from '../src/unet/layers.js';

const FIXTURES = new URL('../../../../shared/fixtures/', import.meta.url);
const TOL = { atol: 1e-4, rtol: 1e-4 };

let rt: Runtime;
let decoder: Record<string, unknown>;

/** Stands in for a WeightScope and records every (key, shape) the unet asks for. */
class RecordingScope {
  constructor(
    readonly keys: Map<string, number[]>,
    readonly prefix: string,
    private readonly dummy: Tensor,
  ) {}

  get(key: string, shape: readonly number[]): Tensor {
    this.keys.set(this.prefix ? `${this.prefix}.${key}` : key, [...shape]);
    return this.dummy;
  }

  scope(sub: string | number): RecordingScope {
    return new RecordingScope(this.keys, this.prefix ? `${this.prefix}.${sub}` : String(sub), this.dummy);
  }
}

/** The keys and shapes a config needs, then a unet over random weights of exactly those. */
function syntheticUnet(config: UnetConfig, seed: number): { unet: Unet; keys: Map<string, number[]>; weights: Weights } {
  const keys = new Map<string, number[]>();
  const dummy = Tensor.from(rt, [0], [1]);
  buildUnetLayers(new RecordingScope(keys, 'unets.0', dummy) as unknown as WeightScope, config);
  dummy.dispose();
  let s = seed;
  const entries = [...keys].map(([k, shape]) => {
    const n = shape.reduce((a, b) => a * b, 1);
    // GroupNorm / LayerNorm gains near 1, everything else small so activations stay O(1).
    const gain = /norm\.(weight|g)$|\.g$|norm_(mid_)?cond\.weight$/.test(k);
    const data = randn(n, s++, gain ? 0.1 : 0.3).map((v) => (gain ? 1 + v : v));
    return [k, { shape, data }] as [string, { shape: number[]; data: Float32Array }];
  });
  const weights = Weights.fromHost(rt, entries, 'synthetic');
  return { unet: new Unet(weights.scope('unets.0'), config), keys, weights };
}

function variant(index: number, patch: Record<string, unknown>): UnetConfig {
  const raw = { ...(decoder.unets as Record<string, unknown>[])[index], ...patch };
  const c = parseUnetConfig(raw, `decoder.unets[${index}]`);
  return castUnetConfig(c, decoderUnetCast(decoder, index, c));
}

function randomInputs(c: UnetConfig, batch: number, seed: number) {
  const size = 2 ** c.dimMults.length * 2;
  const img = (k: number) => Tensor.from(rt, randn(batch * c.channels * size * size, seed + k), [batch, c.channels, size, size]);
  const textLen = 5;
  const text = randn(batch * textLen * (c.textEmbedDim ?? 1), seed + 3);
  text.fill(0, (c.textEmbedDim ?? 1) * 3); // batch row 0 keeps 3 real tokens; all later positions are padding
  return {
    x: img(0),
    timesteps: Array.from({ length: batch }, (_, i) => 17 + 400 * i),
    imageEmbed: c.imageEmbedDim ? Tensor.from(rt, randn(batch * c.imageEmbedDim, seed + 2, 0.1), [batch, c.imageEmbedDim]) : undefined,
    textEncodings: c.condOnTextEncodings ? Tensor.from(rt, text, [batch, textLen, c.textEmbedDim!]) : undefined,
    lowresCondImg: c.lowresCond ? img(4) : undefined,
  };
}

beforeAll(async () => {
  rt = await testRuntime();
  decoder = (JSON.parse(await readFile(fileURLToPath(new URL('decoder/config.json', FIXTURES)), 'utf8')) as { decoder: Record<string, unknown> }).decoder;
});

describe('Unet variants on synthetic weights', () => {
  it('memory_efficient=false, NearestUpsample, cross-embed downsample, scaled skips: layout and CFG batching', async () => {
    const c = variant(0, {
      memory_efficient: false, pixel_shuffle_upsample: false, cross_embed_downsample: true, scale_skip_connection: true,
      num_resnet_blocks: 1, sparse_attn: true,
    });
    const { unet, keys, weights } = syntheticUnet(c, 100);
    const S = c.dimMults.length;
    const has = (re: RegExp) => [...keys.keys()].some((k) => re.test(k));
    expect(has(/^unets\.0\.downs\.\d+\.0\./)).toBe(false); // no pre-downsample
    expect(has(/^unets\.0\.init_resnet_block\./)).toBe(false);
    expect(keys.get('unets.0.downs.0.4.convs.1.weight')?.slice(2)).toEqual([c.crossEmbedDownsampleKernelSizes[1], c.crossEmbedDownsampleKernelSizes[1]]);
    expect(keys.get(`unets.0.downs.${S - 1}.4.weight`)?.slice(2)).toEqual([1, 1]);
    expect(keys.get('unets.0.ups.0.3.1.weight')?.slice(2)).toEqual([3, 3]); // nn.Upsample, then Conv2d at index 1
    expect(has(new RegExp(`^unets\\.0\\.ups\\.${S - 1}\\.3\\.`))).toBe(false);

    const a = randomInputs(c, 2, 7);
    const scale = 3;
    const cond = unet.forward(a);
    const nul = unet.forward({ ...a, imageCondDrop: true, textCondDrop: true });
    // per-row drops (what guidance batches): conditional rows then null rows in one pass
    const both = unet.forward({
      x: concat([a.x, a.x], 0), timesteps: [...a.timesteps, ...a.timesteps], imageEmbed: concat([a.imageEmbed!, a.imageEmbed!], 0),
      textEncodings: concat([a.textEncodings!, a.textEncodings!], 0), imageCondDrop: [false, false, true, true], textCondDrop: [false, false, true, true],
    });
    const guided = add(sliceAxis(both, 0, 2, 4), mulScalar(sub(sliceAxis(both, 0, 0, 2), sliceAxis(both, 0, 2, 4)), scale));
    const want = add(nul, mulScalar(sub(cond, nul), scale));
    const got = await guided.toFloat32();
    expect(got.every(Number.isFinite)).toBe(true);
    expect(guided.shape).toEqual([2, c.channelsOut, a.x.shape[2], a.x.shape[3]]);
    expectClose(got, await want.toFloat32(), TOL, 'batched cond/null rows vs two passes');
    // Each row is computed independently of the rest of the batch.
    const row1 = unet.forward({
      ...a, x: sliceAxis(a.x, 0, 1, 2), timesteps: [a.timesteps[1]], imageEmbed: sliceAxis(a.imageEmbed!, 0, 1, 2),
      textEncodings: sliceAxis(a.textEncodings!, 0, 1, 2),
    });
    expectClose(await row1.toFloat32(), await sliceAxis(cond, 0, 1, 2).toFloat32(), TOL, 'row 1 alone vs in batch');
    for (const t of [both, guided, cond, nul, want, row1, a.x, a.imageEmbed, a.textEncodings]) t?.dispose();
    weights.dispose();
  });

  it('upsampler with a 3x3 final conv and full self-attention in a stage', async () => {
    const stages = ((decoder.unets as Record<string, unknown>[])[1].dim_mults as number[]).length;
    const c = variant(1, { final_conv_kernel_size: 3, self_attn: Array.from({ length: stages }, (_, i) => i === 1) });
    const { unet, keys, weights } = syntheticUnet(c, 200);
    expect(keys.get('unets.0.to_out.weight')).toEqual([c.channelsOut, c.dim + c.channels, 3, 3]);
    expect(keys.has('unets.0.downs.1.3.fn.fn.to_kv.weight')).toBe(true);
    const a = randomInputs(c, 1, 11);
    const out = unet.forward(a);
    const two = unet.forward({ ...a, x: concat([a.x, a.x], 0), timesteps: [a.timesteps[0], a.timesteps[0]], lowresCondImg: concat([a.lowresCondImg!, a.lowresCondImg!], 0), imageEmbed: undefined });
    expect(out.shape).toEqual([1, c.channelsOut, a.x.shape[2], a.x.shape[3]]);
    const o = await out.toFloat32();
    expect(o.every(Number.isFinite)).toBe(true);
    expectClose(await sliceAxis(two, 0, 1, 2).toFloat32(), o, TOL, 'duplicated row');
    for (const t of [out, two, a.x, a.imageEmbed, a.lowresCondImg]) t?.dispose();
    weights.dispose();
  });
});
