// The decoder fidelity checks (same code as `pnpm fidelity --only decoder`) on ../shared/fixtures.
import { describe, it, expect, afterAll } from 'vitest';
import { fileURLToPath } from 'node:url';
import { Runtime } from '@dalle2/tensor';
import { FixtureSet, formatResult, SUITES } from '../src/fidelity/index.js';

const FIXTURES = fileURLToPath(new URL('../../../../shared/fixtures/', import.meta.url));

describe('fidelity: decoder', async () => {
  const rt = await Runtime.create();
  const fx = await FixtureSet.load(FIXTURES);
  afterAll(async () => {
    await fx.close();
    await rt.destroy();
  });

  it('schedules, unet forwards, p_sample and DDIM/DDPM/inpainting runs match upstream (steps atol 1e-4 + rtol 1e-4; images 2e-3; uint8/PNG +-1)', async () => {
    const results = await SUITES.decoder({ rt, fx });
    const failed = results.filter((r) => !r.pass).map(formatResult);
    expect(failed, failed.join('\n')).toEqual([]);
    expect(results.length).toBeGreaterThan(20);
  }, 900_000);
});
