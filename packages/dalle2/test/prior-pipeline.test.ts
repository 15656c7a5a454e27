// DiffusionPrior (DALLE2-pytorch 1.1.0 sampling loop) driving prior networks:
// - with a small host-checkable mock net: sampler choice (DDIM when S < T, else DDPM), the exact noise
//   draw order/count, 'b ... -> (b r) ...' repetition, division by image_embed_scale, reranking (no
//   re-normalisation), the one-time cond_scale warning, token input through a CLIP adapter, bounded
//   GPU memory, one submit per step and a single readback;
// - with the real DiffusionPriorNetwork on shared/fixtures/prior: a recorded DDIM r=2 run replayed.
// Config parsing of the released TrainDiffusionPriorConfig `prior` section is checked on the fixtures.
// Tolerances: mock-net values atol 1e-5 + rtol 1e-5 (f32 GPU vs f64 host); fixture run 1e-4 + 1e-4.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { fileURLToPath } from 'node:url';
import { readFile } from 'node:fs/promises';
import { Runtime, Tensor, SafetensorsFile, tidy, add, mul, mulScalar } from '@dalle2/tensor';
import { expectClose } from '@dalle2/tensor/testing';
import { NoiseSchedule, ReplayNoise, SeededNoise, ddimTimePairs, topIndexPerRow, type NoiseSource } from '@dalle2/sampler';
import { DiffusionPriorNetwork, parsePriorNetConfig } from '@dalle2/models';
import {
  DiffusionPrior, DiffusionPriorConfigError, parseDiffusionPriorConfig, repeatTokenRows, type DiffusionPriorConfig, type PriorNet,
  type PriorNetInputs, type PriorStepInfo, type PriorTextEncoder,
} from '../src/pipelines/index.js';

const FIXTURES = new URL('../../../../shared/fixtures/', import.meta.url);
const fixture = (rel: string) => fileURLToPath(new URL(rel, FIXTURES));
const TOL = { atol: 1e-5, rtol: 1e-5 };

let rt: Runtime;
beforeAll(async () => {
  rt = await Runtime.create();
});
afterAll(async () => {
  await rt?.destroy();
});

/**
 * pred = 0.5 * x_t + text_embed (0.5 * x_t on rows whose conditioning is dropped): the text rows a step
 * saw are recoverable from (x, pred). It states whether guidance is a no-op for it, as the real net does.
 */
class MockNet implements PriorNet {
  readonly calls: { timesteps: number[]; batch: number; dropCond?: boolean[]; encodings: boolean }[] = [];
  constructor(
    readonly rt: Runtime,
    readonly config: { dim: number },
    readonly condScaleIsNoop = true,
  ) {}

  forward(inp: PriorNetInputs, dropCond?: readonly boolean[]): Tensor {
    const B = inp.imageEmbed.shape[0];
    this.calls.push({ timesteps: Array.from(inp.timesteps), batch: B, dropCond: dropCond && [...dropCond], encodings: !!inp.textEncodings });
    const D = this.config.dim;
    return tidy(this.rt, () => {
      const keep = dropCond ? Tensor.from(this.rt, Float32Array.from({ length: B * D }, (_, i) => (dropCond[Math.floor(i / D)] ? 0 : 1)), [B, D]) : undefined;
      return add(mulScalar(inp.imageEmbed, 0.5), keep ? mul(inp.textEmbed, keep) : inp.textEmbed);
    });
  }
}

/** Seeded draws, logging each requested shape. */
class LoggedNoise implements NoiseSource {
  readonly shapes: number[][] = [];
  private readonly inner: SeededNoise;
  constructor(seed: number) {
    this.inner = new SeededNoise(seed);
  }
  next(shape: readonly number[]): Float32Array {
    this.shapes.push([...shape]);
    return this.inner.next(shape);
  }
}

function config(over: Partial<DiffusionPriorConfig> = {}): DiffusionPriorConfig {
  return {
    imageEmbedDim: 8,
    timesteps: 20,
    sampleTimesteps: 4,
    betaSchedule: 'cosine',
    predictXStart: true,
    conditionOnTextEncodings: true,
    condDropProb: 0,
    samplingClampL2norm: false,
    samplingFinalClampL2norm: false,
    initImageEmbedL2norm: false,
    ...over,
  };
}

function hostText(B: number, D: number, seed: number): Float32Array {
  return new SeededNoise(seed).next([B, D]);
}

describe('DiffusionPrior config (TrainDiffusionPriorConfig prior section)', () => {
  it('parses the fixture configs: DDIM (sample_timesteps < timesteps) and the DDPM variant (null)', async () => {
    const ddim = parseDiffusionPriorConfig(await readFile(fixture('prior/config.json'), 'utf8'));
    const ddpm = parseDiffusionPriorConfig(JSON.parse(await readFile(fixture('prior/config_ddpm.json'), 'utf8')));
    const raw = JSON.parse(await readFile(fixture('prior/config.json'), 'utf8')).prior;
    expect(ddim).toMatchObject({
      imageEmbedDim: raw.image_embed_dim,
      timesteps: raw.timesteps,
      sampleTimesteps: raw.sample_timesteps,
      betaSchedule: raw.beta_schedule,
      predictXStart: raw.predict_x_start,
      conditionOnTextEncodings: raw.condition_on_text_encodings,
      condDropProb: raw.cond_drop_prob,
      imageEmbedScale: undefined,
    });
    expect(ddpm.sampleTimesteps).toBeUndefined();
  });

  it('applies DiffusionPrior defaults and names the JSON path in errors', () => {
    const c = parseDiffusionPriorConfig({ prior: { net: {}, image_embed_dim: 16, image_size: 32 } });
    expect(c).toMatchObject({ timesteps: 1000, betaSchedule: 'cosine', predictXStart: true, conditionOnTextEncodings: true, condDropProb: 0 });
    expect(() => parseDiffusionPriorConfig({ prior: { image_embed_dim: 16, bogus: 1 } })).toThrow(/prior\.bogus: unknown option/);
    expect(() => parseDiffusionPriorConfig({ prior: { image_embed_dim: 16, timesteps: 10, sample_timesteps: 11 } })).toThrow(
      /prior\.sample_timesteps: 11 exceeds timesteps 10/,
    );
    expect(() => parseDiffusionPriorConfig({ prior: { timesteps: 10 } })).toThrow(DiffusionPriorConfigError);
    expect(() => parseDiffusionPriorConfig({ prior: { image_embed_dim: 16, beta_schedule: 'cosin' } })).toThrow(/prior\.beta_schedule/);
  });
});

describe('DiffusionPrior with a mock net', () => {
  it('DDIM when S < T: visits the upstream time pairs, draws 1 + (S - 1) noises of [(b r), D], returns [B, D]', async () => {
    const D = 8;
    const B = 3;
    const r = 2;
    const net = new MockNet(rt, { dim: D });
    const prior = new DiffusionPrior({ net, config: config() });
    expect(prior.resolveSteps()).toEqual({ steps: 4, sampler: 'ddim' });
    const text = Tensor.from(rt, hostText(B, D, 1), [B, D]);
    const noise = new LoggedNoise(7);
    const out = await prior.sample({ textEmbed: text }, { numSamplesPerBatch: r, noise });
    expect(out.shape).toEqual([B, D]);
    expect(net.calls.map((c) => c.timesteps)).toEqual(ddimTimePairs(20, 4).map(([t]) => new Array(B * r).fill(t)));
    expect(noise.shapes).toEqual(new Array(4).fill([B * r, D])); // x_T + one per step except the last
    expect(net.calls.every((c) => !c.encodings)).toBe(true);
    out.dispose();
    text.dispose();
  });

  it('DDPM when S = T (sample_timesteps null or timesteps = T): times T-1 .. 0 and T + 1 draws', async () => {
    const D = 8;
    const net = new MockNet(rt, { dim: D });
    const prior = new DiffusionPrior({ net, config: config({ timesteps: 6, sampleTimesteps: undefined }) });
    const text = Tensor.from(rt, hostText(2, D, 2), [2, D]);
    const noise = new LoggedNoise(3);
    (await prior.sample({ textEmbed: text }, { numSamplesPerBatch: 1, noise })).dispose();
    expect(net.calls.map((c) => c.timesteps[0])).toEqual([5, 4, 3, 2, 1, 0]);
    expect(noise.shapes.length).toBe(7);
    // explicit timesteps: S = T is DDPM, S < T DDIM, S > T rejected as upstream asserts
    expect(prior.resolveSteps(6).sampler).toBe('ddpm');
    expect(prior.resolveSteps(5).sampler).toBe('ddim');
    await expect(prior.sample({ textEmbed: text }, { noise, timesteps: 7 })).rejects.toThrow(/timesteps 7 must be an integer in \[1, 6\]/);
    text.dispose();
  });

  it("repeats each text row r times ('b ... -> (b r) ...'), divides by image_embed_scale, reranks by cosine similarity, no re-normalisation", async () => {
    const D = 8;
    const B = 2;
    const r = 3;
    const textHost = hostText(B, D, 5);
    const text = Tensor.from(rt, textHost, [B, D]);
    const enc = Tensor.from(rt, new SeededNoise(9).next([B, 5, D]), [B, 5, D]);
    const net = new MockNet(rt, { dim: D });
    const prior = new DiffusionPrior({ net, config: config() });
    expect(prior.imageEmbedScale).toBe(Math.sqrt(D));
    const seen: Float32Array[] = [];
    const onStep = async (s: PriorStepInfo) => {
      const x = await s.x.toFloat32();
      const p = await s.pred.toFloat32();
      seen.push(p.map((v, i) => v - 0.5 * x[i]));
    };
    const res = await prior.sampleDetailed({ textEmbed: text, textEncodings: enc }, { numSamplesPerBatch: r, noise: new SeededNoise(11), onStep });
    // every step saw rows t0, t0, t0, t1, t1, t1, and the encodings
    const repeated = Float32Array.from({ length: B * r * D }, (_, i) => textHost[Math.floor(i / (r * D)) * D + (i % D)]);
    for (const s of seen) expectClose(s, repeated, TOL, 'text rows per step');
    expect(net.calls.every((c) => c.encodings && c.batch === B * r)).toBe(true);

    const loop = await res.loopOut.toFloat32();
    const cand = await res.candidates.toFloat32();
    const best = await res.imageEmbed.toFloat32();
    expect(res.candidates.shape).toEqual([B, r, D]);
    expectClose(cand, loop.map((v) => v / Math.sqrt(D)), TOL, 'candidates = loop / scale');
    const norm = (a: ArrayLike<number>) => Math.sqrt(Array.from(a).reduce((s, v) => s + v * v, 0));
    const sims = new Float32Array(B * r);
    for (let b = 0; b < B; b++) {
      const t = textHost.subarray(b * D, (b + 1) * D);
      for (let k = 0; k < r; k++) {
        const c = cand.subarray((b * r + k) * D, (b * r + k + 1) * D);
        sims[b * r + k] = t.reduce((s, v, i) => s + v * c[i], 0) / (norm(t) * norm(c));
      }
    }
    expectClose(res.similarities, sims, TOL, 'similarities');
    expect(Array.from(res.topIndex)).toEqual(Array.from(topIndexPerRow(sims, B, r)));
    for (let b = 0; b < B; b++) {
      const k = res.topIndex[b];
      expect(Array.from(best.subarray(b * D, (b + 1) * D))).toEqual(Array.from(cand.subarray((b * r + k) * D, (b * r + k + 1) * D)));
      expect(Math.abs(norm(best.subarray(b * D, (b + 1) * D)) - 1)).toBeGreaterThan(1e-3); // not re-normalised
    }
    for (const t of [res.imageEmbed, res.loopOut, res.candidates, text, enc]) t.dispose();
  });

  it('topIndexPerRow is torch.topk(k=1): first maximum wins, NaN counts as largest', () => {
    expect(Array.from(topIndexPerRow(Float32Array.from([1, 3, 3, 0, -1, NaN, 2, 5, 1]), 3, 3))).toEqual([1, 2, 1]);
  });

  it('condition_on_text_encodings = false drops the encodings; an explicit image_embed_scale is used', async () => {
    const D = 8;
    const net = new MockNet(rt, { dim: D });
    const prior = new DiffusionPrior({ net, config: config({ conditionOnTextEncodings: false, imageEmbedScale: 2 }) });
    const text = Tensor.from(rt, hostText(1, D, 4), [1, D]);
    const enc = Tensor.from(rt, new Float32Array(3 * D).fill(1), [1, 3, D]);
    const res = await prior.sampleDetailed({ textEmbed: text, textEncodings: enc }, { numSamplesPerBatch: 1, noise: new SeededNoise(1) });
    expect(net.calls.every((c) => !c.encodings)).toBe(true);
    expectClose(await res.candidates.toFloat32(), (await res.loopOut.toFloat32()).map((v) => v / 2), TOL, 'scale 2');
    for (const t of [res.imageEmbed, res.loopOut, res.candidates, text, enc]) t.dispose();
  });

  it('init_image_embed_l2norm / sampling_final_clamp_l2norm: x_T and the loop output have norm image_embed_scale per row', async () => {
    const D = 8;
    const net = new MockNet(rt, { dim: D });
    const prior = new DiffusionPrior({ net, config: config({ initImageEmbedL2norm: true, samplingFinalClampL2norm: true }) });
    const text = Tensor.from(rt, hostText(2, D, 4), [2, D]);
    const firstX: Float32Array[] = [];
    const res = await prior.sampleDetailed(
      { textEmbed: text },
      { numSamplesPerBatch: 1, noise: new SeededNoise(8), onStep: async (s) => void (s.index === 0 && firstX.push(await s.x.toFloat32())) },
    );
    const rowNorms = (a: Float32Array) => [0, 1].map((b) => Math.hypot(...a.subarray(b * D, (b + 1) * D)));
    expectClose(rowNorms(firstX[0]), [Math.sqrt(D), Math.sqrt(D)], TOL, 'x_T norms');
    expectClose(rowNorms(await res.loopOut.toFloat32()), [Math.sqrt(D), Math.sqrt(D)], TOL, 'loop output norms');
    for (const t of [res.imageEmbed, res.loopOut, res.candidates, text]) t.dispose();
  });

  it('warns once when condScale != 1 (a no-op in 1.1.0) and keeps upstream DDPM assertion without cond dropout', async () => {
    const D = 8;
    const warnings: string[] = [];
    const net = new MockNet(rt, { dim: D });
    const text = Tensor.from(rt, hostText(1, D, 4), [1, D]);
    const prior = new DiffusionPrior({ net, config: config(), warn: (m) => warnings.push(m) });
    expect(prior.condScaleIsNoop).toBe(true); // the net's own statement, as DiffusionPriorNetwork.condScaleIsNoop
    for (let i = 0; i < 2; i++) (await prior.sample({ textEmbed: text }, { numSamplesPerBatch: 1, condScale: 3, noise: new SeededNoise(i) })).dispose();
    (await prior.sample({ textEmbed: text }, { numSamplesPerBatch: 1, noise: new SeededNoise(5) })).dispose();
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/condScale 3 has no effect/);
    // guidance skipped: one plain forward per step, no null rows
    expect(net.calls.every((c) => c.batch === 1 && c.dropCond === undefined)).toBe(true);

    const ddpm = new DiffusionPrior({ net, config: config({ timesteps: 4, sampleTimesteps: undefined }), warn: () => {} });
    await expect(ddpm.sample({ textEmbed: text }, { condScale: 2, noise: new SeededNoise(1) })).rejects.toThrow(/not trained with conditional dropout/);
    const ddpmDrop = new DiffusionPrior({ net, config: config({ timesteps: 4, sampleTimesteps: undefined, condDropProb: 0.1 }), warn: () => {} });
    (await ddpmDrop.sample({ textEmbed: text }, { condScale: 2, noise: new SeededNoise(1) })).dispose();
    text.dispose();
  });

  it('a net whose guidance is not a no-op: one doubled batch per step, null + (cond - null) * s', async () => {
    const D = 8;
    const net = new MockNet(rt, { dim: D }, false);
    const host = hostText(2, D, 6);
    const text = Tensor.from(rt, host, [2, D]);
    const warnings: string[] = [];
    const prior = new DiffusionPrior({ net, config: config(), warn: (m) => warnings.push(m) });
    const preds: { x: Float32Array; pred: Float32Array }[] = [];
    const onStep = async (s: PriorStepInfo) => void preds.push({ x: await s.x.toFloat32(), pred: await s.pred.toFloat32() });
    (await prior.sample({ textEmbed: text }, { numSamplesPerBatch: 1, condScale: 3, noise: new SeededNoise(2), onStep })).dispose();
    expect(warnings).toHaveLength(0);
    expect(net.calls.every((c) => c.batch === 4 && c.dropCond?.join() === 'false,false,true,true')).toBe(true);
    // null = 0.5 x, cond = 0.5 x + text: guided = 0.5 x + 3 text
    for (const { x, pred } of preds) expectClose(pred, Float64Array.from(x, (v, i) => 0.5 * v + 3 * host[i]), TOL, 'guided pred');
    text.dispose();
  });

  it('token input: repeats token rows, embeds them with the CLIP adapter; needs an adapter', async () => {
    const D = 8;
    const seen: { tokens: number[]; batch: number }[] = [];
    const clip: PriorTextEncoder = {
      embedText(tokens, batch) {
        seen.push({ tokens: Array.from(tokens), batch });
        const L = tokens.length / batch;
        const emb = Float32Array.from({ length: batch * D }, (_, i) => tokens[Math.floor(i / D) * L] + (i % D));
        return { textEmbed: Tensor.from(rt, emb, [batch, D]), textEncodings: Tensor.from(rt, new Float32Array(batch * 2 * D).fill(0.5), [batch, 2, D]) };
      },
    };
    const net = new MockNet(rt, { dim: D });
    await rt.sync();
    const before = rt.memory().inUse;
    const out = await new DiffusionPrior({ net, config: config(), clip }).sample({ tokens: Int32Array.from([1, 2, 3, 4, 5, 6]), batch: 2 }, { noise: new SeededNoise(2) });
    expect(seen).toEqual([{ tokens: [1, 2, 3, 1, 2, 3, 4, 5, 6, 4, 5, 6], batch: 4 }]);
    expect(Array.from(repeatTokenRows(Int32Array.from([7, 8]), 2, 3))).toEqual([7, 7, 7, 8, 8, 8]);
    expect(out.shape).toEqual([2, D]);
    out.dispose();
    await rt.sync();
    expect(rt.memory().inUse).toBe(before); // the adapter's tensors were freed
    await expect(new DiffusionPrior({ net, config: config() }).sample({ tokens: Int32Array.from([1]), batch: 1 }, { noise: new SeededNoise(1) })).rejects.toThrow(
      /needs a CLIP adapter/,
    );
  });

  it('bounded memory, one submit per step, a single readback (the similarities)', async () => {
    const D = 8;
    const net = new MockNet(rt, { dim: D });
    const prior = new DiffusionPrior({ net, config: config({ timesteps: 12, sampleTimesteps: undefined }) });
    const text = Tensor.from(rt, hostText(2, D, 4), [2, D]);
    await rt.sync();
    const before = rt.memory().inUse;
    const perStep: number[] = [];
    (await prior.sample({ textEmbed: text }, { noise: new SeededNoise(3), onStep: () => void perStep.push(rt.memory().inUse) })).dispose();
    await rt.sync(); // releases the pending stream's uniform arena
    expect(rt.memory().inUse).toBe(before);
    expect(new Set(perStep.slice(1)).size).toBe(1); // the same working set at every step

    // the pool's buffers stop growing after the first steps: at most one step is queued, so buffers recycle
    const long = new DiffusionPrior({ net, config: config({ timesteps: 40, sampleTimesteps: undefined }) });
    const allocated: number[] = [];
    (await long.sample({ textEmbed: text }, { noise: new SeededNoise(4), onStep: () => void allocated.push(rt.memory().allocated) })).dispose();
    expect(allocated[39]).toBe(allocated[5]);

    const flush = rt.flush.bind(rt);
    const readBinding = rt.readBinding.bind(rt);
    let flushes = 0;
    let reads = 0;
    rt.flush = () => {
      flushes++;
      flush();
    };
    rt.readBinding = (...a) => {
      reads++;
      return readBinding(...a);
    };
    try {
      (await prior.sample({ textEmbed: text }, { noise: new SeededNoise(3) })).dispose();
    } finally {
      rt.flush = flush;
      rt.readBinding = readBinding;
    }
    expect(reads).toBe(1);
    expect(flushes).toBe(12 + 1); // one per DDPM step + the readback's
    text.dispose();
  });
});

describe('DiffusionPrior with DiffusionPriorNetwork (shared/fixtures/prior)', () => {
  it('replays sample_ddim_r2 (recorded text, noise): image_embed, similarities, top_index', async () => {
    const json = JSON.parse(await readFile(fixture('prior/config.json'), 'utf8'));
    const net = await DiffusionPriorNetwork.fromSafetensors(rt, fixture('prior/weights.safetensors'), parsePriorNetConfig(json));
    const cfg = parseDiffusionPriorConfig(json);
    const prior = new DiffusionPrior({ net, config: cfg, schedule: NoiseSchedule.create(cfg.betaSchedule, cfg.timesteps) });
    const manifest = JSON.parse(await readFile(fixture('manifest.json'), 'utf8'));
    const r: number = manifest.files['prior/sample_ddim_r2.safetensors'].num_samples_per_batch;
    const f = await SafetensorsFile.open(fixture('prior/sample_ddim_r2.safetensors'));
    try {
      const [rows, D] = f.info('clip_text_embed').shape;
      const encShape = f.info('clip_text_encodings').shape;
      const pick = (a: Float32Array, w: number) => Float32Array.from({ length: (rows / r) * w }, (_, i) => a[Math.floor(i / w) * r * w + (i % w)]);
      const encW = encShape[1] * encShape[2];
      const text = Tensor.from(rt, pick(await f.readFloat32('clip_text_embed'), D), [rows / r, D]);
      const enc = Tensor.from(rt, pick(await f.readFloat32('clip_text_encodings'), encW), [rows / r, encShape[1], encShape[2]]);
      const noise = await ReplayNoise.fromSafetensors(f);
      const res = await prior.sampleDetailed({ textEmbed: text, textEncodings: enc }, { numSamplesPerBatch: r, noise });
      expect(noise.remaining).toBe(0);
      const FX = { atol: 1e-4, rtol: 1e-4 };
      expectClose(await res.imageEmbed.toFloat32(), await f.readFloat32('image_embed'), FX, 'image_embed');
      expectClose(res.similarities, await f.readFloat32('similarities'), FX, 'similarities');
      expect(Array.from(res.topIndex)).toEqual(Array.from(await f.read('top_index'), Number));
      for (const t of [res.imageEmbed, res.loopOut, res.candidates, text, enc]) t.dispose();
    } finally {
      await f.close();
      net.dispose();
    }
  }, 600_000);
});
