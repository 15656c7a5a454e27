// The sampling commands: dream, variation, inpaint. Each checks its inputs, the output location and the
// options against the model config before loading anything, writes every image (atomically, with its
// parameters) as soon as it is decoded, and on SIGINT/SIGTERM stops at the next step.
import { readdir, stat } from 'node:fs/promises';
import { basename, extname, join, resolve } from 'node:path';
import { generate, tuneAfterRun } from '../generate.js';
import { centerCropToSquare, decodeImage, encodePng, isImageFileName, maskFromImage, type RgbImage } from '../image/index.js';
import type { DalleModelManager } from '../manager/index.js';
import { SOFTWARE, configDigest, pngWithParameters, type GenerationParameters } from '../parameters.js';
import { resolvePlan, type SamplingPlan } from '../plan.js';
import { BasicInpainting, ImageVariation, type DecodedImage } from '../scripts/index.js';
import { UsageError, type CliOptions } from './args.js';
import { checkAgainstConfig, checkOutputDir, planRequest, writeFileAtomic } from './checks.js';
import { FileNamer, promptFileStem, readPromptFile, type ProgressLine } from './output.js';
import { dreamOverQueue } from './queueCommands.js';
import type { CliIo } from './run.js';

export interface Ctx {
  opts: CliOptions;
  io: CliIo;
  out: (s: string) => void;
  err: (s: string) => void;
  progress?: ProgressLine;
  loadManager: () => Promise<DalleModelManager>;
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

async function loadWithAdapterLine(ctx: Ctx): Promise<DalleModelManager> {
  const manager = await ctx.loadManager();
  if (!ctx.opts.quiet) ctx.err(`adapter: ${manager.rt.describe()}`);
  return manager;
}

function record(ctx: Ctx, manager: DalleModelManager, plan: SamplingPlan, kind: GenerationParameters['kind'], sample: number, extra: Partial<GenerationParameters>): GenerationParameters {
  return {
    kind, ...extra, seed: ctx.opts.seed + sample, runSeed: ctx.opts.seed, sample, plan,
    model: { digest: configDigest(manager.config), config: ctx.modelConfig }, software: SOFTWARE,
  };
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
  if (o.queue) return dreamOverQueue(ctx, prompts, dir);
  await checkOutputDir(dir);
  await checkAgainstConfig(ctx.modelConfig, o, prompts);
  const manager = await loadWithAdapterLine(ctx);
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

async function pngOf(d: DecodedImage, p: GenerationParameters): Promise<Buffer> {
  return pngWithParameters(await encodePng(d.image), p);
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
  await checkAgainstConfig(ctx.modelConfig, o, o.texts.length > 0 ? o.texts : undefined);
  const images: RgbImage[] = [];
  for (const f of files) images.push(await decodeImage(f)); // one at a time: inputs may be large
  const manager = await loadWithAdapterLine(ctx);
  try {
    const decoder = await manager.decoder();
    if (o.texts.length > 0 && !decoder.condOnText) ctx.err('note: --text is ignored: this decoder is not conditioned on text');
    const text = !decoder.condOnText ? undefined : o.texts.length === 0 ? files.map((f) => basename(f, extname(f))) : o.texts.length === 1 ? files.map(() => o.texts[0]) : o.texts;
    // upstream's ImageVariation guides every unet with 1.0 unless told otherwise
    const plan = await resolvePlan(manager, { ...planRequest(o), decoderCondScale: o.condScale ?? 1 }, false);
    const stems = files.map((f) => promptFileStem(basename(f, extname(f))));
    return await sampling(ctx, dir, files.length * o.samples, manager, async (sink) => {
      const script = new ImageVariation(manager, { seed: o.seed, verbose: o.verbose, log: ctx.err, onProgress: progressHook(ctx), signal: ctx.io.signal, truncateText: o.truncate });
      await script.run(images, {
        text, condScale: plan.decoderCondScale, sampleCount: o.samples, batchSize: o.decoderBatchSize ?? o.batchSize, timesteps: plan.decoderSteps,
        onImage: async (d, at) => {
          const p = record(ctx, manager, plan, 'variation', at.sample, { image: files[at.input], prompt: text?.[at.input] });
          await sink.write(stems[at.input], at.sample, await pngOf(d, p));
        },
      });
    });
  } finally {
    await manager.dispose();
  }
}

/** Inpaint inputs: image and mask center-cropped to squares, with a note when that changes them. */
async function inpaintInputs(ctx: Ctx, imagePaths: string[]): Promise<{ images: RgbImage[]; masks: { mask: Uint8Array; width: number; height: number }[] }> {
  const o = ctx.opts;
  const images: RgbImage[] = [];
  const masks: { mask: Uint8Array; width: number; height: number }[] = [];
  for (const [i, p] of imagePaths.entries()) {
    const raw = await decodeImage(resolve(ctx.io.cwd, p));
    // As upstream's app: both center-cropped to a square; the image's alpha is dropped.
    const img = centerCropToSquare(raw);
    if (img.width !== raw.width || img.height !== raw.height) ctx.err(`note: ${p} is ${raw.width}x${raw.height}: center-cropped to ${img.width}x${img.height}`);
    const m = centerCropToSquare(await decodeImage(resolve(ctx.io.cwd, o.masks[i])));
    if (m.width !== img.width) throw new UsageError(`--mask ${o.masks[i]}: ${m.width}x${m.height} after cropping, but the image is ${img.width}x${img.height}`);
    const mask = maskFromImage(m);
    if (mask.every((v) => v === 1)) throw new UsageError(`--mask ${o.masks[i]} keeps every pixel (red >= 128 everywhere): nothing to inpaint`);
    images.push(img);
    masks.push({ mask, width: m.width, height: m.height });
  }
  return { images, masks };
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
  await checkAgainstConfig(ctx.modelConfig, o, prompts);
  const { images, masks } = await inpaintInputs(ctx, imagePaths);
  const manager = await loadWithAdapterLine(ctx);
  try {
    const plan = await resolvePlan(manager, planRequest(o), true);
    const size = (await manager.decoder()).config.imageSizes.at(-1)!;
    images.forEach((img, i) => {
      if (img.width !== size) ctx.err(`note: ${imagePaths[i]} is resized from ${img.width}x${img.height} to ${size}x${size}, the decoder's output size`);
    });
    const stems = imagePaths.map((f) => promptFileStem(basename(f, extname(f))));
    return await sampling(ctx, dir, imagePaths.length * o.samples, manager, async (sink) => {
      const script = new BasicInpainting(manager, { seed: o.seed, verbose: o.verbose, log: ctx.err, onProgress: progressHook(ctx), signal: ctx.io.signal, truncateText: o.truncate });
      await script.run(images, masks, prompts, {
        sampleCount: o.samples,
        decoderCondScale: plan.decoderCondScale,
        priorCondScale: plan.priorCondScale,
        priorBatchSize: o.priorBatchSize ?? o.batchSize,
        decoderBatchSize: o.decoderBatchSize ?? o.batchSize,
        priorTimesteps: plan.priorSteps,
        decoderTimesteps: plan.decoderSteps,
        onImage: async (d, at) => {
          const p = record(ctx, manager, plan, 'inpaint', at.sample, { image: imagePaths[at.input], mask: o.masks[at.input], prompt: prompts[at.input] });
          await sink.write(stems[at.input], at.sample, await pngOf(d, p));
        },
      });
    });
  } finally {
    await manager.dispose();
  }
}
