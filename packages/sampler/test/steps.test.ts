// q_sample / q_sample_from_to / predict_* / q_posterior / p_sample (incl. learned variance) vs a float64
// host reference built from the schedule's float32 buffers, with per-row timesteps (the broadcast
// [b, 1, ...] coefficient path) and shared timesteps (the scalar path); argument checks.
// Tolerance: |got - ref| <= 2e-6 * (1 + |ref|) (a few float32 roundings of O(1..10) terms).
import { describe, expect, it } from 'vitest';
import { Tensor, type Runtime } from '@dalle2/tensor';
import { NoiseSchedule } from '../src/schedules.js';
import {
  addDdpmNoise,
  inpaintMerge,
  learnedLogVariance,
  pSampleStep,
  predictNoiseFromStart,
  predictStartFromNoise,
  qPosterior,
  qSample,
  qSampleFromTo,
  splitLearnedVariance,
} from '../src/steps.js';
import { extractRows } from '../src/coef.js';
import { SeededNoise } from '../src/noise.js';
import { expectClose, readAndDispose, testRuntime } from './helpers.js';

const TOL = { atol: 2e-6, rtol: 2e-6 };
const SHAPE = [3, 2, 5, 7];
const PER = 2 * 5 * 7;
const sched = NoiseSchedule.create('cosine', 1000);
const T_ROWS = [731, 0, 17];

function data(seed: number, scale = 1): Float32Array {
  return new SeededNoise(seed).next(SHAPE).map((v) => v * scale);
}

/** Host reference: out[i] = fn(row, i) in float64. */
function ref(fn: (row: number, i: number) => number): Float64Array {
  return Float64Array.from({ length: SHAPE[0] * PER }, (_, i) => fn(Math.floor(i / PER), i));
}

function up(rt: Runtime, a: Float32Array, shape = SHAPE): Tensor {
  return Tensor.from(rt, a, shape);
}

const buf = sched.f32;
const at = (name: keyof typeof buf, row: number, ts: number[]) => buf[name][ts[row]];

describe('q_* and predict_* vs float64 reference', () => {
  for (const ts of [T_ROWS, [250, 250, 250]]) {
    it(`t = [${ts.join(', ')}]`, async () => {
      const rt = await testRuntime();
      const [x0h, nh, xth] = [data(1), data(2), data(3, 2)];
      const [x0, n, xt] = [up(rt, x0h), up(rt, nh), up(rt, xth)];
      const A = (name: keyof typeof buf, r: number) => at(name, r, ts);

      const qs = ref((r, i) => A('sqrt_alphas_cumprod', r) * x0h[i] + A('sqrt_one_minus_alphas_cumprod', r) * nh[i]);
      expectClose(await readAndDispose(qSample(sched, x0, ts, n)), qs, TOL, 'qSample');

      const ps = ref((r, i) => A('sqrt_recip_alphas_cumprod', r) * xth[i] - A('sqrt_recipm1_alphas_cumprod', r) * nh[i]);
      expectClose(await readAndDispose(predictStartFromNoise(sched, xt, ts, n)), ps, TOL, 'predictStartFromNoise');

      const pn = ref((r, i) => (A('sqrt_recip_alphas_cumprod', r) * xth[i] - x0h[i]) / A('sqrt_recipm1_alphas_cumprod', r));
      expectClose(await readAndDispose(predictNoiseFromStart(sched, xt, ts, x0)), pn, { atol: 1e-4, rtol: 2e-6 }, 'predictNoiseFromStart');

      const post = qPosterior(sched, x0, xt, ts);
      const pm = ref((r, i) => A('posterior_mean_coef1', r) * x0h[i] + A('posterior_mean_coef2', r) * xth[i]);
      expectClose(await readAndDispose(post.mean), pm, TOL, 'qPosterior mean');
      expect(Array.from(post.variance)).toEqual(ts.map((t) => buf.posterior_variance[t]));
      expect(Array.from(post.logVariance)).toEqual(ts.map((t) => buf.posterior_log_variance_clipped[t]));
      for (const x of [x0, n, xt]) x.dispose();
    });
  }

  it('qSampleFromTo: RePaint re-noising from t-1 to t, and identity when from == to', async () => {
    const rt = await testRuntime();
    const [xh, nh] = [data(4), data(5)];
    const [x, n] = [up(rt, xh), up(rt, nh)];
    const to = [732, 1, 17];
    const from = to.map((t) => t - 1);
    const a = (r: number) => buf.sqrt_alphas_cumprod[from[r]];
    const s = (r: number) => buf.sqrt_one_minus_alphas_cumprod[from[r]];
    const an = (r: number) => buf.sqrt_alphas_cumprod[to[r]];
    const sn = (r: number) => buf.sqrt_one_minus_alphas_cumprod[to[r]];
    const want = ref((r, i) => xh[i] * (an(r) / a(r)) + (nh[i] * (sn(r) * a(r) - s(r) * an(r))) / a(r));
    expectClose(await readAndDispose(qSampleFromTo(sched, x, from, to, n)), want, TOL, 'qSampleFromTo');
    expectClose(await readAndDispose(qSampleFromTo(sched, x, to, to, n)), xh, { atol: 0, rtol: 0 }, 'from == to');
    x.dispose();
    n.dispose();
  });

  it('predictStartFromNoise inverts qSample', async () => {
    const rt = await testRuntime();
    const [x0, n] = [up(rt, data(6)), up(rt, data(7))];
    const xt = qSample(sched, x0, T_ROWS, n);
    const back = await readAndDispose(predictStartFromNoise(sched, xt, T_ROWS, n));
    expectClose(back, await x0.toFloat32(), { atol: 2e-5, rtol: 0 }, 'round trip');
    for (const x of [x0, n, xt]) x.dispose();
  });
});

describe('pSampleStep vs float64 reference', () => {
  it('predict noise, clamp, learned variance, per-row t with a t = 0 row', async () => {
    const rt = await testRuntime();
    const [xth, eh, vh, nh] = [data(8), data(9, 3), data(10, 0.8), data(11)];
    const [xt, eps, v, n] = [up(rt, xth), up(rt, eh), up(rt, vh), up(rt, nh)];
    const A = (name: keyof typeof buf, r: number) => at(name, r, T_ROWS);
    const logBetas = sched.logBetas();
    const want = ref((r, i) => {
      const x0 = Math.min(1, Math.max(-1, A('sqrt_recip_alphas_cumprod', r) * xth[i] - A('sqrt_recipm1_alphas_cumprod', r) * eh[i]));
      const mean = A('posterior_mean_coef1', r) * x0 + A('posterior_mean_coef2', r) * xth[i];
      const frac = (vh[i] + 1) / 2;
      const lv = frac * logBetas[T_ROWS[r]] + (1 - frac) * A('posterior_log_variance_clipped', r);
      return mean + (T_ROWS[r] === 0 ? 0 : Math.exp(0.5 * lv)) * nh[i];
    });
    const got = pSampleStep({ sched, xt, t: T_ROWS, modelOutput: eps, predictX0: false, clamp: true, varInterp: v, noise: n });
    expectClose(await readAndDispose(got), want, { atol: 1e-5, rtol: 1e-5 }, 'pSampleStep learned');
    // learnedLogVariance alone
    const lvWant = ref((r, i) => {
      const frac = (vh[i] + 1) / 2;
      return frac * logBetas[T_ROWS[r]] + (1 - frac) * A('posterior_log_variance_clipped', r);
    });
    expectClose(await readAndDispose(learnedLogVariance(sched, T_ROWS, v)), lvWant, { atol: 2e-5, rtol: 2e-6 }, 'learnedLogVariance');
    for (const x of [xt, eps, v, n]) x.dispose();
  });

  it('predict x0, no clamp, fixed variance: the t = 0 row is exactly the posterior mean', async () => {
    const rt = await testRuntime();
    const [xth, x0h, nh] = [data(12), data(13, 4), data(14)];
    const [xt, x0, n] = [up(rt, xth), up(rt, x0h), up(rt, nh)];
    const got = await readAndDispose(pSampleStep({ sched, xt, t: T_ROWS, modelOutput: x0, predictX0: true, noise: n }));
    const mean = await readAndDispose(qPosterior(sched, x0, xt, T_ROWS).mean);
    expectClose(got.subarray(PER, 2 * PER), mean.subarray(PER, 2 * PER), { atol: 0, rtol: 0 }, 't = 0 row');
    const sigma = (r: number) => Math.exp(0.5 * at('posterior_log_variance_clipped', r, T_ROWS));
    expectClose(got.subarray(0, PER), Float64Array.from(mean.subarray(0, PER), (m, i) => m + sigma(0) * nh[i]), TOL, 'row 0');
    for (const x of [xt, x0, n]) x.dispose();
  });
});

describe('helpers and argument checks', () => {
  it('inpaintMerge takes known pixels where the mask is set', async () => {
    const rt = await testRuntime();
    const x = Tensor.from(rt, [1, 2, 3, 4, 5, 6, 7, 8], [2, 1, 2, 2]);
    const known = Tensor.from(rt, [-1, -2, -3, -4, -5, -6, -7, -8], [2, 1, 2, 2]);
    const mask = Tensor.from(rt, [1, 0, 0, 1, 0, 0, 1, 1], [2, 1, 2, 2], 'i32');
    expect(Array.from(await readAndDispose(inpaintMerge(x, known, mask)))).toEqual([-1, 2, 3, -4, 5, 6, -7, -8]);
    for (const t of [x, known, mask]) t.dispose();
  });

  it('splitLearnedVariance splits channels in half', async () => {
    const rt = await testRuntime();
    const out = Tensor.from(rt, Float32Array.from({ length: 16 }, (_, i) => i), [2, 4, 2, 1]);
    const { pred, varInterp } = splitLearnedVariance(out);
    expect(Array.from(await readAndDispose(pred))).toEqual([0, 1, 2, 3, 8, 9, 10, 11]);
    expect(Array.from(await readAndDispose(varInterp))).toEqual([4, 5, 6, 7, 12, 13, 14, 15]);
    const odd = Tensor.from(rt, new Float32Array(6), [2, 3]);
    expect(() => splitLearnedVariance(odd)).toThrow(/output \[2, 3\] needs an even channel count/);
    out.dispose();
    odd.dispose();
  });

  it('names shape, timestep-count and range errors', async () => {
    const rt = await testRuntime();
    const x = Tensor.from(rt, new Float32Array(6), [2, 3]);
    const y = Tensor.from(rt, new Float32Array(8), [2, 4]);
    expect(() => qSample(sched, x, 5, y)).toThrow(/qSample: noise \[2, 4\] must match x0 \[2, 3\]/);
    expect(() => qSample(sched, x, [1, 2, 3], x)).toThrow(/qSample: 3 timesteps for a batch of 2/);
    expect(() => predictStartFromNoise(sched, x, 1000, x)).toThrow(/timestep 1000 is outside \[0, 1000\)/);
    expect(() => pSampleStep({ sched, xt: x, t: 3, modelOutput: y, predictX0: true, noise: x })).toThrow(
      /model output \[2, 4\] must match x_t \[2, 3\]/,
    );
    expect(() => addDdpmNoise(sched, x, [1, 1], y, x)).toThrow(/log-variance \[2, 4\] must match mean \[2, 3\]/);
    expect(() => extractRows(sched, 'betas', [1.5, 2], 2)).toThrow(/timestep 1.5/);
    x.dispose();
    y.dispose();
  });
});
