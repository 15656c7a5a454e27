// @dalle2/dalle2: what users touch (config, model manager, scripts, CLI) and the fidelity runner.
export * as fidelity from './fidelity/index.js';
