// The fidelity suites by name, in the order a full run prints them.
import type { Suite } from './check.js';
import { clipSuite } from './clipSuite.js';
import { cocaSuite } from './cocaSuite.js';
import { decoderSuite } from './decoderSuite.js';
import { pipelineSuite } from './pipelineSuite.js';
import { priorSuite } from './priorSuite.js';
import { xclipSuite } from './xclipSuite.js';

export const SUITE_NAMES = ['clip', 'xclip', 'coca', 'prior', 'decoder', 'pipeline'] as const;
export type SuiteName = (typeof SUITE_NAMES)[number];

export const SUITES: Record<SuiteName, Suite> = {
  clip: clipSuite,
  xclip: xclipSuite,
  coca: cocaSuite,
  prior: priorSuite,
  decoder: decoderSuite,
  pipeline: pipelineSuite,
};
