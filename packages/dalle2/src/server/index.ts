// The web UI server and its job model (dalle2 serve).
export * from './jobTypes.js';
export { startServer, type RunningServer, type ServerOptions } from './server.js';
export { InProcessRunner, type InProcessRunnerOptions } from './inProcessRunner.js';
export { inProcessExecutor, type ExecutorHooks, type ExecutorOptions, type JobExecutor } from './executor.js';
export { LIMITS, modelInfo, type ModelInfo } from './modelInfo.js';
export { RequestError, checkUpload, parseJobRequest } from './requests.js';
export { JobStore } from './store.js';
