#!/usr/bin/env node
// Entry point of the `dalle2` bin (and `pnpm dalle2 <command>` from the repository root).
import { runCli } from './run.js';

runCli(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`dalle2: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  },
);
