// @dalle2/dalle2: the DALLE2 pipelines (prior, decoder cascade) and what users touch (config, files,
// checkpoints, model manager, scripts, CLI), plus the fidelity runner. The web server and the queue are
// subpaths (`@dalle2/dalle2/server`, `@dalle2/dalle2/queue`), so importing the library loads neither.
export * from './config/index.js';
export * from './files/index.js';
export * as fidelity from './fidelity/index.js';
export * from './checkpoint/index.js';
export * from './pipelines/index.js';
export * from './manager/index.js';
export * from './scripts/index.js';
export * from './image/index.js';
export * from './generate.js';
export * from './jobs/index.js';
export * from './plan.js';
export * from './parameters.js';
export * as cli from './cli/index.js';
