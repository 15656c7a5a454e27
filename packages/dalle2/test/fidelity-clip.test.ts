// The CLIP fidelity checks (same code as `pnpm fidelity --only clip`) on ../shared/fixtures.
import { describe, it, expect, afterAll } from 'vitest';
import { fileURLToPath } from 'node:url';
import { Runtime } from '@dalle2/tensor';
import { FixtureSet, formatResult, SUITES } from '../src/fidelity/index.js';

const FIXTURES = fileURLToPath(new URL('../../../../shared/fixtures/', import.meta.url));

describe('fidelity: clip', async () => {
  const rt = await Runtime.create();
  const fx = await FixtureSet.load(FIXTURES);
  afterAll(async () => {
    await fx.close();
    await rt.destroy();
  });

  it('tokenizers, text/vision towers and the 1.1.0 adapter match upstream (atol 1e-4, rtol 1e-4; tokens exact)', async () => {
    const results = await SUITES.clip({ rt, fx });
    const failed = results.filter((r) => !r.pass).map(formatResult);
    expect(failed, failed.join('\n')).toEqual([]);
    expect(results.length).toBeGreaterThan(10);
  }, 900_000);
});
