// The fidelity suites by name. A suite not implemented yet reports one failing line, so a full run
// never claims more than we have.
import type { Suite } from './check.js';
import { clipSuite } from './clipSuite.js';
import { decoderSuite } from './decoderSuite.js';
import { priorSuite } from './priorSuite.js';

export const SUITE_NAMES = ['clip', 'prior', 'decoder', 'pipeline'] as const;
export type SuiteName = (typeof SUITE_NAMES)[number];

const notYet =
  (name: string): Suite =>
  async () => [{ name: `${name}: not implemented yet`, maxAbsErr: NaN, tol: { atol: 0, rtol: 0 }, pass: false }];

export const SUITES: Record<SuiteName, Suite> = {
  clip: clipSuite,
  prior: priorSuite,
  decoder: decoderSuite,
  pipeline: notYet('pipeline'),
};
