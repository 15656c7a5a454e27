// DDIM step math vs upstream's recorded DDIM runs. The prior and decoder sample_ddim fixtures record,
// per step, the network input x_t, its timestep and the network output, plus every noise draw in
// order, so each update x_t -> x_next can be checked without the models: step k's inputs and the
// recorded output give step k+1's recorded input (the last gives p_sample_loop's output). A chained
// run (initial randn replayed, then our own x_t fed forward with the recorded outputs) checks the
// draw order too. Tolerance: atol 1e-5 + rtol 1e-5 (values |x| < ~4; observed differences are float32
// rounding of the GPU's separately rounded ops, ~1e-7).
import { describe, expect, it } from 'vitest';
import { Tensor, type Runtime, type SafetensorsFile } from '@dalle2/tensor';
import { NoiseSchedule, type BetaScheduleKind } from '../src/schedules.js';
import { ddimCoefs, ddimStep, ddimTimePairs } from '../src/ddim.js';
import { splitLearnedVariance } from '../src/steps.js';
import { ReplayNoise, drawNoise } from '../src/noise.js';
import { expectClose, fixture, manifestEntry, readAndDispose, readInts, readJson, testRuntime, upload } from './helpers.js';

const TOL = { atol: 1e-5, rtol: 1e-5 };

interface PriorConfig {
  timesteps: number;
  sample_timesteps: number;
  beta_schedule: BetaScheduleKind;
  predict_x_start: boolean;
}
interface DecoderConfig {
  timesteps: number;
  sample_timesteps: number[];
  beta_schedule: BetaScheduleKind[];
  predict_x_start?: boolean;
  ddim_sampling_eta?: number;
}
const prior = readJson<{ prior: PriorConfig }>('prior/config.json').prior;
const decoder = readJson<{ decoder: DecoderConfig }>('decoder/config.json').decoder;
const PRIOR_DDIM = ['prior/sample_ddim_r1.safetensors', 'prior/sample_ddim_r2.safetensors'];

interface Trace {
  /** Tensor name prefix of this run's steps ('' for the prior, 'unet0.' for the decoder). */
  prefix: string;
  outName: string;
  sched: NoiseSchedule;
  predictX0: boolean;
  clamp: boolean;
  eta: number;
  learnedVariance: boolean;
  /** Converts our final x to what the fixture stores as the loop output. */
  final: (x: Float32Array) => Float32Array;
  finalName: string;
}

async function modelOutput(rt: Runtime, file: SafetensorsFile, trace: Trace, k: number): Promise<Tensor> {
  const out = await upload(rt, file, `${trace.prefix}step_${String(k).padStart(3, '0')}_${trace.outName}`);
  if (!trace.learnedVariance) return out;
  const { pred, varInterp } = splitLearnedVariance(out);
  out.dispose();
  varInterp.dispose(); // DDIM ignores the variance channels
  return pred;
}

/** Checks every recorded step in isolation and a chained replay; returns the number of steps. */
async function checkDdimTrace(rt: Runtime, file: SafetensorsFile, trace: Trace, noise: ReplayNoise, steps: number): Promise<number> {
  const pairs = ddimTimePairs(trace.sched.numTimesteps, steps);
  const stepName = (k: number, what: string) => `${trace.prefix}step_${String(k).padStart(3, '0')}_${what}`;
  const shape = file.info(stepName(0, 'x')).shape;
  let chained = drawNoise(rt, noise, shape);
  expectClose(await chained.toFloat32(), await file.readFloat32(stepName(0, 'x')), { atol: 0, rtol: 0 }, 'initial randn');
  for (const [k, [time, timeNext]] of pairs.entries()) {
    expect(await readInts(file, stepName(k, 't'))).toEqual(new Array(shape[0]).fill(time));
    const xt = await upload(rt, file, stepName(k, 'x'));
    const out = await modelOutput(rt, file, trace, k);
    const n = timeNext > 0 ? drawNoise(rt, noise, shape) : undefined;
    const common = { sched: trace.sched, time, timeNext, modelOutput: out, predictX0: trace.predictX0, clamp: trace.clamp, eta: trace.eta, noise: n };
    const isLast = k === pairs.length - 1;
    const want = isLast ? await file.readFloat32(trace.finalName) : await file.readFloat32(stepName(k + 1, 'x'));
    const mine = ddimStep({ ...common, xt });
    let got = await readAndDispose(mine);
    if (isLast) got = trace.final(got);
    expectClose(got, want, TOL, `${trace.prefix}step ${k} (${time} -> ${timeNext})`);
    const next = ddimStep({ ...common, xt: chained });
    chained.dispose();
    chained = next;
    for (const t of [xt, out, n]) t?.dispose();
  }
  const chainedOut = trace.final(await readAndDispose(chained));
  expectClose(chainedOut, await file.readFloat32(trace.finalName), TOL, `${trace.prefix}chained run`);
  return pairs.length;
}

describe('ddimTimePairs', () => {
  it('matches the timestep sequences upstream recorded', () => {
    for (const rel of PRIOR_DDIM) {
      const pairs = ddimTimePairs(prior.timesteps, prior.sample_timesteps);
      expect(pairs.map((p) => p[0]), rel).toEqual(manifestEntry(rel).timestep_sequence);
    }
    for (const run of manifestEntry('decoder/sample_ddim.safetensors').per_unet ?? []) {
      const pairs = ddimTimePairs(decoder.timesteps, run.sample_timesteps ?? decoder.timesteps);
      expect(pairs.map((p) => p[0]), `unet ${run.unet}`).toEqual(run.timestep_sequence);
    }
  });

  it('pairs each time with the next and ends at 0', () => {
    const pairs = ddimTimePairs(1000, 8);
    expect(pairs.length).toBe(8);
    expect(pairs[0]).toEqual([888, 777]);
    expect(pairs[7]).toEqual([111, 0]);
    expect(ddimTimePairs(10, 1)).toEqual([[5, 0]]); // linspace(0, 10, 3)[:-1] = [0, 5]
  });

  it('rejects bad step counts', () => {
    expect(() => ddimTimePairs(1000, 0)).toThrow(/sample steps 0 must be an integer in \[1, 1000\]/);
    expect(() => ddimTimePairs(8, 9)).toThrow(/sample steps 9/);
    expect(() => ddimTimePairs(0, 1)).toThrow(/timesteps 0/);
  });
});

describe('ddimCoefs', () => {
  it('uses alphas_cumprod_prev and gives x0 exactly on the last step', () => {
    const s = NoiseSchedule.create('cosine', 100);
    const c = ddimCoefs(s, 50, 0, 1);
    expect(c).toEqual({ x0: 1, noise: 0, predNoise: 0 });
    const a = s.f32.alphas_cumprod_prev[60];
    const an = s.f32.alphas_cumprod_prev[30];
    const c2 = ddimCoefs(s, 60, 30, 0.5);
    expect(c2.x0).toBeCloseTo(Math.sqrt(an), 6);
    const c1 = 0.5 * Math.sqrt(((1 - a / an) * (1 - an)) / (1 - a));
    expect(c2.noise).toBeCloseTo(c1, 6);
    expect(c2.predNoise).toBeCloseTo(Math.sqrt(1 - an - c1 * c1), 6);
  });
});

describe('ddimStep vs recorded upstream runs', () => {
  for (const rel of PRIOR_DDIM) {
    it(`prior ${rel}`, async () => {
      const rt = await testRuntime();
      const file = await fixture(rel);
      const entry = manifestEntry(rel);
      const noise = await ReplayNoise.fromSafetensors(file);
      const trace: Trace = {
        prefix: '',
        outName: 'pred',
        sched: NoiseSchedule.create(prior.beta_schedule, prior.timesteps),
        predictX0: prior.predict_x_start,
        clamp: !prior.predict_x_start, // the prior clamps x0 only when it predicts noise
        eta: entry.ddim_eta ?? 1,
        learnedVariance: false,
        final: (x) => x,
        finalName: 'p_sample_loop_out',
      };
      expect(await checkDdimTrace(rt, file, trace, noise, prior.sample_timesteps)).toBe(entry.timestep_sequence?.length);
      expect(noise.remaining).toBe(0);
    });
  }

  it('decoder sample_ddim (both unets, learned variance on the first)', async () => {
    const rt = await testRuntime();
    const rel = 'decoder/sample_ddim.safetensors';
    const file = await fixture(rel);
    const noise = await ReplayNoise.fromSafetensors(file);
    for (const [i, run] of (manifestEntry(rel).per_unet ?? []).entries()) {
      const trace: Trace = {
        prefix: `unet${i}.`,
        outName: 'out',
        sched: NoiseSchedule.create(decoder.beta_schedule[i], decoder.timesteps),
        predictX0: decoder.predict_x_start ?? false,
        clamp: true, // clip_denoised (pixel space): static threshold [-1, 1]
        eta: decoder.ddim_sampling_eta ?? 1,
        learnedVariance: run.learned_variance,
        final: (x) => x.map((v) => (v + 1) * 0.5), // unnormalize_img: the loop returns [0, 1]
        finalName: `unet${i}.output`,
      };
      await checkDdimTrace(rt, file, trace, noise, run.sample_timesteps ?? decoder.timesteps);
    }
    expect(noise.remaining).toBe(0);
  });
});

describe('ddimStep argument checks', () => {
  it('names missing or unexpected noise and shape mismatches', async () => {
    const rt = await testRuntime();
    const sched = NoiseSchedule.create('cosine', 20);
    const x = Tensor.from(rt, new Float32Array(6), [2, 3]);
    const y = Tensor.from(rt, new Float32Array(4), [2, 2]);
    const base = { sched, xt: x, modelOutput: x, predictX0: false, eta: 1 };
    expect(() => ddimStep({ ...base, time: 10, timeNext: 5 })).toThrow(/step 10 -> 5 needs a noise draw/);
    expect(() => ddimStep({ ...base, time: 10, timeNext: 0, noise: x })).toThrow(/last step \(10 -> 0\) draws no noise/);
    expect(() => ddimStep({ ...base, time: 10, timeNext: 5, noise: y })).toThrow(/noise \[2, 2\] must match x_t \[2, 3\]/);
    expect(() => ddimStep({ ...base, modelOutput: y, time: 10, timeNext: 5, noise: x })).toThrow(/model output \[2, 2\] must match x_t \[2, 3\]/);
    expect(() => ddimStep({ ...base, time: 20, timeNext: 5, noise: x })).toThrow(/timestep 20 is outside \[0, 20\)/);
    x.dispose();
    y.dispose();
  });
});
