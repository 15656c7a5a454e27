// The sampling commands: dream, variation, inpaint. Each checks its inputs, the output location and the
// options against the model config before loading anything, writes every image (atomically, with its
// parameters) as soon as it is decoded, and on SIGINT/SIGTERM stops at the next step.
import { readdir, stat } from 'node:fs/promises';
import { basename, extname, join, resolve } from 'node:path';
import type { ModelLoadConfig } from '../config/index.js';
import { generate, tuneAfterRun } from '../generate.js';
import { decodeImage, isImageFileName } from '../image/index.js';
import { inpaint as runInpaint, inpaintInputs, variation as runVariation, type InpaintInput, type VariationInput } from '../jobs/index.js';
import type { DalleModelManager } from '../manager/index.js';
import { UsageError, type CliOptions } from './args.js';
import { checkAgainstConfig, checkOutputDir, planRequest, writeFileAtomic } from './checks.js';
import { FileNamer, promptFileStem, readPromptFile, type ProgressLine } from './output.js';
import type { CliIo } from './run.js';

export interface Ctx {
  opts: CliOptions;
  io: CliIo;
  out: (s: string) => void;
  err: (s: string) => void;
  progress?: ProgressLine;
  /** Loads the models of `modelConfig` (or of its already-read config). */
  loadManager: (config?: ModelLoadConfig) => Promise<DalleModelManager>;
  modelConfig: string;
}

/** Writes images as they come, each under a fresh `<stem>_<n>.png`, and counts them. */
class ImageSink {
  written = 0;
  private readonly namer = new FileNamer();

  constructor(
    private readonly ctx: Ctx,
    readonly dir: string,
  ) {}

  async write(stem: string, index: number, png: Buffer): Promise<void> {
    const path = join(this.dir, this.namer.name(stem, index));
    await writeFileAtomic(path, png);
    this.written++;
    this.ctx.out(path);
  }
}

/** Runs a sampling job; an interrupt (aborted signal) ends it with exit 130 and what was written. */
async function sampling(ctx: Ctx, dir: string, total: number, manager: DalleModelManager, job: (sink: ImageSink) => Promise<void>): Promise<number> {
  const t0 = Date.now();
  const sink = new ImageSink(ctx, dir);
  try {
    await job(sink);
  } catch (e) {
    if (ctx.io.signal?.aborted) {
      ctx.err(`interrupted: ${sink.written} of ${total} images written`);
      return 130;
    }
    throw e;
  }
  if (!ctx.opts.quiet) ctx.err(`${sink.written} image(s) in ${((Date.now() - t0) / 1000).toFixed(1)} s in ${dir}; GPU memory ${manager.rt.memoryLine()}`);
  if (ctx.opts.tune) await tuneAfterRun(manager.rt, ctx.err);
  return 0;
}

function outputDir(ctx: Ctx, fallback: string): string {
  return resolve(ctx.io.cwd, ctx.opts.outputPath ?? fallback);
}

async function loadWithAdapterLine(ctx: Ctx, config: ModelLoadConfig): Promise<DalleModelManager> {
  const manager = await ctx.loadManager(config);
  if (!ctx.opts.quiet) ctx.err(`adapter: ${manager.rt.describe()}`);
  return manager;
}

function progressHook(ctx: Ctx) {
  return ctx.progress ? (p: Parameters<ProgressLine['update']>[0]) => ctx.progress!.update(p) : undefined;
}

export async function dream(ctx: Ctx): Promise<number> {
  const o = ctx.opts;
  const prompts = [...o.positionals, ...o.prompts];
  if (o.promptFile) prompts.push(...(await readPromptFile(resolve(ctx.io.cwd, o.promptFile))));
  if (prompts.length === 0) throw new UsageError('dream needs at least one prompt (arguments, --prompt or --prompt-file)');
  const dir = outputDir(ctx, './output/basic/');
  if (o.queue) return (await import('./queueCommands.js')).dreamOverQueue(ctx, prompts, dir);
  await checkOutputDir(dir);
  const config = await checkAgainstConfig(ctx.modelConfig, o, prompts);
  const manager = await loadWithAdapterLine(ctx, config);
  try {
    const req = planRequest(o);
    return await sampling(ctx, dir, prompts.length * o.samples, manager, async (sink) => {
      await generate(prompts, {
        manager,
        modelConfig: ctx.modelConfig,
        seed: o.seed,
        samples: o.samples,
        steps: { prior: req.priorSteps, decoder: req.decoderSteps },
        condScale: { prior: req.priorCondScale, decoder: req.decoderCondScale },
        batchSize: { prior: o.priorBatchSize ?? o.batchSize, decoder: o.decoderBatchSize ?? o.batchSize },
        truncate: o.truncate,
        signal: ctx.io.signal,
        onProgress: progressHook(ctx),
        warn: ctx.err,
        onImage: (im) => sink.write(promptFileStem(im.prompt), im.sampleIndex, im.png),
      });
    });
  } finally {
    await manager.dispose();
  }
}

/** Image files named on the command line; a directory contributes its image files (sorted). */
async function imageFiles(ctx: Ctx, args: readonly string[]): Promise<string[]> {
  const files: string[] = [];
  for (const a of args) {
    const p = resolve(ctx.io.cwd, a);
    const info = await stat(p).catch(() => undefined);
    if (!info) throw new UsageError(`${a}: no such file or directory`);
    if (info.isDirectory()) {
      const names = (await readdir(p)).filter(isImageFileName).sort();
      if (names.length === 0) throw new UsageError(`${a}: directory holds no .png/.jpg/.jpeg/.webp images`);
      files.push(...names.map((n) => join(p, n)));
    } else if (isImageFileName(p)) {
      files.push(p);
    } else {
      throw new UsageError(`${a} is not a valid image file (.png, .jpg, .jpeg, .webp)`);
    }
  }
  return files;
}

export async function variation(ctx: Ctx): Promise<number> {
  const o = ctx.opts;
  const files = await imageFiles(ctx, [...o.positionals, ...o.images]);
  if (files.length === 0) throw new UsageError('variation needs at least one image file or directory');
  if (o.texts.length > 0 && o.texts.length !== files.length && o.texts.length !== 1) {
    throw new UsageError(`--text: ${o.texts.length} prompts for ${files.length} images (give one, or one per image)`);
  }
  const dir = outputDir(ctx, './output/variations/');
  await checkOutputDir(dir);
  const config = await checkAgainstConfig(ctx.modelConfig, o, o.texts.length > 0 ? o.texts : undefined);
  const inputs: VariationInput[] = [];
  for (const [i, f] of files.entries()) {
    // one at a time: inputs may be large
    inputs.push({ image: await decodeImage(f), name: f, text: o.texts.length === 0 ? undefined : (o.texts[i] ?? o.texts[0]) });
  }
  const manager = await loadWithAdapterLine(ctx, config);
  try {
    const req = planRequest(o);
    const stems = files.map((f) => promptFileStem(basename(f, extname(f))));
    return await sampling(ctx, dir, files.length * o.samples, manager, async (sink) => {
      await runVariation(inputs, {
        ...jobOptions(ctx, manager), steps: { decoder: req.decoderSteps }, condScale: { decoder: req.decoderCondScale },
        onImage: (im) => sink.write(stems[im.input], im.sampleIndex, im.png),
      });
    });
  } finally {
    await manager.dispose();
  }
}

/** Options every image job of the CLI passes to the library calls. */
function jobOptions(ctx: Ctx, manager: DalleModelManager) {
  const o = ctx.opts;
  return {
    manager, modelConfig: ctx.modelConfig, seed: o.seed, samples: o.samples,
    batchSize: { prior: o.priorBatchSize ?? o.batchSize, decoder: o.decoderBatchSize ?? o.batchSize },
    verbose: o.verbose, log: ctx.err, warn: ctx.err, onProgress: progressHook(ctx), signal: ctx.io.signal, truncate: o.truncate,
  };
}

export async function inpaint(ctx: Ctx): Promise<number> {
  const o = ctx.opts;
  const imagePaths = [...o.images, ...o.positionals];
  if (imagePaths.length === 0) throw new UsageError('inpaint needs --image, --mask and --prompt');
  if (o.masks.length !== imagePaths.length) throw new UsageError(`--mask: ${o.masks.length} masks for ${imagePaths.length} images (one per image)`);
  if (o.prompts.length !== imagePaths.length && o.prompts.length !== 1) throw new UsageError(`--prompt: ${o.prompts.length} prompts for ${imagePaths.length} images (give one, or one per image)`);
  const prompts = o.prompts.length === 1 ? imagePaths.map(() => o.prompts[0]) : o.prompts;
  const dir = outputDir(ctx, './output/inpaint/');
  await checkOutputDir(dir);
  const config = await checkAgainstConfig(ctx.modelConfig, o, prompts);
  const inputs: InpaintInput[] = [];
  for (const [i, p] of imagePaths.entries()) {
    const image = await decodeImage(resolve(ctx.io.cwd, p));
    inputs.push({ image, mask: await decodeImage(resolve(ctx.io.cwd, o.masks[i])), prompt: prompts[i], name: p, maskName: o.masks[i] });
  }
  // the mask checks run before the model loads (inpaint() repeats them; they are cheap)
  inpaintInputs(inputs, () => undefined);
  const manager = await loadWithAdapterLine(ctx, config);
  try {
    const req = planRequest(o);
    const stems = imagePaths.map((f) => promptFileStem(basename(f, extname(f))));
    return await sampling(ctx, dir, imagePaths.length * o.samples, manager, async (sink) => {
      await runInpaint(inputs, {
        ...jobOptions(ctx, manager), steps: { prior: req.priorSteps, decoder: req.decoderSteps }, condScale: { prior: req.priorCondScale, decoder: req.decoderCondScale },
        onImage: (im) => sink.write(stems[im.input], im.sampleIndex, im.png),
      });
    });
  } finally {
    await manager.dispose();
  }
}
