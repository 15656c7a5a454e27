// The sampler's composition pieces, on mock denoisers (no models): time plans as upstream builds them,
// the one sampling loop's noise-draw order (DDPM, DDIM, RePaint hooks), its hooks and its cleanup when
// onStep throws, classifier-free guidance over a batched denoiser, and reranking.
// Tolerance: atol 1e-6 + rtol 1e-6 (a few f32 ops on small values).
import { describe, expect, it } from 'vitest';
import { Tensor, add, addScalar, mul, mulScalar, tidy, type Runtime } from '@dalle2/tensor';
import { NoiseSchedule } from '../src/schedules.js';
import { ddimTimePairs } from '../src/ddim.js';
import { SeededNoise, type NoiseSource } from '../src/noise.js';
import { ddpmPlan, timePlan } from '../src/plan.js';
import { sampleLoop, type LoopHooks, type SampleLoopArgs } from '../src/loop.js';
import { classifierFreeGuidance, doubleBatch } from '../src/guidance.js';
import { rerank, topIndexPerRow } from '../src/rerank.js';
import { expectClose, testRuntime } from './helpers.js';

const TOL = { atol: 1e-6, rtol: 1e-6 };

/** Seeded draws, logging each requested shape. */
class LoggedNoise implements NoiseSource {
  readonly shapes: string[] = [];
  private readonly inner = new SeededNoise(1);
  next(shape: readonly number[]): Float32Array {
    this.shapes.push(shape.join('x'));
    return this.inner.next(shape);
  }
}

function loopArgs(rt: Runtime, plan: SampleLoopArgs['plan'], noise: NoiseSource, extra: Partial<SampleLoopArgs> = {}): SampleLoopArgs {
  const sched = NoiseSchedule.create('cosine', 20);
  return { rt, shape: [2, 3], plan, denoise: (x) => mulScalar(x, 0.5), math: { sched, predictX0: false, clamp: true, eta: 1 }, noise, ...extra };
}

describe('time plans', () => {
  it('DDPM visits T-1 .. 0 with time_next = time - 1; DDIM when 1 <= steps < T, as upstream', () => {
    expect(ddpmPlan(4).pairs).toEqual([[3, 2], [2, 1], [1, 0], [0, -1]]);
    expect(timePlan(4, null).kind).toBe('ddpm');
    expect(timePlan(4, 4).kind).toBe('ddpm');
    const ddim = timePlan(20, 4);
    expect(ddim.kind).toBe('ddim');
    expect(ddim.pairs).toEqual(ddimTimePairs(20, 4));
    expect(ddim.pairs.at(-1)?.[1]).toBe(0);
    expect(() => ddpmPlan(0)).toThrow(/positive integer/);
  });
});

describe('sampleLoop', () => {
  it('draws x_T, then one draw per DDPM step (t = 0 too) or per DDIM step but the last', async () => {
    const rt = await testRuntime();
    const ddpm = new LoggedNoise();
    (await sampleLoop(loopArgs(rt, ddpmPlan(5), ddpm))).dispose();
    expect(ddpm.shapes).toEqual(Array(6).fill('2x3'));
    const ddim = new LoggedNoise();
    const calls: [number, number][] = [];
    (await sampleLoop(loopArgs(rt, timePlan(20, 4), ddim, { onStep: (s) => void calls.push([s.time, s.timeNext]) }))).dispose();
    expect(ddim.shapes).toEqual(Array(4).fill('2x3'));
    expect(calls).toEqual(ddimTimePairs(20, 4));
  });

  it('RePaint hooks: merge draws before the step draw, renoise after it except at r = 0 and the last timestep', async () => {
    const rt = await testRuntime();
    const noise = new LoggedNoise();
    const seen: string[] = [];
    const hooks: LoopHooks = {
      merge: (x, time, draw) => (draw([1, 1]).dispose(), seen.push(`m${time}`), x),
      renoise: (next, time, timeNext, draw) => (draw([1, 2]).dispose(), seen.push(`r${timeNext}->${time}`), mulScalar(next, 1)),
    };
    (await sampleLoop(loopArgs(rt, ddpmPlan(2), noise, { hooks, resampleTimes: 2 }))).dispose();
    // t = 1: r = 1 (merge, step, renoise), r = 0 (merge, step); t = 0 (last): r = 1, r = 0 without renoise
    expect(noise.shapes).toEqual(['2x3', '1x1', '2x3', '1x2', '1x1', '2x3', '1x1', '2x3', '1x1', '2x3']);
    expect(seen).toEqual(['m1', 'r0->1', 'm1', 'm0', 'm0']);
  });

  it('init and final hooks transform x_T and the result; x_T is the first draw', async () => {
    const rt = await testRuntime();
    const xT = new SeededNoise(1).next([2, 3]);
    const steps: Float32Array[] = [];
    const out = await sampleLoop(
      loopArgs(rt, timePlan(20, 1), new SeededNoise(1), {
        hooks: { init: (x) => addScalar(x, 1), final: (x) => mulScalar(x, -1) },
        onStep: async (s) => void steps.push(await s.x.toFloat32()),
      }),
    );
    expectClose(steps[0], Float64Array.from(xT, (v) => Math.fround(v + 1)), TOL, 'x after init');
    const last = await out.toFloat32();
    out.dispose();
    expect(last.length).toBe(6);
    expect(last.every(Number.isFinite)).toBe(true);
  });

  it('frees everything it holds when onStep throws', async () => {
    const rt = await testRuntime();
    await rt.sync();
    const before = rt.memory().inUse;
    const args = loopArgs(rt, ddpmPlan(4), new SeededNoise(3), {
      onStep: (s) => {
        if (s.call === 2) throw new Error('stop');
      },
    });
    await expect(sampleLoop(args)).rejects.toThrow('stop');
    expect(rt.memory().inUse).toBe(before);
  });
});

describe('classifierFreeGuidance', () => {
  it('one doubled batch (cond rows, then null rows): null + (cond - null) * s; a plain pass at s = 1', async () => {
    const rt = await testRuntime();
    const x = Tensor.from(rt, new Float32Array([1, 2, 3, 4]), [2, 2]);
    const c = Tensor.from(rt, new Float32Array([10, 20, 30, 40]), [2, 2]);
    const seen: { rows: number; drop: string; t: number[] }[] = [];
    // out = x + c on kept rows, x on dropped rows
    const denoise = (i: { x: Tensor; c: Tensor; t: Int32Array | number[]; tag: string }, drop: readonly boolean[]) => {
      seen.push({ rows: i.x.shape[0], drop: drop.join(), t: [...i.t] });
      const keep = Tensor.from(rt, Float32Array.from({ length: drop.length * 2 }, (_, k) => (drop[k >> 1] ? 0 : 1)), [drop.length, 2]);
      return tidy(rt, () => add(i.x, mul(i.c, keep)));
    };
    const inputs = { x, c, t: new Int32Array([5, 6]), tag: 'kept' };
    expect(doubleBatch(inputs).tag).toBe('kept');
    const guided = classifierFreeGuidance({ rt, batch: 2, condScale: 3, inputs, denoise });
    expect(seen).toEqual([{ rows: 4, drop: 'false,false,true,true', t: [5, 6, 5, 6] }]);
    expectClose(await guided.toFloat32(), [31, 62, 93, 124], TOL, 'x + 3 c');
    const plain = classifierFreeGuidance({ rt, batch: 2, condScale: 1, inputs, denoise });
    expect(seen[1]).toEqual({ rows: 2, drop: 'false,false', t: [5, 6] });
    expectClose(await plain.toFloat32(), [11, 22, 33, 44], TOL, 'x + c');
    expect(() => classifierFreeGuidance({ rt, batch: 2, condScale: NaN, inputs, denoise })).toThrow(/finite/);
    for (const t of [x, c, guided, plain]) t.dispose();
  });
});

describe('rerank', () => {
  it('cosine similarity per candidate, the best per text (topk k = 1: first maximum, NaN largest), rows not re-normalised', async () => {
    const rt = await testRuntime();
    // 2 texts x 2 candidates, D = 2; texts repeated per candidate
    const text = Tensor.from(rt, new Float32Array([1, 0, 1, 0, 0, 2, 0, 2]), [4, 2]);
    const cands = Tensor.from(rt, new Float32Array([3, 4, 5, 0, 0, 7, 1, 1]), [2, 2, 2]);
    const r = await rerank(text, cands);
    expectClose(r.similarities, [0.6, 1, 1, Math.SQRT1_2], { atol: 1e-6, rtol: 1e-6 }, 'similarities');
    expect(Array.from(r.topIndex)).toEqual([1, 0]);
    expectClose(await r.chosen.toFloat32(), [5, 0, 0, 7], TOL, 'chosen rows');
    expect(Array.from(topIndexPerRow(new Float32Array([1, 1, 0, NaN]), 2, 2))).toEqual([0, 1]);
    const flat = cands.reshape([4, 2]);
    await expect(rerank(text, flat)).rejects.toThrow(/must be \[B, r, D\]/);
    for (const t of [text, cands, flat, r.chosen]) t.dispose();
  });
});
