// The fidelity suites by name, in the order a full run prints them.
import type { Suite } from './check.js';
import { clipSuite } from './clipSuite.js';
import { decoderSuite } from './decoderSuite.js';
import { pipelineSuite } from './pipelineSuite.js';
import { priorSuite } from './priorSuite.js';

export const SUITE_NAMES = ['clip', 'prior', 'decoder', 'pipeline'] as const;
export type SuiteName = (typeof SUITE_NAMES)[number];

export const SUITES: Record<SuiteName, Suite> = {
  clip: clipSuite,
  prior: priorSuite,
  decoder: decoderSuite,
  pipeline: pipelineSuite,
};
