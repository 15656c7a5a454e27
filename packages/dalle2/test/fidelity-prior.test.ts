// The prior fidelity checks (same code as `pnpm fidelity --only prior`) on ../shared/fixtures:
// schedules, DiffusionPriorNetwork forward variants, p_sample, and full DiffusionPrior.sample runs
// (DDIM r=1/r=2 with reranking, DDPM) replaying the recorded noise.
import { expect } from 'vitest';
import { fidelitySuiteTest } from './fidelityHarness.js';

fidelitySuiteTest(
  'prior',
  'schedules, net forward, p_sample and DDIM/DDPM sample with reranking match upstream (atol 1e-4, rtol 1e-4; ints exact)',
  21,
  (results) => expect(results.some((r) => r.name.includes('similarities'))).toBe(true),
);
