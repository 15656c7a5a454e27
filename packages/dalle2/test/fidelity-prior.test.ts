// The prior fidelity checks (same code as `pnpm fidelity --only prior`) on ../shared/fixtures:
// schedules, DiffusionPriorNetwork forward variants, p_sample, and full DiffusionPrior.sample runs
// (DDIM r=1/r=2 with reranking, DDPM) replaying the recorded noise.
import { describe, it, expect, afterAll } from 'vitest';
import { fileURLToPath } from 'node:url';
import { Runtime } from '@dalle2/tensor';
import { FixtureSet, formatResult, SUITES } from '../src/fidelity/index.js';

const FIXTURES = fileURLToPath(new URL('../../../../shared/fixtures/', import.meta.url));

describe('fidelity: prior', async () => {
  const rt = await Runtime.create();
  const fx = await FixtureSet.load(FIXTURES);
  afterAll(async () => {
    await fx.close();
    await rt.destroy();
  });

  it('schedules, net forward, p_sample and DDIM/DDPM sample with reranking match upstream (atol 1e-4, rtol 1e-4; ints exact)', async () => {
    const results = await SUITES.prior({ rt, fx });
    const failed = results.filter((r) => !r.pass).map(formatResult);
    expect(failed, failed.join('\n')).toEqual([]);
    expect(results.length).toBeGreaterThan(20);
    expect(results.some((r) => r.name.includes('similarities'))).toBe(true);
  }, 900_000);
});
