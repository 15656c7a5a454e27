// Loads the decoder unets a ModelLoadConfig names, from one or more sources, and combines them into one
// @dalle2/models Decoder as dalle2-laion's `load_decoder` does: unet N comes from the source listing N
// in `unet_numbers` (with that source's config), image sizes must chain (unet N's input size is unet
// N-1's output size) and every unet must share the training timesteps. Noise schedules are computed
// from the configs in float64; checkpoint `noise_schedulers.*` buffers are ignored (wrong in fp16
// files). Each unet keeps a loader, so its GPU memory can be released and it comes back on next use.
import type { Runtime } from '@dalle2/tensor';
import { Unet, Weights, type UnetConfig } from '@dalle2/models';
import { Decoder, parseDecoderConfig, type DecoderConfig } from '../pipelines/index.js';
import type { DecoderLoadConfig, SingleDecoderLoadConfig } from '../config/index.js';
import { resolveFile, type ResolveOptions } from '../files/index.js';
import { checkShapesFirst, dtypeSummary, openCheckpoint, readTensors, type CheckpointFile } from './checkpointFile.js';
import { ModelLoadError, checkVersion, readJsonFile, reportUnexpected } from './priorLoader.js';

/** One unet of the combined decoder and where it comes from. */
export interface LoadedUnet {
  /** 1-based unet number. */
  number: number;
  config: UnetConfig;
  /** The GPU weights while loaded; undefined once released. */
  weights: Weights | undefined;
  /** Output image size. */
  imageSize: number;
  /** Sampling steps (load config default, else the decoder config's); undefined = DDPM over all timesteps. */
  sampleTimesteps?: number;
  /** Default classifier-free guidance scale (load config `default_cond_scale`, else 1). */
  condScale: number;
  /** Index into `decoder.unet_sources`. */
  sourceIndex: number;
  path: string;
  version?: string;
  storedDtypes: Record<string, number>;
  /** Scalar parameters (known after the first load). */
  params: number;
}

export interface LoadedDecoder {
  /** The sampler over the combined unets (released unets reload through their loaders). */
  decoder: Decoder;
  /** The combined config the Decoder runs with. */
  config: DecoderConfig;
  unets: LoadedUnet[];
  /** Any source's config names a CLIP (so image inputs can be embedded). */
  requiresClip: boolean;
  /** Any unet is conditioned on text encodings. */
  condOnText: boolean;
}

export interface DecoderLoadOptions {
  rt: Runtime;
  strict: boolean;
  warn: (message: string) => void;
  resolve?: ResolveOptions;
}

interface Source {
  index: number;
  load: SingleDecoderLoadConfig;
  path: string;
  config: DecoderConfig;
  hasClip: boolean;
  version?: string;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Opens a source, reads its config (embedded or `load_config_from`) and checks its keys. */
async function openSource(load: SingleDecoderLoadConfig, s: number, opts: DecoderLoadOptions): Promise<{ source: Source; file: CheckpointFile }> {
  const origin = `decoder.unet_sources[${s}]`;
  const path = await resolveFile(load.load_model_from, opts.resolve);
  const file = await openCheckpoint(path, `${origin}.load_model_from`);
  try {
    checkVersion(file, 'decoder', opts.warn);
    let doc: unknown;
    let docSource: string;
    if (load.load_config_from) {
      docSource = await resolveFile(load.load_config_from, opts.resolve);
      doc = await readJsonFile(docSource, `${origin}.load_config_from`);
    } else if (file.config !== undefined) {
      doc = file.config;
      docSource = `${file.path} (embedded config)`;
    } else {
      throw new ModelLoadError(
        `${origin}.load_config_from: ${file.path} is a bare state dict with no config inside; set ${origin}.load_config_from to its TrainDecoderConfig JSON`,
      );
    }
    const config = parseDecoderConfig(doc, docSource);
    const section = isObject(doc) && isObject(doc.decoder) ? doc.decoder : doc;
    const hasClip = isObject(section) && section.clip !== undefined && section.clip !== null;
    const known = (k: string) => /^unets\.\d+\./.test(k) || k.startsWith('noise_schedulers.') || k.startsWith('clip.');
    reportUnexpected(file.keys().filter((k) => !known(k)), 'decoder', file.path, opts);
    for (const n of load.unet_numbers) {
      if (n > config.unets.length) {
        throw new ModelLoadError(`${origin}.unet_numbers: unet ${n} is not in ${file.path} (its config has ${config.unets.length} unet(s))`);
      }
      if (!file.keys().some((k) => k.startsWith(`unets.${n - 1}.`))) {
        throw new ModelLoadError(`${origin}.unet_numbers: ${file.path} has no weights for unet ${n} (no "unets.${n - 1}.*" keys)`);
      }
    }
    return { source: { index: s, load, path: file.path, config, hasClip, version: file.version }, file };
  } catch (err) {
    await file.close();
    throw err;
  }
}

/** Reads unet `number` of a source and builds it (the caller owns the weights). */
async function buildUnet(rt: Runtime, file: CheckpointFile, number: number, config: UnetConfig): Promise<{ unet: Unet; weights: Weights }> {
  const prefix = `unets.${number - 1}.`;
  checkShapesFirst(rt, file, (k) => k.startsWith(prefix), (w) => void new Unet(w.scope(`unets.${number - 1}`), config));
  const host = await readTensors(file, (k) => (k.startsWith(prefix) ? k : undefined));
  const weights = Weights.fromHost(rt, host, file.path);
  try {
    return { unet: new Unet(weights.scope(`unets.${number - 1}`), config), weights };
  } catch (err) {
    weights.dispose();
    throw err;
  }
}

/** Upstream's checks when combining sources: sizes chain, training timesteps and channels agree. */
function checkCompatible(owners: Source[]): void {
  owners.forEach((src, i) => {
    if (i === 0) return;
    const prev = owners[i - 1];
    const prevOut = prev.config.imageSizes[i - 1];
    const inSize = src.config.imageSizes[i - 1];
    if (prevOut !== inSize) {
      throw new ModelLoadError(
        `decoder.unet_sources[${src.index}]: unet ${i + 1} upsamples from ${inSize}px but unet ${i} (decoder.unet_sources[${prev.index}]) outputs ${prevOut}px; the image sizes do not chain`,
      );
    }
    if (src.config.timesteps !== owners[0].config.timesteps) {
      throw new ModelLoadError(
        `decoder.unet_sources[${src.index}]: unet ${i + 1} was trained with ${src.config.timesteps} timesteps but unet 1 with ${owners[0].config.timesteps}; all unets must share the training timesteps`,
      );
    }
    if (src.config.channels !== owners[0].config.channels) {
      throw new ModelLoadError(`decoder.unet_sources[${src.index}]: unet ${i + 1} has ${src.config.channels} channels, unet 1 has ${owners[0].config.channels}`);
    }
  });
}

/** Loads and combines every unet source into one Decoder. */
export async function loadDecoder(load: DecoderLoadConfig, opts: DecoderLoadOptions): Promise<LoadedDecoder> {
  const sources: Source[] = [];
  const files: CheckpointFile[] = [];
  const unets: LoadedUnet[] = [];
  try {
    for (const [s, l] of load.unet_sources.entries()) {
      const { source, file } = await openSource(l, s, opts);
      sources.push(source);
      files.push(file);
    }
    const n = load.final_unet_number;
    const ownerOf = (number: number) => sources.find((src) => src.load.unet_numbers.includes(number))!;
    const owners = Array.from({ length: n }, (_, i) => ownerOf(i + 1));
    checkCompatible(owners);
    const built: Unet[] = [];
    for (let i = 0; i < n; i++) {
      const src = owners[i];
      const j = src.load.unet_numbers.indexOf(i + 1);
      const { unet, weights } = await buildUnet(opts.rt, files[src.index], i + 1, src.config.unets[i]);
      built.push(unet);
      unets.push({
        number: i + 1,
        config: unet.config,
        weights,
        imageSize: src.config.imageSizes[i],
        sampleTimesteps: src.load.default_sample_timesteps?.[j] ?? src.config.sampleTimesteps[i] ?? undefined,
        condScale: src.load.default_cond_scale?.[j] ?? 1,
        sourceIndex: src.index,
        path: src.path,
        version: src.version,
        storedDtypes: dtypeSummary(files[src.index], (k) => k.startsWith(`unets.${i}.`)),
        params: weights.paramCount(),
      });
    }
    const base = owners[0].config;
    const per = <T>(pick: (c: DecoderConfig, i: number) => T) => owners.map((src, i) => pick(src.config, i));
    const config: DecoderConfig = {
      ...base,
      unets: per((c, i) => c.unets[i]),
      imageSizes: per((c, i) => c.imageSizes[i]),
      sampleTimesteps: unets.map((u) => u.sampleTimesteps ?? null),
      betaSchedules: per((c, i) => c.betaSchedules[i]),
      learnedVariance: per((c, i) => c.learnedVariance[i]),
      predictXStart: per((c, i) => c.predictXStart[i]),
      p2LossWeightGamma: per((c, i) => c.p2LossWeightGamma[i]),
    };
    // Every unet gets a loader (so a released one comes back: the checkpoint is reopened and the unet
    // rebuilt); the first call of each hands over the unet built above.
    const fresh = [...built];
    const loaders = unets.map((u, i) => async (): Promise<Unet> => {
      const first = fresh[i];
      if (first) {
        fresh[i] = undefined as unknown as Unet;
        return first;
      }
      const src = sources[u.sourceIndex];
      const file = await openCheckpoint(src.path, `decoder.unet_sources[${src.index}].load_model_from`);
      try {
        const { unet, weights } = await buildUnet(opts.rt, file, u.number, config.unets[u.number - 1]);
        u.weights = weights;
        return unet;
      } finally {
        await file.close();
      }
    });
    const decoder = new Decoder({ unets: loaders, config });
    for (let i = 0; i < n; i++) await decoder.unet(i);
    return {
      decoder,
      config,
      unets,
      requiresClip: sources.some((s) => s.hasClip),
      condOnText: config.unets.some((u) => u.condOnTextEncodings),
    };
  } catch (err) {
    for (const u of unets) u.weights?.dispose();
    throw err;
  } finally {
    await Promise.all(files.map((f) => f.close()));
  }
}

