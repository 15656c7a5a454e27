// POST /api/jobs bodies: shape and ranges (zod), then the model (unet count, step limits, prompt
// tokens), then uploads (type and size read from the file header before anything is decoded whole).
// Every problem is a RequestError: a 4xx status and a message naming the field.
import sharp, { type Metadata } from 'sharp';
import { z } from 'zod';
import { decodeImage } from '../image/index.js';
import { inpaintInputs } from '../jobs/index.js';
import { OptionError, checkPrompts } from '../plan.js';
import type { JobSpec } from './jobTypes.js';
import { LIMITS, type ModelInfo } from './modelInfo.js';

export class RequestError extends Error {
  override name = 'RequestError';

  constructor(
    readonly status: number,
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

const scale = z.number().min(LIMITS.condScale.min).max(LIMITS.condScale.max);
const stepCount = z.number().int().min(1);
// no length limit here: checkUpload answers an oversized file with 413 (the body limit bounds it)
const upload = z.string().min(1);
const text = z.string().max(LIMITS.maxPromptChars);
const common = {
  seed: z.number().int().min(0).max(LIMITS.maxSeed).nullish(),
  steps: z.strictObject({ prior: stepCount.optional(), decoder: z.array(stepCount).min(1).max(16).optional() }).optional(),
  condScale: z.strictObject({ prior: scale.optional(), decoder: z.array(scale).min(1).max(16).optional() }).optional(),
};
const samples = (max: number) => z.number().int().min(1).max(max).default(1);

const JobBody = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('dream'), prompts: z.array(text).min(1).max(LIMITS.maxPrompts), samples: samples(LIMITS.samples.dream), ...common }),
  z.strictObject({ kind: z.literal('variation'), image: upload, text: text.optional(), samples: samples(LIMITS.samples.variation), ...common }),
  z.strictObject({ kind: z.literal('inpaint'), image: upload, mask: upload, prompt: text, samples: samples(LIMITS.samples.inpaint), ...common }),
]);
type JobBody = z.infer<typeof JobBody>;

function zodError(e: z.ZodError): RequestError {
  const issue = e.issues[0];
  const field = issue.path.join('.');
  return new RequestError(400, `${field === '' ? 'body' : field}: ${issue.message}`, field || undefined);
}

/** Upload bytes from base64 (optionally a data: URL), checked from the header: type, file size, dimensions. */
export async function checkUpload(value: string, field: string): Promise<Uint8Array> {
  const b64 = value.replace(/^data:[\w/+.-]+;base64,/, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64)) throw new RequestError(400, `${field}: expected base64 image data (or a data: URL)`, field);
  const bytes = Buffer.from(b64, 'base64');
  if (bytes.length > LIMITS.maxUploadBytes) throw new RequestError(413, `${field}: ${bytes.length} bytes; at most ${LIMITS.maxUploadBytes} allowed`, field);
  let meta: Metadata;
  try {
    // metadata() reads the header only: dimensions are known before any pixel is decoded
    meta = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch {
    throw new RequestError(415, `${field}: not an image (expected PNG, JPEG or WebP)`, field);
  }
  if (!(LIMITS.imageTypes as readonly string[]).includes(meta.format ?? '')) {
    throw new RequestError(415, `${field}: ${meta.format ?? 'unknown'} images are not accepted (PNG, JPEG or WebP only)`, field);
  }
  const { width = 0, height = 0 } = meta;
  if (width > LIMITS.maxImageSide || height > LIMITS.maxImageSide || width * height > LIMITS.maxImagePixels) {
    throw new RequestError(413, `${field}: ${width}x${height} is too large (at most ${LIMITS.maxImageSide}x${LIMITS.maxImageSide})`, field);
  }
  if (width < 1 || height < 1) throw new RequestError(400, `${field}: empty image`, field);
  return bytes;
}

/** Step counts and cond-scale lists against the loaded model. */
function checkAgainstModel(body: JobBody, model: ModelInfo): void {
  const n = model.decoder.unets.length;
  if (body.kind !== 'variation' && !model.prior) throw new RequestError(400, `kind: this model has no prior, so it cannot ${body.kind}`, 'kind');
  for (const [field, list] of [['steps.decoder', body.steps?.decoder], ['condScale.decoder', body.condScale?.decoder]] as const) {
    if (list && list.length !== 1 && list.length !== n) throw new RequestError(400, `${field}: ${list.length} values for a decoder with ${n} unets (give one, or one per unet)`, field);
  }
  const bad = body.steps?.decoder?.find((s) => s > model.decoder.maxSteps);
  if (bad !== undefined) throw new RequestError(400, `steps.decoder: ${bad} is more than the decoder's ${model.decoder.maxSteps} training timesteps`, 'steps.decoder');
  if (body.steps?.prior !== undefined && model.prior && body.steps.prior > model.prior.maxSteps) {
    throw new RequestError(400, `steps.prior: ${body.steps.prior} is more than the prior's ${model.prior.maxSteps} training timesteps`, 'steps.prior');
  }
}

function checkTexts(texts: string[], field: string): void {
  try {
    checkPrompts(texts, false);
  } catch (e) {
    if (e instanceof OptionError) throw new RequestError(400, `${field}: ${e.message}`, field);
    throw e;
  }
}

/** A request body as a runnable job (throws RequestError). `randomSeed` picks the seed when none is given. */
export async function parseJobRequest(raw: unknown, model: ModelInfo, randomSeed: () => number): Promise<JobSpec> {
  const parsed = JobBody.safeParse(raw);
  if (!parsed.success) throw zodError(parsed.error);
  const body = parsed.data;
  checkAgainstModel(body, model);
  const decoder = body.steps?.decoder && body.steps.decoder.length === 1 ? model.decoder.unets.map(() => body.steps!.decoder![0]) : body.steps?.decoder;
  const base = {
    samples: body.samples, seed: body.seed ?? randomSeed(),
    steps: { prior: body.kind === 'variation' ? undefined : body.steps?.prior, decoder },
    condScale: { prior: body.kind === 'variation' ? undefined : body.condScale?.prior, decoder: body.condScale?.decoder },
  };
  if (body.kind === 'dream') {
    checkTexts(body.prompts, 'prompts');
    return { ...base, kind: 'dream', prompts: body.prompts };
  }
  if (body.kind === 'variation') {
    if (body.text !== undefined && body.text.trim() !== '') checkTexts([body.text], 'text');
    const image = await checkUpload(body.image, 'image');
    await decodable(image, 'image');
    return { ...base, kind: 'variation', image, text: body.text?.trim() === '' ? undefined : body.text };
  }
  checkTexts([body.prompt], 'prompt');
  const image = await checkUpload(body.image, 'image');
  const mask = await checkUpload(body.mask, 'mask');
  try {
    inpaintInputs([{ image: await decodable(image, 'image'), mask: await decodable(mask, 'mask'), prompt: body.prompt, name: 'image', maskName: 'mask' }], () => undefined);
  } catch (e) {
    if (e instanceof OptionError) throw new RequestError(400, e.message, 'mask');
    throw e;
  }
  return { ...base, kind: 'inpaint', image, mask, prompt: body.prompt };
}

/** Decodes a checked upload (a header can pass while the data is broken). */
async function decodable(bytes: Uint8Array, field: string) {
  try {
    return await decodeImage(bytes);
  } catch (e) {
    throw new RequestError(400, `${field}: cannot decode the image: ${(e as Error).message}`, field);
  }
}
