// The x-clip fidelity checks (same code as `pnpm fidelity --only xclip`) on ../shared/fixtures.
import { expect } from 'vitest';
import { fidelitySuiteTest } from './fidelityHarness.js';

fidelitySuiteTest('xclip', 'x-clip adapter text/image (every recorded tensor) and the prior sample using it match upstream (atol 1e-4, rtol 1e-4)', 30, (results) => {
  const names = results.map((r) => r.name);
  // The suite must reach each part, not only report a load error.
  for (const part of ['xclip text every tensor checked', 'xclip image every tensor checked', 'xclip prior_sample_ddim image_embed (from']) {
    expect(names.some((n) => n.startsWith(part)), part).toBe(true);
  }
});
