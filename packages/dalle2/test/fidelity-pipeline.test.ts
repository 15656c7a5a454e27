// The pipeline fidelity checks (same code as `pnpm fidelity --only pipeline`) on ../shared/fixtures:
// text -> tokens -> CLIP -> prior -> decoder -> image/PNG, and image variation, chained through our
// models with the recorded draws replayed.
import { fidelitySuiteTest } from './fidelityHarness.js';

fidelitySuiteTest(
  'pipeline',
  'text_to_image and variation match upstream end to end (embeds atol 1e-4 + rtol 1e-4; images 2e-3; uint8/PNG +-1)',
  20,
);
