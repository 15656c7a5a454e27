// The CLIP fidelity checks (same code as `pnpm fidelity --only clip`) on ../shared/fixtures.
import { fidelitySuiteTest } from './fidelityHarness.js';

fidelitySuiteTest('clip', 'tokenizers, text/vision towers and the 1.1.0 adapter match upstream (atol 1e-4, rtol 1e-4; tokens exact)', 11);
