#!/usr/bin/env node
// Entry point of the `dalle2` bin (and `pnpm dalle2 <command>` from the repository root).
//
// The command runs in a child process whose stderr passes through a filter: Dawn's Vulkan backend
// prints two "Warning: maxDynamic...PerPipelineLayout artificially reduced" lines from native code
// while it enumerates adapters (lavapipe reports huge limits), which no request of ours can avoid and
// JavaScript cannot intercept in-process. Exactly those lines are dropped; everything else passes.
// The child runs in its own process group so one Ctrl-C reaches it once, through this process.
import { spawn } from 'node:child_process';
import { callerCwd } from '../util/callerCwd.js';
import { runCli } from './run.js';
import { dawnNoiseFilter } from './stderrFilter.js';

const CHILD = 'DALLE2_CLI_CHILD';
const TTY_COLUMNS = 'DALLE2_CLI_TTY_COLUMNS';

function runChild(): void {
  const ctl = new AbortController();
  let signals = 0;
  const onSignal = (name: NodeJS.Signals) => {
    signals++;
    if (signals > 1) process.exit(130); // a second Ctrl-C: stop now
    process.stderr.write(`\n${name}: stopping at the next step (again to quit now)\n`);
    ctl.abort(new Error(`interrupted by ${name}`));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // The launcher died (SIGKILL): stop rather than run on unseen.
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) ctl.abort(new Error('launcher exited'));
  }, 1000).unref();
  const columns = Number(process.env[TTY_COLUMNS]);
  const stderr = columns > 0 ? { isTTY: true, columns, write: (s: string) => process.stderr.write(s) } : process.stderr;
  runCli(process.argv.slice(2), { stdout: process.stdout, stderr, cwd: callerCwd('dalle2'), signal: ctl.signal }).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`dalle2: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exitCode = 1;
    },
  );
}

function launch(): void {
  const env: NodeJS.ProcessEnv = { ...process.env, [CHILD]: '1' };
  if (process.stderr.isTTY) env[TTY_COLUMNS] = String(process.stderr.columns ?? 80);
  const child = spawn(process.execPath, [...process.execArgv, process.argv[1], ...process.argv.slice(2)], {
    stdio: ['ignore', 'inherit', 'pipe'],
    env,
    detached: true,
  });
  const filter = dawnNoiseFilter((s) => process.stderr.write(s));
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (s: string) => filter.write(s));
  // A terminal's Ctrl-C can arrive twice (directly, and relayed by a wrapper such as pnpm or tsx in the
  // same process group): forward one per half second, so only a deliberate second Ctrl-C forces exit.
  let last = 0;
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      if (Date.now() - last < 500) return;
      last = Date.now();
      child.kill(sig);
    });
  }
  child.on('close', (code, signal) => {
    filter.end();
    process.exitCode = code ?? (signal === 'SIGINT' || signal === 'SIGTERM' ? 130 : 1);
  });
}

if (process.env[CHILD] === '1') runChild();
else launch();
