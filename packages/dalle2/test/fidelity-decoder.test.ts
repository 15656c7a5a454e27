// The decoder fidelity checks (same code as `pnpm fidelity --only decoder`) on ../shared/fixtures.
import { fidelitySuiteTest } from './fidelityHarness.js';

fidelitySuiteTest(
  'decoder',
  'schedules, unet forwards, p_sample and DDIM/DDPM/inpainting runs match upstream (steps atol 1e-4 + rtol 1e-4; images 2e-3; uint8/PNG +-1)',
  21,
);
