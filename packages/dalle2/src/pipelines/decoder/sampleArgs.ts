// Decoder.sample's inputs checked as upstream checks them (and a few it would fail on later), resolved
// per unet (cast_tuple) into what the cascade runs.
import { shapeStr } from '@dalle2/tensor';
import type { DecoderConfig } from './config.js';
import type { DecoderSampleArgs } from './types.js';

export interface ResolvedSample {
  /** Batch size B. */
  batch: number;
  condScales: number[];
  /** DDIM steps per unet, or null for DDPM. */
  steps: (number | null)[];
  /** RePaint resamples per timestep (1 without inpainting). */
  resampleTimes: number;
  /** 1-based first and last unet numbers. */
  start: number;
  stop: number;
}

function fail(msg: string): never {
  throw new Error(`Decoder.sample: ${msg}`);
}

/** Upstream cast_tuple(v, n) with validation; errors name `what`. */
function perUnet<T>(v: T | readonly T[], n: number, what: string): T[] {
  if (Array.isArray(v)) {
    if (v.length !== n) fail(`${what} has ${v.length} entries for ${n} unets`);
    return [...(v as readonly T[])];
  }
  return Array<T>(n).fill(v as T);
}

/** Whether the decoder was trained with conditioning dropout (cond_scale != 1 needs it). */
export function canClassifierGuidance(c: DecoderConfig): boolean {
  return c.imageCondDropProb > 0 || c.textCondDropProb > 0;
}

export function checkCondScale(c: DecoderConfig, s: number): void {
  if (!Number.isFinite(s)) throw new Error(`Decoder: cond_scale ${s} must be a finite number`);
  if (s !== 1 && !canClassifierGuidance(c)) {
    throw new Error('Decoder: the decoder was not trained with conditional dropout, so cond_scale must be 1 (no classifier-free guidance)');
  }
}

/** The batch size, after checking the image embedding and the text encodings (and mask) against it. */
function checkConditioning(c: DecoderConfig, args: DecoderSampleArgs): number {
  if (!c.unconditional && !args.imageEmbed) fail('imageEmbed is required (the decoder is not unconditional)');
  const B = c.unconditional ? (args.batchSize ?? args.imageEmbed?.shape[0] ?? 1) : args.imageEmbed!.shape[0];
  if (!Number.isInteger(B) || B < 1) fail(`batch size ${B} must be a positive integer`);
  const e = args.imageEmbed;
  if (e && (e.rank !== 2 || e.shape[0] !== B)) fail(`imageEmbed ${shapeStr(e.shape)} must be [${B}, D]`);
  const needText = c.unets.some((u) => u.condOnTextEncodings);
  const text = args.textEncodings;
  if (needText && !text) fail('textEncodings are required (a unet conditions on text encodings)');
  if (!needText && text) fail('textEncodings given, but no unet conditions on text encodings');
  if (text && (text.rank !== 3 || text.shape[0] !== B)) fail(`textEncodings ${shapeStr(text.shape)} must be [${B}, L, D]`);
  const tm = args.textMask;
  if (tm && (!text || tm.dtype !== 'i32' || tm.size !== B * text.shape[1] || tm.shape[0] !== B)) {
    fail(`textMask ${tm.dtype} ${shapeStr(tm.shape)} must be i32 [${B}, ${text?.shape[1] ?? 'L'}] matching textEncodings`);
  }
  return B;
}

/** RePaint's resample count, after checking the inpainting image and mask. */
function checkInpainting(c: DecoderConfig, args: DecoderSampleArgs, B: number): number {
  const inpaint = args.inpaintImage;
  const mask = args.inpaintMask;
  if (!inpaint !== !mask) fail('inpaintImage and inpaintMask must be given together');
  if (inpaint && (inpaint.rank !== 4 || inpaint.shape[0] !== B || inpaint.shape[1] !== c.channels)) fail(`inpaintImage ${shapeStr(inpaint.shape)} must be [${B}, ${c.channels}, H, W]`);
  if (mask && inpaint) {
    const [, , H, W] = inpaint.shape;
    const ok = mask.dtype === 'i32' && mask.shape[0] === B && mask.size === B * H * W && (mask.rank === 3 || (mask.rank === 4 && mask.shape[1] === 1));
    if (!ok) fail(`inpaintMask ${mask.dtype} ${shapeStr(mask.shape)} must be i32 [${B}, ${H}, ${W}] or [${B}, 1, ${H}, ${W}]`);
  }
  const resampleTimes = inpaint ? (args.inpaintResampleTimes ?? 5) : 1;
  if (!Number.isInteger(resampleTimes) || resampleTimes < 1) fail(`inpaintResampleTimes ${resampleTimes} must be a positive integer`);
  return resampleTimes;
}

/** Checks every argument of Decoder.sample and resolves the per-unet settings. */
export function resolveSampleArgs(c: DecoderConfig, args: DecoderSampleArgs): ResolvedSample {
  const n = c.unets.length;
  const batch = checkConditioning(c, args);
  const condScales = perUnet(args.condScale ?? 1, n, 'condScale');
  condScales.forEach((s) => checkCondScale(c, s));
  const steps = perUnet<number | null | undefined>(args.sampleTimesteps === undefined ? c.sampleTimesteps : args.sampleTimesteps, n, 'sampleTimesteps').map((s) => s ?? null);
  steps.forEach((s, i) => {
    if (s !== null && (!Number.isInteger(s) || s < 1 || s > c.timesteps)) fail(`unet ${i + 1}: ${s} sampling steps must be an integer in [1, ${c.timesteps}]`);
  });
  const resampleTimes = checkInpainting(c, args, batch);
  // cascade range
  const start = args.startAtUnet ?? 1;
  const stop = args.stopAtUnet ?? n;
  if (!Number.isInteger(start) || start < 1 || start > n) fail(`startAtUnet ${start} must be a unet number in [1, ${n}]`);
  if (!Number.isInteger(stop) || stop < start || stop > n) fail(`stopAtUnet ${stop} must be a unet number in [${start}, ${n}]`);
  if (start > 1 && !args.image) fail(`image is required when starting at unet ${start}`);
  if (args.image && (args.image.rank !== 4 || args.image.shape[0] !== batch)) fail(`image ${shapeStr(args.image.shape)} must be [${batch}, C, h, w]`);
  return { batch, condScales, steps, resampleTimes, start, stop };
}
