// The `dalle2` command line (dream, variation, inpaint, test, info).
export { runCli, type CliIo } from './run.js';
export { parseCli, helpText, UsageError, USAGE, type CliOptions, type CommandName } from './args.js';
export { checkOutputDir, writeFileAtomic } from './checks.js';
export { promptFileStem, readPromptFile } from './output.js';
