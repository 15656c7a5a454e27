// The `decoder` suite: decoder Unet ms per forward (batch 2) and per DDIM sampling step (batch 1 with
// classifier-free guidance, i.e. one batch-2 forward plus the step math), f32 and f16 weights, with
// peak GPU memory, for the fixture decoder's unets (shared/fixtures/decoder) and a random-initialised
// unet shaped like LAION's released decoder v1.0.2. The step is composed here from Unet, the decoder
// pipeline's unetForwardWithCondScale and @dalle2/sampler's ddimStep as Decoder.loopStep does it, so
// this suite does not depend on the Decoder class's API. The LAION-sized unet takes tens of seconds
// per forward on a software adapter: its forward is warmed once (the first run, shader compilation included, is in the row's note) and timed,
// its step is derived as that forward plus the separately measured step math (the guided step is one
// batch-2 forward), and the 50-step sample as 50 steps (all marked `~`).
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  Unet, castUnetConfig, decoderUnetCast, parseDecoderUnetConfigs, parseUnetConfig, type UnetConfig, type UnetForwardArgs,
} from '@dalle2/models';
import { unetForwardWithCondScale } from '@dalle2/dalle2';
import {
  BETA_SCHEDULES, NoiseSchedule, SeededNoise, ddimStep, ddimTimePairs, drawNoise, splitLearnedVariance, type BetaScheduleKind,
} from '@dalle2/sampler';
import type { BenchOptions } from './harness.js';
import { Runtime, Tensor, cast, type DType } from '@dalle2/tensor';
import {
  ModelBench, randomData, randomWeights, specParams, textEncodings, timed, unetSpec, type CaseId, type ModelRow,
} from './randomWeights.js';

const FIXTURE_DIR = new URL('../../shared/fixtures/decoder/', import.meta.url);
/** dalle2-laion's defaults for decoder v1.0.2: 50 DDIM steps, cond_scale 1.7 (any scale != 1 costs the same). */
const SAMPLE_STEPS = 50;
const COND_SCALE = 1.7;
const TEXT_LEN = 77;
const TEXT_TOKENS = 12;

/**
 * LAION decoder v1.0.2 (laion/DALLE2-PyTorch decoder/v1.0.2, as ported in Oneflow libai's DALLE2
 * config): one 64x64 unet conditioned on ViT-L/14 image embeds and text encodings, learned variance.
 */
const LAION_DECODER = {
  unets: [{
    dim: 320, cond_dim: 512, image_embed_dim: 768, text_embed_dim: 768, cond_on_text_encodings: true, channels: 3,
    dim_mults: [1, 2, 3, 4], num_resnet_blocks: 4, attn_heads: 8, attn_dim_head: 64, sparse_attn: true,
    memory_efficient: true, self_attn: [false, true, true, true],
  }],
  image_sizes: [64], channels: 3, timesteps: 1000, beta_schedule: ['cosine'], learned_variance: true,
};

/** One unet of a decoder, ready to bench. */
export interface UnetModel {
  name: string;
  config: UnetConfig;
  imageSize: number;
  schedule: NoiseSchedule;
  /** Builds the unet with weights of `dtype`; `dispose` frees them. */
  load: (dtype: DType) => Promise<{ unet: Unet; params: number; dispose: () => void }>;
  /** Large: one unwarmed forward; the step and the sample are derived from it. */
  big: boolean;
  /** Part of --quick runs. */
  quick: boolean;
}

/** Forward inputs for `batch` rows at the unet's size (conditioning only where the unet takes it). */
export function inputs(rt: Runtime, m: UnetModel, batch: number, time: number): UnetForwardArgs {
  const c = m.config;
  const S = m.imageSize;
  const image = (seed: number) => Tensor.from(rt, randomData(batch * c.channels * S * S, seed), [batch, c.channels, S, S]);
  return {
    x: image(21),
    timesteps: new Array<number>(batch).fill(time),
    imageEmbed: c.condOnImageEmbeds ? Tensor.from(rt, randomData(batch * c.imageEmbedDim!, 22, 0.05), [batch, c.imageEmbedDim!]) : undefined,
    textEncodings: c.condOnTextEncodings ? textEncodings(rt, batch, TEXT_LEN, c.textEmbedDim!, TEXT_TOKENS, 23) : undefined,
    lowresCondImg: c.lowresCond ? image(24) : undefined,
  };
}

export function disposeInputs(a: UnetForwardArgs): void {
  for (const t of [a.x, a.imageEmbed, a.textEncodings, a.lowresCondImg]) t?.dispose();
}

/** Decoder.loopStep's DDIM update from a guided unet output: f32, variance channels dropped, static clamp, eta 1. */
function ddimUpdate(m: UnetModel, a: UnetForwardArgs, raw: Tensor, timeNext: number, noise: Tensor): Tensor {
  const out = raw.dtype === 'f32' ? raw : cast(raw, 'f32');
  const learned = m.config.channelsOut === 2 * m.config.channels;
  const pred = learned ? splitLearnedVariance(out).pred : out;
  const next = ddimStep({ sched: m.schedule, xt: a.x, time: a.timesteps[0], timeNext, modelOutput: pred, predictX0: false, clamp: true, eta: 1, noise });
  for (const t of new Set([out, pred])) if (t !== raw) t.dispose();
  return next;
}

function caseIds(m: UnetModel, dtype: DType) {
  const size = `${m.imageSize}x${m.imageSize}`;
  const id = (name: string, shape: string) => ({ model: m.name, case: name, shape: `${shape} ${size}`, dtype });
  return {
    forward: id('unet forward', 'b2'),
    step: id(`ddim step cfg${COND_SCALE}`, 'b1(x2)'),
    stepMath: id('ddim step math', 'b1'),
    sample: id(`ddim${SAMPLE_STEPS} sample`, 'b1(x2)'),
  } satisfies Record<string, CaseId>;
}

/** Ids of the cases a model runs (the big one derives its step and sample). */
function modelIds(m: UnetModel, dtype: DType): CaseId[] {
  const ids = caseIds(m, dtype);
  return m.big ? [ids.forward, ids.stepMath, ids.step, ids.sample] : [ids.forward, ids.step];
}

/**
 * Forward and step cases of one unet and dtype; returns the forward's time. `expectForwardMs` (a big
 * unet's time in another dtype) lets the suite skip a forward that could not finish in time.
 */
async function benchUnet(bench: ModelBench, m: UnetModel, dtype: DType, expectForwardMs?: number): Promise<number | undefined> {
  const rt = bench.rt;
  const ids = caseIds(m, dtype);
  const { value: loaded, ms } = await timed(() => m.load(dtype));
  const { unet } = loaded;
  // A mid-loop step of dalle2-laion's 50-step DDIM schedule (it draws noise; only the last step does not).
  const [time, timeNext] = ddimTimePairs(m.schedule.numTimesteps, SAMPLE_STEPS)[1];
  const fwd = inputs(rt, m, 2, time);
  const step = inputs(rt, m, 1, time);
  const noise = drawNoise(rt, new SeededNoise(3), step.x.shape);
  try {
    bench.noteModel(m.name, dtype, loaded.params, ms);
    const forward = await bench.run({
      ...ids.forward,
      // Big unets too: one untimed first run (reported in the row's note: shader compilation), then timed runs.
      expectMs: expectForwardMs && 2 * expectForwardMs,
      once: async () => {
        const out = unet.forward(fwd);
        await rt.sync();
        out.dispose();
      },
    });
    if (m.big) await bigStep(bench, m, ids, forward, step, timeNext, noise);
    else {
      await bench.run({
        ...ids.step,
        once: async () => {
          const raw = unetForwardWithCondScale(unet, step, COND_SCALE);
          const next = ddimUpdate(m, step, raw, timeNext, noise);
          await rt.sync();
          raw.dispose();
          next.dispose();
        },
      });
    }
    return forward && !forward.error ? forward.ms : undefined;
  } finally {
    disposeInputs(fwd);
    disposeInputs(step);
    noise.dispose();
    loaded.dispose();
  }
}

/** Big unet: the step math on a stand-in guided output, then the step and the sample derived from the forward. */
async function bigStep(
  bench: ModelBench, m: UnetModel, ids: ReturnType<typeof caseIds>, forward: ModelRow | undefined, step: UnetForwardArgs, timeNext: number, noise: Tensor,
): Promise<void> {
  const rt = bench.rt;
  const { channelsOut } = m.config;
  const S = m.imageSize;
  const raw = Tensor.from(rt, randomData(channelsOut * S * S, 25), [1, channelsOut, S, S], ids.stepMath.dtype);
  try {
    const math = await bench.run({
      ...ids.stepMath,
      once: async () => {
        const next = ddimUpdate(m, step, raw, timeNext, noise);
        await rt.sync();
        next.dispose();
      },
    });
    const stepRow = bench.derive(ids.step, [forward, math], ([f, s]) => f.ms + s.ms, 'derived: unet forward b2 + ddim step math (guidance runs the cond and null rows as one batch-2 forward)');
    bench.derive(ids.sample, [stepRow], ([s]) => SAMPLE_STEPS * s.ms, `derived: ${SAMPLE_STEPS} x the ddim step`);
  } finally {
    raw.dispose();
  }
}

function scheduleKind(v: unknown, index: number): BetaScheduleKind {
  const kind = Array.isArray(v) ? (v[index] as unknown) : (v ?? 'cosine');
  if (typeof kind !== 'string' || !(BETA_SCHEDULES as readonly string[]).includes(kind)) throw new Error(`decoder bench: unknown beta_schedule ${String(kind)}`);
  return kind as BetaScheduleKind;
}

/** The fixture decoder's unets, loaded from its safetensors (absent fixture: none). */
export function fixtureModels(bench: ModelBench): UnetModel[] {
  const weightsPath = fileURLToPath(new URL('weights.safetensors', FIXTURE_DIR));
  const configPath = fileURLToPath(new URL('config.json', FIXTURE_DIR));
  if (!existsSync(weightsPath) || !existsSync(configPath)) {
    bench.skipModel('decoder-fixture', 'f32', `skipped: no fixture decoder in ${fileURLToPath(FIXTURE_DIR)}`);
    return [];
  }
  const json = readFileSync(configPath, 'utf8');
  const dec = (JSON.parse(json) as { decoder: { image_sizes: number[]; beta_schedule?: unknown; timesteps?: number } }).decoder;
  return parseDecoderUnetConfigs(json, configPath).map((config, i) => ({
    name: `decoder-fixture unet${i + 1}`,
    config,
    imageSize: dec.image_sizes[i],
    schedule: NoiseSchedule.create(scheduleKind(dec.beta_schedule, i), dec.timesteps ?? 1000),
    big: false,
    quick: true,
    load: async (dtype) => {
      const unet = await Unet.fromSafetensors(bench.rt, weightsPath, i, config, {}, { dtype });
      return { unet, params: specParams(unetSpec(bench.rt, config, i)), dispose: () => unet.dispose() };
    },
  }));
}

/** The LAION v1.0.2-shaped unet on random weights. */
export function laionModel(bench: ModelBench): UnetModel {
  const raw = parseUnetConfig(LAION_DECODER.unets[0], 'decoder.unets[0]', 'LAION decoder v1.0.2');
  const config = castUnetConfig(raw, decoderUnetCast(LAION_DECODER, 0, raw));
  const spec = unetSpec(bench.rt, config);
  return {
    name: 'decoder-laion-v1.0.2 (random)',
    config,
    imageSize: LAION_DECODER.image_sizes[0],
    schedule: NoiseSchedule.create('cosine', LAION_DECODER.timesteps),
    big: true,
    quick: false,
    load: async (dtype) => {
      const weights = randomWeights(bench.rt, spec, 'random LAION decoder v1.0.2', dtype);
      try {
        return { unet: new Unet(weights.scope('unets.0'), config), params: specParams(spec), dispose: () => weights.dispose() };
      } catch (e) {
        weights.dispose();
        throw e;
      }
    },
  };
}

/** `pnpm bench decoder`: fixture unets and the random LAION-shaped unet, f32 and f16. */
export async function runDecoderSuite(opts: BenchOptions): Promise<void> {
  const rt = await Runtime.create();
  try {
    console.log(`adapter: ${rt.describe()}`);
    const bench = new ModelBench(rt, opts, opts.quick ? { caseMs: 5_000, suiteMs: 3 * 60_000 } : { caseMs: 60_000, suiteMs: 9.5 * 60_000 });
    const models = [...fixtureModels(bench), laionModel(bench)];
    for (const m of models) {
      let forwardMs: number | undefined; // f32 time: a conservative estimate for the big unet's f16 run
      for (const dtype of ['f32', 'f16'] as const) {
        const ids = modelIds(m, dtype);
        if (!bench.wantsAny(ids)) continue;
        const expectMs = m.big ? forwardMs : undefined;
        const skip = opts.quick && !m.quick ? 'skipped in --quick (run without --quick)' : dtype === 'f16' && !rt.hasF16 ? 'no shader-f16' : bench.lateReason(expectMs);
        if (skip) {
          bench.skipModel(m.name, dtype, skip);
          continue;
        }
        const ms = await benchUnet(bench, m, dtype, expectMs);
        forwardMs ??= ms;
      }
    }
    bench.finish('decoder', { sampleSteps: SAMPLE_STEPS, condScale: COND_SCALE });
  } finally {
    await rt.destroy();
  }
}
