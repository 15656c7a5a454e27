// `dalle2 <command>`: dalle2-laion's example CLI (dream, variation, inpaint) made non-interactive, plus
// `test` (load and report) and `info` (parameters stored in a PNG). Returns the exit code: 0 done,
// 1 failed, 2 usage error, 130 interrupted.
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { ModelLoadConfig } from '../config/index.js';
import { DEFAULT_MODEL_CONFIG } from '../generate.js';
import { DalleModelManager, formatReport } from '../manager/index.js';
import { readParameters, remakeCommand } from '../parameters.js';
import { callerCwd } from '../util/callerCwd.js';
import { UsageError, helpText, parseCli, type CliOptions } from './args.js';
import { cliError } from './checks.js';
import { VERSION } from './help.js';
import { ProgressLine } from './output.js';
import { dream, inpaint, variation, type Ctx } from './sampling.js';

export interface CliIo {
  stdout: { write(s: string): boolean };
  stderr: NodeJS.WriteStream | { isTTY?: boolean; write(s: string): boolean; columns?: number };
  /** Directory relative paths resolve against (`pnpm dalle2` passes the caller's as INIT_CWD). */
  cwd: string;
  /** Aborted on SIGINT/SIGTERM: sampling stops at the next step, finished images stay. */
  signal?: AbortSignal;
}

const defaultIo = (): CliIo => ({ stdout: process.stdout, stderr: process.stderr, cwd: callerCwd('dalle2') });

/** Runs one CLI invocation; never calls process.exit. */
export async function runCli(argv: readonly string[], io: CliIo = defaultIo()): Promise<number> {
  const progress = new ProgressLine(io.stderr);
  const out = (s: string) => {
    progress.done();
    io.stdout.write(`${s}\n`);
  };
  const err = (s: string) => {
    progress.done();
    io.stderr.write(`${s}\n`);
  };
  let opts: CliOptions;
  try {
    opts = parseCli(argv);
  } catch (e) {
    const u = e as UsageError;
    err(`dalle2: ${u.message}${u.hint ? `; ${u.hint}` : ''}`);
    return 2;
  }
  if (opts.command === 'help') {
    out(helpText(opts.helpFor));
    return 0;
  }
  if (opts.command === 'version') {
    out(`dalle2-ts ${VERSION}`);
    return 0;
  }
  const ctx: Ctx = { opts, io, out, err, progress: opts.quiet ? undefined : progress, loadManager: (config) => loadManager(ctx, config), modelConfig: modelConfigPath(opts, io) };
  try {
    switch (opts.command) {
      case 'dream':
        return await dream(ctx);
      case 'variation':
        return await variation(ctx);
      case 'inpaint':
        return await inpaint(ctx);
      case 'serve':
        return await (await import('./serve.js')).serve(ctx);
      case 'test':
        return await test(ctx);
      case 'info':
        return await info(ctx);
      case 'worker':
        // loaded on use: the server and queue stacks (Fastify, BullMQ) stay out of the other commands
        return await (await import('./queueCommands.js')).worker(ctx);
    }
  } catch (e0) {
    const e = cliError(e0) as Error;
    if (e instanceof UsageError) {
      err(`dalle2 ${opts.command}: ${e.message}; ${e.hint ?? `see "dalle2 ${opts.command} --help"`}`);
      return 2;
    }
    err(`dalle2 ${opts.command}: ${e.message}`);
    if (opts.verbose && e.stack) err(e.stack);
    return 1;
  } finally {
    progress.done();
  }
}

function modelConfigPath(o: CliOptions, io: CliIo): string {
  return o.modelConfig ? resolve(io.cwd, o.modelConfig) : DEFAULT_MODEL_CONFIG;
}

async function loadManager(ctx: Ctx, config?: ModelLoadConfig): Promise<DalleModelManager> {
  if (ctx.opts.verbose) ctx.err(`model config ${ctx.modelConfig}`);
  // a config the command already read (to check its options) is not read again
  return DalleModelManager.load(config ?? ctx.modelConfig, {
    baseDir: dirname(ctx.modelConfig),
    warn: (m) => ctx.err(m),
    onProgress: (event) => {
      if (ctx.opts.verbose) ctx.err(event.message);
      else ctx.progress?.update({ stage: 'load', event });
    },
  });
}

async function test(ctx: Ctx): Promise<number> {
  const t0 = Date.now();
  const manager = await ctx.loadManager();
  try {
    ctx.out(`model config ${ctx.modelConfig}`);
    ctx.out(`adapter      ${manager.rt.describe()}`);
    for (const r of manager.report()) ctx.out(formatReport(r));
    ctx.out(`GPU memory   ${manager.rt.memoryLine()}`);
    ctx.out(`loaded in ${((Date.now() - t0) / 1000).toFixed(2)} s`);
    return 0;
  } finally {
    await manager.dispose();
  }
}

/** `dalle2 info <png>...`: the stored parameters and the command that remakes each image. */
async function info(ctx: Ctx): Promise<number> {
  const files = ctx.opts.positionals;
  if (files.length === 0) throw new UsageError('info needs at least one PNG file');
  let missing = 0;
  for (const f of files) {
    const path = resolve(ctx.io.cwd, f);
    let png: Buffer;
    try {
      png = await readFile(path);
    } catch (e) {
      throw new UsageError(`${f}: cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    let p;
    try {
      p = readParameters(png);
    } catch (e) {
      throw new Error(`${f}: ${(e as Error).message}`);
    }
    if (!p) {
      ctx.err(`${f}: no dalle2-ts parameters stored in this file`);
      missing++;
      continue;
    }
    if (files.length > 1) ctx.out(`${f}:`);
    ctx.out(`kind       ${p.kind}`);
    if (p.prompt !== undefined) ctx.out(`prompt     ${p.prompt}`);
    if (p.image) ctx.out(`image      ${p.image}${p.mask ? ` (mask ${p.mask})` : ''}`);
    ctx.out(`seed       ${p.seed} (run seed ${p.runSeed}, sample ${p.sample})`);
    if (p.plan.priorSteps !== undefined) ctx.out(`prior      ${p.plan.priorSteps} steps, cond scale ${p.plan.priorCondScale}`);
    ctx.out(`decoder    steps ${p.plan.decoderSteps.join(',')}, cond scale ${p.plan.decoderCondScale.join(',')}`);
    ctx.out(`model      ${p.model.config ?? '(given as an object)'} (config digest ${p.model.digest})`);
    ctx.out(`software   ${p.software}`);
    ctx.out(`remake     ${remakeCommand(p)}`);
  }
  return missing > 0 ? 1 : 0;
}
