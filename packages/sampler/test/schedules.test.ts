// Schedules vs upstream's NoiseScheduler buffers (sampler/schedules.safetensors: every beta schedule
// at every T recorded; prior/decoder DDPM-variant state_dict buffers). Tolerance: at most 1 float32
// ulp per element (float64 transcendentals and torch's SLEEF float32 log may round differently from
// V8's in the last bit); betas and alphas_cumprod must be bit-exact, and so must every array of most
// schedules (the count of 1-ulp differences is asserted small).
import { describe, expect, it } from 'vitest';
import {
  BETA_SCHEDULES,
  NoiseSchedule,
  SCHEDULE_BUFFER_NAMES,
  betaSchedule,
  type BetaScheduleKind,
  type ScheduleBufferName,
} from '../src/schedules.js';
import { torchLinspace } from '../src/linspace.js';
import { expectUlps, fixture, manifestEntry, readJson } from './helpers.js';

const SCHEDULES_FILE = 'sampler/schedules.safetensors';

/** (kind, T) pairs recorded in the schedules fixture, from its tensor names `<kind>.T<T>.<buffer>`. */
function recordedSchedules(): { kind: BetaScheduleKind; T: number }[] {
  const names = Object.keys(manifestEntry(SCHEDULES_FILE).tensors ?? {});
  const seen = new Map<string, { kind: BetaScheduleKind; T: number }>();
  for (const n of names) {
    const m = /^(\w+)\.T(\d+)\.betas$/.exec(n);
    if (m) seen.set(n, { kind: m[1] as BetaScheduleKind, T: Number(m[2]) });
  }
  return [...seen.values()];
}

const cases = recordedSchedules();
const entry = manifestEntry(SCHEDULES_FILE);
const opts = { p2LossWeightGamma: entry.p2_loss_weight_gamma ?? 0, p2LossWeightK: entry.p2_loss_weight_k ?? 1 };
const EXACT: readonly ScheduleBufferName[] = ['betas', 'alphas_cumprod', 'alphas_cumprod_prev'];

describe('NoiseSchedule vs upstream NoiseScheduler buffers', () => {
  it('the fixture covers every beta schedule', () => {
    expect(new Set(cases.map((c) => c.kind))).toEqual(new Set(BETA_SCHEDULES));
  });

  for (const { kind, T } of cases) {
    it(`${kind} T=${T}: every buffer within 1 ulp (betas, alphas_cumprod exact)`, async () => {
      const file = await fixture(SCHEDULES_FILE);
      const sched = NoiseSchedule.create(kind, T, opts);
      expect(sched.numTimesteps).toBe(T);
      let differ = 0;
      for (const name of SCHEDULE_BUFFER_NAMES) {
        const want = await file.readFloat32(`${kind}.T${T}.${name}`);
        differ += expectUlps(sched.f32[name], want, EXACT.includes(name) ? 0 : 1, `${kind} T=${T} ${name}`);
        // f32 is the float64 value rounded once
        expect(Array.from(sched.f32[name])).toEqual(Array.from(sched.f64[name], Math.fround));
      }
      // A systematic error (wrong op order or dtype) shows up as many 1-ulp differences, not a few.
      expect(differ, `${kind} T=${T}: elements 1 ulp off`).toBeLessThanOrEqual(Math.max(2, (T * SCHEDULE_BUFFER_NAMES.length) / 200));
    });
  }

  interface ScheduleConfig {
    timesteps: number;
    beta_schedule: BetaScheduleKind | BetaScheduleKind[];
  }

  it('prior DDPM variant: state_dict buffers noise_scheduler.*', async () => {
    const cfg = readJson<{ prior: ScheduleConfig }>('prior/config_ddpm.json').prior;
    const kind = cfg.beta_schedule as BetaScheduleKind;
    const file = await fixture('prior/ddpm_schedule.safetensors');
    const sched = NoiseSchedule.create(kind, cfg.timesteps);
    for (const name of SCHEDULE_BUFFER_NAMES) {
      expectUlps(sched.f32[name], await file.readFloat32(`noise_scheduler.${name}`), 1, `prior ${name}`);
    }
  });

  it('decoder DDPM variant: state_dict buffers noise_schedulers.N.*', async () => {
    const cfg = readJson<{ decoder: ScheduleConfig }>('decoder/config_ddpm.json').decoder;
    const kinds = [cfg.beta_schedule].flat();
    const file = await fixture('decoder/ddpm_schedules.safetensors');
    expect(file.keys().filter((k) => k.endsWith('.betas')).length).toBe(kinds.length);
    for (const [i, kind] of kinds.entries()) {
      const buffers = Object.fromEntries(
        await Promise.all(SCHEDULE_BUFFER_NAMES.map(async (n) => [n, await file.readFloat32(`noise_schedulers.${i}.${n}`)] as const)),
      );
      const sched = NoiseSchedule.create(kind, cfg.timesteps);
      for (const name of SCHEDULE_BUFFER_NAMES) expectUlps(sched.f32[name], buffers[name], 1, `unet ${i} ${name}`);
      // fromBuffers keeps stored buffers as they are
      const stored = NoiseSchedule.fromBuffers(buffers);
      expect(stored.numTimesteps).toBe(cfg.timesteps);
      expect(Array.from(stored.f32.posterior_mean_coef2)).toEqual(Array.from(buffers.posterior_mean_coef2));
    }
  });
});

describe('betaSchedule / NoiseSchedule API', () => {
  it('rejects unknown schedules and bad T', () => {
    expect(() => betaSchedule('nope' as BetaScheduleKind, 8)).toThrow(/unknown schedule 'nope'/);
    expect(() => betaSchedule('cosine', 0)).toThrow(/timesteps 0 must be a positive integer/);
    expect(() => betaSchedule('linear', 2.5)).toThrow(/timesteps 2.5/);
  });

  it('at() extracts float32 values and range-checks t', () => {
    const s = NoiseSchedule.create('cosine', 10);
    expect(s.at('posterior_mean_coef1', 3)).toBe(s.f32.posterior_mean_coef1[3]);
    expect(() => s.at('betas', 10)).toThrow(/timestep 10 is outside \[0, 10\) of this cosine schedule/);
    expect(() => s.at('betas', -1)).toThrow(/timestep -1/);
  });

  it('logBetas is log of the float32 betas, rounded to float32', () => {
    const s = NoiseSchedule.create('linear', 16);
    const lb = s.logBetas();
    for (let t = 0; t < 16; t++) expect(lb[t]).toBe(Math.fround(Math.log(s.f32.betas[t])));
  });

  it('fromBuffers names missing or mis-sized buffers; p2_loss_weight defaults to 1', () => {
    const s = NoiseSchedule.create('cosine', 6);
    const { p2_loss_weight: _p2, ...rest } = s.f32;
    expect(Array.from(NoiseSchedule.fromBuffers(rest).f32.p2_loss_weight)).toEqual([1, 1, 1, 1, 1, 1]);
    const { posterior_variance: _pv, ...noPv } = s.f32;
    expect(() => NoiseSchedule.fromBuffers(noPv)).toThrow(/missing buffer posterior_variance/);
    expect(() => NoiseSchedule.fromBuffers({ ...s.f32, alphas_cumprod: new Float32Array(5) })).toThrow(
      /buffer alphas_cumprod has 5 values, betas has 6/,
    );
  });
});

describe('torchLinspace', () => {
  it('computes the second half from the end, like torch', () => {
    // float32 linspace(0, 1, 7): step = fround(1/6); element 4 = 1 - 2*step, not 4*step
    const v = torchLinspace(0, 1, 7, { dtype: 'f32' });
    const step = Math.fround(1 / 6);
    expect(v[2]).toBe(Math.fround(2 * step));
    expect(v[4]).toBe(Math.fround(1 - Math.fround(2 * step)));
    expect(v[6]).toBe(1);
    expect(v[0]).toBe(0);
  });

  it('vector lanes are filled from each vector base (differs from the scalar formula)', () => {
    // 20 steps, 8 lanes: [0, 16) vectorised as base + k*step, [16, 20) scalar
    const vec = torchLinspace(0, 1000, 20, { dtype: 'f32', vectorWidth: 8 });
    const scalar = torchLinspace(0, 1000, 20, { dtype: 'f32', vectorWidth: 0 });
    const step = Math.fround(1000 / 19);
    const base8 = Math.fround(step * 8);
    expect(vec[11]).toBe(Math.fround(base8 + Math.fround(3 * step)));
    expect(scalar[11]).toBe(Math.fround(1000 - Math.fround(step * 8)));
    expect(Array.from(vec.subarray(16))).toEqual(Array.from(scalar.subarray(16)));
  });

  it('handles 0 and 1 steps and rejects bad counts', () => {
    expect(torchLinspace(3, 5, 0).length).toBe(0);
    expect(Array.from(torchLinspace(3, 5, 1))).toEqual([3]);
    expect(() => torchLinspace(0, 1, -1)).toThrow(/steps -1/);
  });
});
