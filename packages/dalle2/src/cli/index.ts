// The `dalle2` command line (dream, variation, inpaint, test).
export { runCli, type CliIo } from './run.js';
export { parseCli, UsageError, USAGE, type CliOptions, type CommandName } from './args.js';
export { promptFileStem, readPromptFile } from './output.js';
