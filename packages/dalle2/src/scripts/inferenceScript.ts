// dalle2-laion's `InferenceScript` base: tokenisation, prior sampling and decoder sampling with the
// upstream defaults and batching (each input repeated `sampleCount` times, split into batches of
// `batchSize`, results grouped per input index). Randomness: by default every image has its own seeded
// stream (image k of an input: seed + k), used by the prior and then the decoder, so an image never
// depends on batching or on the other inputs; a given `noise` source is instead one stream shared by
// every stage in call order (prior draws, then decoder draws), which replays recorded upstream noise.
import { Tensor, tidy, type Runtime } from '@dalle2/tensor';
import { dalle2Tokenize } from '@dalle2/models';
import { RowNoise, SeededNoise, imageSeed, type NoiseSource } from '@dalle2/sampler';
import type { ModelLoadConfig } from '../config/index.js';
import { chwToImage, imageToChw, resizeImage, resizeMaskNearest, type RgbImage } from '../image/index.js';
import { DalleModelManager, type ManagerOptions } from '../manager/index.js';
import { sampleDecoder, type DecoderStepEvent } from './decoderSampling.js';
import { previewImages, wantsPreview, type PreviewOptions } from './preview.js';

/** One decoded image: 8-bit RGB plus the decoder's float output (CHW in [0, 1]). */
export interface DecodedImage {
  image: RgbImage;
  /** Decoder.sample output for this image, [3, H, W] float32 in [0, 1]. */
  pixels: Float32Array;
}

/** Sampling progress of any stage. */
export type SamplingProgress =
  | { stage: 'prior'; batch: number; batches: number; step: number; steps: number }
  | ({ stage: 'decoder'; batch: number; batches: number } & DecoderStepEvent);

export interface ScriptOptions {
  /** Print what the script does (upstream's `verbose`). */
  verbose?: boolean;
  log?: (message: string) => void;
  /** One random stream for the whole run (e.g. ReplayNoise of recorded upstream draws); default per-image streams from `seed`. */
  noise?: NoiseSource;
  /** Seed of the per-image streams (default 0): image k of each input draws from SeededNoise(seed + k). */
  seed?: number;
  onProgress?: (p: SamplingProgress) => void;
  /** Aborts sampling at the next step boundary (the promise rejects with the signal's reason). */
  signal?: AbortSignal;
  /** Cut over-long prompts to the tokenizer's context instead of failing (upstream's truncate_text). */
  truncateText?: boolean;
  /** Free the prior's GPU memory while the decoder runs and vice versa (reloaded from files on use). */
  lowMemory?: boolean;
  /** Intermediate decoder images every few steps (off by default: each one is a GPU readback). */
  preview?: PreviewOptions;
}

export interface SamplePriorOptions {
  /** Default: `prior.default_cond_scale`, else 1. */
  condScale?: number;
  /** Embeddings per input (default 1). */
  sampleCount?: number;
  /** Most rows sampled at once (default 100, as upstream). */
  batchSize?: number;
  /** Candidates reranked per embedding (default 2, as upstream). */
  numSamplesPerBatch?: number;
  /** Sampling steps; default the prior's (`default_sample_timesteps`, else its config). */
  timesteps?: number;
}

export interface SampleDecoderOptions {
  /** CLIP image embeddings per input (host [D] arrays), or images to embed with CLIP. */
  imageEmbed?: readonly Float32Array[];
  images?: readonly RgbImage[];
  /** Text per input, embedded with CLIP for text-conditioned unets; or the encodings themselves ([L * W] each). */
  text?: readonly string[];
  textEncoding?: readonly Float32Array[];
  /** Inpainting, one per input (same indexing as imageEmbed/images): images (resized to the output size) and masks (H * W, 1 = keep). */
  inpaintImages?: readonly RgbImage[];
  inpaintMasks?: readonly { mask: Uint8Array; width: number; height: number }[];
  /** Per unet or one for all; default per unet from the load config (`default_cond_scale`), else 1. */
  condScale?: number | readonly number[];
  sampleCount?: number;
  /** Most images decoded at once (default 10, as upstream). */
  batchSize?: number;
  /** Sampling steps per unet (or one for all); default each unet's. */
  timesteps?: number | readonly (number | undefined)[];
  /**
   * Per input, the image whose noise stream the decoder continues (from samplePrior's `images`), so an
   * image's prior and decoder draws form one stream. Default: input i, sample k draws from seed + k.
   */
  streams?: readonly ImageKey[];
  /** Called as each batch is decoded, before the next one starts. */
  onDecoded?: (input: number, sample: number, image: DecodedImage) => void | Promise<void>;
}

/** Identifies one image's noise stream: its input and sample index. */
export interface ImageKey {
  input: number;
  sample: number;
}

/** upstream `_repeat_tensor_and_batch`: each index repeated `repeat` times, split into batches. */
export function repeatAndBatch(count: number, repeat: number, batchSize: number): number[][] {
  return repeatAndBatchKeys(count, repeat, batchSize).map((b) => b.map((k) => k.input));
}

/** repeatAndBatch with the sample number of each row (the k-th repeat of an input is its sample k). */
export function repeatAndBatchKeys(count: number, repeat: number, batchSize: number): ImageKey[][] {
  if (!Number.isInteger(repeat) || repeat < 1) throw new Error(`sample count ${repeat} must be a positive integer`);
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`batch size ${batchSize} must be a positive integer`);
  const flat = Array.from({ length: count * repeat }, (_, k): ImageKey => ({ input: Math.floor(k / repeat), sample: k % repeat }));
  const out: ImageKey[][] = [];
  for (let i = 0; i < flat.length; i += batchSize) out.push(flat.slice(i, i + batchSize));
  return out;
}

function push<T>(map: Map<number, T[]>, key: number, value: T): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

export class InferenceScript {
  protected readonly options: ScriptOptions;
  /** Per-image streams of this script, by `input:sample` of the stage that created them. */
  private readonly streams = new Map<string, NoiseSource>();

  constructor(
    readonly manager: DalleModelManager,
    options: ScriptOptions = {},
  ) {
    this.options = options;
    imageSeed(options.seed ?? 0, 0); // validates the seed before any work
  }

  /** The noise of a batch whose rows are these images (or the shared stream when one was given). */
  protected batchNoise(stage: string, rows: readonly ImageKey[]): NoiseSource {
    if (this.options.noise) return this.options.noise;
    return new RowNoise(rows.map((k) => this.imageStream(stage, k)));
  }

  private imageStream(stage: string, k: ImageKey): NoiseSource {
    const id = `${stage}:${k.input}:${k.sample}`;
    let s = this.streams.get(id);
    if (!s) {
      s = new SeededNoise(imageSeed(this.options.seed ?? 0, k.sample));
      this.streams.set(id, s);
    }
    return s;
  }

  /** Throws the abort reason when the run was cancelled (checked at every step boundary). */
  protected checkAborted(): void {
    this.options.signal?.throwIfAborted();
  }

  /** Loads the models of a config (object or JSON path) and wraps them in this script. */
  static async create<T extends InferenceScript>(
    this: new (manager: DalleModelManager, options?: ScriptOptions) => T,
    config: ModelLoadConfig | string,
    options: ScriptOptions & ManagerOptions = {},
  ): Promise<T> {
    const manager = await DalleModelManager.load(config, options);
    return new this(manager, options);
  }

  get rt(): Runtime {
    return this.manager.rt;
  }

  protected print(message: string): void {
    if (this.options.verbose) (this.options.log ?? ((m: string) => console.log(m)))(message);
  }

  /** dalle2_pytorch `tokenizer.tokenize`: [N, 256] ids, no SOT/EOT (what dalle2-laion feeds the prior). */
  tokenize(texts: readonly string[]): Int32Array {
    return dalle2Tokenize(texts, { truncateText: this.options.truncateText ?? false });
  }

  /**
   * `_sample_prior`: per input index, `sampleCount` CLIP image embeddings (host [D] arrays), each the
   * best of `numSamplesPerBatch` candidates.
   */
  async samplePrior(textOrTokens: readonly string[] | { tokens: Int32Array; batch: number }, opts: SamplePriorOptions = {}): Promise<Map<number, Float32Array[]>> {
    const tokens = Array.isArray(textOrTokens) ? { tokens: this.tokenize(textOrTokens as readonly string[]), batch: textOrTokens.length } : (textOrTokens as { tokens: Int32Array; batch: number });
    const { tokens: ids, batch: count } = tokens;
    const L = ids.length / count;
    if (this.options.lowMemory && this.manager.hasDecoder) this.manager.release('decoder');
    const prior = await this.manager.diffusionPrior();
    const condScale = opts.condScale ?? this.manager.priorDefaults().condScale;
    const batches = repeatAndBatchKeys(count, opts.sampleCount ?? 1, opts.batchSize ?? 100);
    const out = new Map<number, Float32Array[]>();
    for (const [bi, keys] of batches.entries()) {
      const rows = keys.map((k) => k.input);
      const batchTokens = new Int32Array(rows.length * L);
      rows.forEach((src, k) => batchTokens.set(ids.subarray(src * L, (src + 1) * L), k * L));
      const onStep = (s: { index: number; steps: number }) => {
        this.checkAborted();
        this.options.onProgress?.({ stage: 'prior', batch: bi, batches: batches.length, step: s.index, steps: s.steps });
      };
      this.checkAborted();
      const embed = await prior.sample(
        { tokens: batchTokens, batch: rows.length },
        { noise: this.batchNoise('image', keys), condScale, timesteps: opts.timesteps, numSamplesPerBatch: opts.numSamplesPerBatch ?? 2, onStep },
      );
      let host: Float32Array;
      try {
        host = await embed.toFloat32();
      } finally {
        embed.dispose();
      }
      const D = host.length / rows.length;
      rows.forEach((src, k) => push(out, src, host.slice(k * D, (k + 1) * D)));
    }
    if (this.options.lowMemory) this.manager.release('prior');
    return out;
  }

  /** CLIP image embeddings of images (resized to CLIP's size with Lanczos, as upstream). */
  async embedImages(images: readonly RgbImage[]): Promise<Float32Array[]> {
    const clip = await this.manager.clip();
    const S = clip.adapter.imageSize;
    const chw = await Promise.all(images.map(async (img) => imageToChw(await resizeImage(img, S, S))));
    const data = new Float32Array(images.length * 3 * S * S);
    chw.forEach((c, i) => data.set(c, i * c.length));
    const rt = this.rt;
    const emb = tidy(rt, () => clip.adapter.embedImage(Tensor.from(rt, data, [images.length, 3, S, S])));
    try {
      const host = await emb.toFloat32();
      const D = host.length / images.length;
      return images.map((_, i) => host.slice(i * D, (i + 1) * D));
    } finally {
      emb.dispose();
    }
  }

  /** CLIP text encodings of texts ([L * W] each, the adapter's masked ln_final output). */
  async encodeText(texts: readonly string[]): Promise<{ data: Float32Array[]; shape: [number, number] }> {
    const clip = await this.manager.clip();
    const e = clip.adapter.embedText(this.tokenize(texts), texts.length);
    try {
      const host = await e.textEncodings.toFloat32();
      const [, L, W] = e.textEncodings.shape;
      return { data: texts.map((_, i) => host.slice(i * L * W, (i + 1) * L * W)), shape: [L, W] };
    } finally {
      e.textEmbed.dispose();
      e.textEncodings.dispose();
    }
  }

  /** Default decoder cond scale per unet: the load config's `default_cond_scale`, else 1 (as upstream). */
  async decoderCondScales(): Promise<number[]> {
    const d = await this.manager.decoder();
    return d.unets.map((u) => u.condScale);
  }

  /**
   * `_sample_decoder`: per input index, `sampleCount` images. Image embeddings come from `imageEmbed` or
   * from `images` through CLIP; text encodings (only for text-conditioned unets) from `textEncoding`
   * or `text` through CLIP.
   */
  async sampleDecoder(opts: SampleDecoderOptions): Promise<Map<number, DecodedImage[]>> {
    if (this.options.lowMemory && this.manager.hasPrior) this.manager.release('prior');
    const decoder = await this.manager.decoder();
    let embeds = opts.imageEmbed;
    if (!embeds) {
      if (!opts.images) throw new Error('sampleDecoder: give image embeddings or images (the decoder is conditioned on CLIP image embeddings)');
      embeds = await this.embedImages(opts.images);
    }
    let encodings: { data: readonly Float32Array[]; shape: [number, number] } | undefined;
    if (decoder.condOnText) {
      if (opts.textEncoding) {
        const W = (await this.manager.clip()).adapter.textWidth;
        encodings = { data: opts.textEncoding, shape: [opts.textEncoding[0].length / W, W] };
      } else if (opts.text) {
        encodings = await this.encodeText(opts.text);
      } else {
        throw new Error('sampleDecoder: this decoder is conditioned on text: give text or text encodings per input');
      }
      if (encodings.data.length !== embeds.length) throw new Error(`sampleDecoder: ${encodings.data.length} texts for ${embeds.length} image embeddings`);
    }
    const condScale = opts.condScale ?? decoder.unets.map((u) => u.condScale);
    const timesteps = typeof opts.timesteps === 'number' ? decoder.unets.map(() => opts.timesteps as number) : opts.timesteps;
    const batches = repeatAndBatchKeys(embeds.length, opts.sampleCount ?? 1, opts.batchSize ?? 10);
    const rt = this.rt;
    const D = embeds[0].length;
    const out = new Map<number, DecodedImage[]>();
    // Decoder sample 0 of a prior image continues that image's stream; other images get their own.
    const streamOf = (k: ImageKey): [string, ImageKey] =>
      opts.streams && k.sample === 0 ? ['image', opts.streams[k.input]] : opts.streams ? [`decoder${k.sample}`, opts.streams[k.input]] : ['decoder', k];
    for (const [bi, keys] of batches.entries()) {
      const rows = keys.map((k) => k.input);
      const noise = this.options.noise ?? new RowNoise(keys.map((k) => this.imageStream(...streamOf(k))));
      const embedData = new Float32Array(rows.length * D);
      rows.forEach((src, k) => embedData.set(embeds![src], k * D));
      const imageEmbed = Tensor.from(rt, embedData, [rows.length, D]).keep();
      let textEncodings: Tensor | undefined;
      if (encodings) {
        const [L, W] = encodings.shape;
        const te = new Float32Array(rows.length * L * W);
        rows.forEach((src, k) => te.set(encodings!.data[src], k * L * W));
        textEncodings = Tensor.from(rt, te, [rows.length, L, W]).keep();
      }
      const inpaint = opts.inpaintImages ? await this.inpaintBatch(opts, rows, decoder.config.imageSizes[decoder.config.imageSizes.length - 1]) : undefined;
      let images: Tensor | undefined;
      try {
        images = await sampleDecoder(decoder, {
          imageEmbed,
          textEncodings,
          condScale,
          timesteps,
          noise,
          inpaint,
          onStep: async (e, tensors) => {
            this.checkAborted();
            this.options.onProgress?.({ stage: 'decoder', batch: bi, batches: batches.length, ...e });
            const preview = this.options.preview;
            if (preview && wantsPreview(e, preview.every)) {
              await preview.onPreview({ ...e, batch: bi, batches: batches.length, images: await previewImages(decoder.decoder, e.unet - 1, tensors, keys) });
            }
          },
        });
        const host = await images.toFloat32();
        const [, C, H, W] = images.shape;
        for (const [k, key] of keys.entries()) {
          const pixels = host.slice(k * C * H * W, (k + 1) * C * H * W);
          const decoded = { image: chwToImage(pixels, W, H), pixels };
          push(out, key.input, decoded);
          await opts.onDecoded?.(key.input, key.sample, decoded);
        }
      } finally {
        images?.dispose();
        imageEmbed.dispose();
        textEncodings?.dispose();
        inpaint?.images.dispose();
        inpaint?.masks.dispose();
      }
    }
    if (this.options.lowMemory) this.manager.release('decoder');
    return out;
  }

  /** Inpainting inputs of one batch at the decoder's output size: images [b, 3, S, S], masks [b, S, S] i32. */
  private async inpaintBatch(opts: SampleDecoderOptions, rows: number[], size: number): Promise<{ images: Tensor; masks: Tensor }> {
    const imgs = opts.inpaintImages!;
    const masks = opts.inpaintMasks;
    if (!masks || masks.length !== imgs.length) throw new Error('sampleDecoder: give one inpainting mask per inpainting image');
    if (imgs.length !== (opts.imageEmbed ?? opts.images)!.length) throw new Error(`sampleDecoder: ${imgs.length} inpainting images for ${(opts.imageEmbed ?? opts.images)!.length} inputs (one per input)`);
    const img = new Float32Array(rows.length * 3 * size * size);
    const msk = new Int32Array(rows.length * size * size);
    for (const [k, src] of rows.entries()) {
      const i = src;
      img.set(imageToChw(await resizeImage(imgs[i], size, size)), k * 3 * size * size);
      const m = masks[i];
      msk.set(resizeMaskNearest(m.mask, m.width, m.height, size, size), k * size * size);
    }
    return { images: Tensor.from(this.rt, img, [rows.length, 3, size, size]).keep(), masks: Tensor.from(this.rt, msk, [rows.length, size, size], 'i32').keep() };
  }
}
