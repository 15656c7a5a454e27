// Checks the CLI makes before loading anything: the output location, the options against the model's
// load config, the prompts. Problems become UsageErrors worded for the command line (exit 2).
import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { loadModelLoadConfig, type ModelLoadConfig } from '../config/index.js';
import { OptionError, PRIOR_CONTEXT, checkPrompts, checkRequestAgainstConfig, type PlanRequest } from '../plan.js';
import { UsageError, type CliOptions } from './args.js';

/** generate()/plan option names -> the CLI flags that set them. */
const FLAGS: Record<string, string> = {
  'steps.prior': '--prior-steps',
  'steps.decoder': '--decoder-steps',
  'condScale.prior': '--prior-cond-scale',
  'condScale.decoder': '--cond-scale',
  prompt: 'prompt',
  samples: '--samples',
  seed: '--seed',
  mask: '--mask',
  batchSize: '--batch-size',
};

/** An OptionError as the CLI says it (naming the flag); other errors unchanged. */
export function cliError(e: unknown): unknown {
  if (!(e instanceof OptionError)) return e;
  const flag = FLAGS[e.option] ?? e.option;
  if (e.option === 'prompt' && /tokens long/.test(e.message)) return new UsageError(`${e.message}: shorten it, or pass --truncate to keep the first ${PRIOR_CONTEXT} tokens`);
  return new UsageError(flag === 'prompt' ? e.message : `${flag}: ${e.message}`);
}

/**
 * The output directory is a writable directory: created (with parents) and probed with a real write
 * up front, so a long run never ends in EEXIST/EACCES after the work is done.
 */
export async function checkOutputDir(dir: string): Promise<void> {
  const missing: string[] = [];
  for (let probe = dir; ; probe = dirname(probe)) {
    const info = await stat(probe).catch(() => undefined);
    if (info && !info.isDirectory()) {
      throw new UsageError(probe === dir ? `--output-path ${dir} is a file, not a directory` : `--output-path ${dir} cannot be created: ${probe} is a file`);
    }
    if (info || dirname(probe) === probe) break;
    missing.unshift(probe);
  }
  try {
    // One level at a time: a recursive mkdir can spin forever where mkdir fails with ENOENT (e.g. /proc).
    for (const d of missing) await mkdir(d).catch((e: NodeJS.ErrnoException) => (e.code === 'EEXIST' ? undefined : Promise.reject(e)));
    const probe = join(dir, `.dalle2-write-test-${process.pid}`);
    await writeFile(probe, '');
    await rm(probe, { force: true });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'EACCES' || code === 'EPERM' || code === 'EROFS' ? 'permission denied' : (code ?? (e as Error).message);
    throw new UsageError(`--output-path ${dir} is not a writable directory (${why})`);
  }
}

let partials = 0;

/** Writes a file atomically: a temporary name in the same directory, then a rename. */
export async function writeFileAtomic(path: string, data: Buffer): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  // unique per write: several results may land in the same millisecond
  const tmp = join(dirname(path), `.${process.pid}.${++partials}.${randomBytes(4).toString('hex')}.partial`);
  await writeFile(tmp, data);
  await rename(tmp, path);
}

/** The CLI's per-stage request (--steps for every stage; --prior-steps / --decoder-steps refine it). */
export function planRequest(o: CliOptions): PlanRequest {
  return {
    priorSteps: o.priorSteps ?? o.steps,
    decoderSteps: o.decoderSteps ?? o.steps,
    priorCondScale: o.priorCondScale,
    decoderCondScale: o.condScale,
  };
}

/** Reads the load config and checks the options against it (before any weights are read). */
export async function checkAgainstConfig(configPath: string, o: CliOptions, prompts?: readonly string[]): Promise<ModelLoadConfig> {
  if (prompts) {
    try {
      checkPrompts(prompts, o.truncate);
    } catch (e) {
      throw cliError(e);
    }
  }
  const config = await loadModelLoadConfig(configPath);
  try {
    checkRequestAgainstConfig(config, planRequest(o));
  } catch (e) {
    throw cliError(e);
  }
  return config;
}
