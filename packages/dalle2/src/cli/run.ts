// `dalle2 <command>`: dalle2-laion's example CLI (dream, variation, inpaint) made non-interactive, plus
// `test` (load and report). Returns the exit code: 0 done, 1 failed, 2 usage error.
import { mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { basename, extname, join, resolve } from 'node:path';
import { DEFAULT_MODEL_CONFIG, generate, tuneAfterRun } from '../generate.js';
import { centerCropToSquare, decodeImage, encodePng, isImageFileName, maskFromImage, type RgbImage } from '../image/index.js';
import { DalleModelManager, formatReport } from '../manager/index.js';
import { BasicInpainting, ImageVariation, type DecodedImage } from '../scripts/index.js';
import { USAGE, UsageError, parseCli, type CliOptions } from './args.js';
import { FileNamer, ProgressLine, promptFileStem, readPromptFile } from './output.js';

export interface CliIo {
  stdout: { write(s: string): boolean };
  stderr: NodeJS.WriteStream | { isTTY?: boolean; write(s: string): boolean; columns?: number };
  /** Directory relative paths resolve against (pnpm passes the caller's as INIT_CWD). */
  cwd: string;
}

const defaultIo = (): CliIo => ({ stdout: process.stdout, stderr: process.stderr, cwd: process.env.INIT_CWD ?? process.cwd() });

/** Runs one CLI invocation; never calls process.exit. */
export async function runCli(argv: readonly string[], io: CliIo = defaultIo()): Promise<number> {
  const out = (s: string) => io.stdout.write(`${s}\n`);
  const err = (s: string) => io.stderr.write(`${s}\n`);
  let opts: CliOptions;
  try {
    opts = parseCli(argv);
  } catch (e) {
    err(`dalle2: ${(e as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (opts.command === 'help') {
    out(USAGE);
    return 0;
  }
  const progress = new ProgressLine(io.stderr);
  const ctx: Ctx = { opts, io, out, err, progress: opts.quiet ? undefined : progress };
  try {
    switch (opts.command) {
      case 'dream':
        return await dream(ctx);
      case 'variation':
        return await variation(ctx);
      case 'inpaint':
        return await inpaint(ctx);
      case 'test':
        return await test(ctx);
    }
  } catch (e) {
    progress.done();
    if (e instanceof UsageError) {
      err(`dalle2 ${opts.command}: ${e.message}\n\n${USAGE}`);
      return 2;
    }
    err(`dalle2 ${opts.command}: ${(e as Error).message}`);
    if (opts.verbose && (e as Error).stack) err((e as Error).stack!);
    return 1;
  } finally {
    progress.done();
  }
  return 2;
}

interface Ctx {
  opts: CliOptions;
  io: CliIo;
  out: (s: string) => void;
  err: (s: string) => void;
  progress?: ProgressLine;
}

function modelConfigPath(ctx: Ctx): string {
  return ctx.opts.modelConfig ? resolve(ctx.io.cwd, ctx.opts.modelConfig) : DEFAULT_MODEL_CONFIG;
}

async function loadManager(ctx: Ctx): Promise<DalleModelManager> {
  const path = modelConfigPath(ctx);
  if (ctx.opts.verbose) ctx.err(`model config ${path}`);
  return DalleModelManager.load(path, {
    warn: (m) => {
      ctx.progress?.done();
      ctx.err(m);
    },
    onProgress: (event) => {
      if (ctx.opts.verbose) ctx.err(event.message);
      else ctx.progress?.update({ stage: 'load', event });
    },
  });
}

function outputDir(ctx: Ctx, fallback: string): string {
  return resolve(ctx.io.cwd, ctx.opts.outputPath ?? fallback);
}

/** --steps for every stage; --prior-steps / --decoder-steps refine it. */
function stepOptions(o: CliOptions): { prior?: number; decoder?: number | number[] } {
  const decoder = o.decoderSteps ? (o.decoderSteps.length === 1 ? o.decoderSteps[0] : o.decoderSteps) : o.steps;
  return { prior: o.priorSteps ?? o.steps, decoder };
}

function condScaleOption(o: CliOptions): number | number[] | undefined {
  if (!o.condScale) return undefined;
  return o.condScale.length === 1 ? o.condScale[0] : o.condScale;
}

async function writePngs(ctx: Ctx, dir: string, items: { stem: string; index: number; png: Buffer }[]): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const namer = new FileNamer();
  const written: string[] = [];
  for (const it of items) {
    const path = join(dir, namer.name(it.stem, it.index));
    await writeFile(path, it.png);
    written.push(path);
  }
  ctx.progress?.done();
  for (const p of written) ctx.out(p);
  return written;
}

// ---------------------------------------------------------------- commands

async function dream(ctx: Ctx): Promise<number> {
  const o = ctx.opts;
  const prompts = [...o.positionals, ...o.prompts];
  if (o.promptFile) prompts.push(...(await readPromptFile(resolve(ctx.io.cwd, o.promptFile))));
  if (prompts.length === 0) throw new UsageError('dream needs at least one prompt (arguments, --prompt or --prompt-file)');
  const t0 = Date.now();
  const manager = await loadManager(ctx);
  if (!o.quiet) ctx.err(`adapter: ${manager.rt.describe()}`);
  try {
    const images = await generate(prompts, {
      manager,
      seed: o.seed,
      samples: o.samples,
      steps: stepOptions(o),
      condScale: { decoder: condScaleOption(o) },
      batchSize: o.batchSize,
      onProgress: ctx.progress ? (p) => ctx.progress!.update(p) : undefined,
      warn: (m) => ctx.err(m),
    });
    const dir = outputDir(ctx, './output/basic/');
    await writePngs(ctx, dir, images.map((im) => ({ stem: promptFileStem(im.prompt), index: im.sampleIndex, png: im.png })));
    if (!o.quiet) ctx.err(`${images.length} image(s) in ${((Date.now() - t0) / 1000).toFixed(1)} s; GPU memory ${manager.rt.memoryLine()}`);
    if (o.tune) await tuneAfterRun(manager.rt, ctx.err);
    return 0;
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

function decodedPngs(results: Map<number, DecodedImage[]>, stems: string[]): Promise<{ stem: string; index: number; png: Buffer }[]> {
  const items: Promise<{ stem: string; index: number; png: Buffer }>[] = [];
  for (const [i, list] of results) list.forEach((d, k) => items.push(encodePng(d.image).then((png) => ({ stem: stems[i], index: k, png }))));
  return Promise.all(items);
}

async function variation(ctx: Ctx): Promise<number> {
  const o = ctx.opts;
  const files = await imageFiles(ctx, [...o.positionals, ...o.images]);
  if (files.length === 0) throw new UsageError('variation needs at least one image file or directory');
  if (o.texts.length > 0 && o.texts.length !== files.length && o.texts.length !== 1) {
    throw new UsageError(`--text: ${o.texts.length} prompts for ${files.length} images (give one, or one per image)`);
  }
  // One at a time: each decode is bounded, but all at once would hold every full-size bitmap together.
  const images: RgbImage[] = [];
  for (const f of files) images.push(await decodeImage(f));
  const manager = await loadManager(ctx);
  try {
    const script = new ImageVariation(manager, { seed: o.seed, verbose: o.verbose, log: ctx.err, onProgress: ctx.progress ? (p) => ctx.progress!.update(p) : undefined });
    const decoder = await manager.decoder();
    const text = o.texts.length === 0 ? (decoder.condOnText ? files.map((f) => basename(f, extname(f))) : undefined) : o.texts.length === 1 ? files.map(() => o.texts[0]) : o.texts;
    const steps = stepOptions(o).decoder;
    const results = await script.run(images, { text, condScale: condScaleOption(o), sampleCount: o.samples, batchSize: o.batchSize, timesteps: steps });
    const stems = files.map((f) => promptFileStem(basename(f, extname(f))));
    await writePngs(ctx, outputDir(ctx, './output/variations/'), await decodedPngs(results, stems));
    if (o.tune) await tuneAfterRun(manager.rt, ctx.err);
    return 0;
  } finally {
    await manager.dispose();
  }
}

async function inpaint(ctx: Ctx): Promise<number> {
  const o = ctx.opts;
  const imagePaths = [...o.images, ...o.positionals];
  if (imagePaths.length === 0) throw new UsageError('inpaint needs --image, --mask and --prompt');
  if (o.masks.length !== imagePaths.length) throw new UsageError(`--mask: ${o.masks.length} masks for ${imagePaths.length} images (one per image)`);
  if (o.prompts.length !== imagePaths.length && o.prompts.length !== 1) throw new UsageError(`--prompt: ${o.prompts.length} prompts for ${imagePaths.length} images (give one, or one per image)`);
  const images: RgbImage[] = [];
  const masks: { mask: Uint8Array; width: number; height: number }[] = [];
  for (const [i, p] of imagePaths.entries()) {
    // As upstream's app: both center-cropped to a square; the image's alpha is dropped.
    const img = centerCropToSquare(await decodeImage(resolve(ctx.io.cwd, p)));
    const m = centerCropToSquare(await decodeImage(resolve(ctx.io.cwd, o.masks[i])));
    if (m.width !== img.width) throw new UsageError(`--mask ${o.masks[i]}: ${m.width}x${m.height} after cropping, but the image is ${img.width}x${img.height}`);
    images.push(img);
    masks.push({ mask: maskFromImage(m), width: m.width, height: m.height });
  }
  const prompts = o.prompts.length === 1 ? imagePaths.map(() => o.prompts[0]) : o.prompts;
  const manager = await loadManager(ctx);
  try {
    const script = new BasicInpainting(manager, { seed: o.seed, verbose: o.verbose, log: ctx.err, onProgress: ctx.progress ? (p) => ctx.progress!.update(p) : undefined });
    const steps = stepOptions(o);
    const results = await script.run(images, masks, prompts, {
      sampleCount: o.samples,
      decoderCondScale: condScaleOption(o),
      priorBatchSize: o.batchSize,
      decoderBatchSize: o.batchSize,
      priorTimesteps: steps.prior,
      decoderTimesteps: steps.decoder,
    });
    const stems = imagePaths.map((f) => promptFileStem(basename(f, extname(f))));
    await writePngs(ctx, outputDir(ctx, './output/inpaint/'), await decodedPngs(results, stems));
    if (o.tune) await tuneAfterRun(manager.rt, ctx.err);
    return 0;
  } finally {
    await manager.dispose();
  }
}

async function test(ctx: Ctx): Promise<number> {
  const t0 = Date.now();
  const manager = await loadManager(ctx);
  try {
    ctx.progress?.done();
    ctx.out(`model config ${modelConfigPath(ctx)}`);
    ctx.out(`adapter      ${manager.rt.describe()}`);
    for (const r of manager.report()) ctx.out(formatReport(r));
    ctx.out(`GPU memory   ${manager.rt.memoryLine()}`);
    ctx.out(`loaded in ${((Date.now() - t0) / 1000).toFixed(2)} s`);
    return 0;
  } finally {
    await manager.dispose();
  }
}
