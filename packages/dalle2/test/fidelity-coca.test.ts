// The CoCa fidelity checks (same code as `pnpm fidelity --only coca`) on ../shared/fixtures.
import { expect } from 'vitest';
import { fidelitySuiteTest } from './fidelityHarness.js';

fidelitySuiteTest('coca', 'CoCa adapter text, attention pooling and resize match upstream (atol 1e-4, rtol 1e-4); pixels are refused', 15, (results) => {
  const names = results.map((r) => r.name);
  for (const part of ['coca text every tensor checked', 'coca image every tensor checked', 'coca image embed_image(pixels) refused']) {
    expect(names.some((n) => n.startsWith(part)), part).toBe(true);
  }
});
