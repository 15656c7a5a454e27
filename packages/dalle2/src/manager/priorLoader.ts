// Loads the diffusion prior a ModelLoadConfig names: a bare state dict (.pth or safetensors) with a
// separate TrainDiffusionPriorConfig JSON (`prior.load_config_from`), or a `{config, model}` wrapper.
// `net.*` keys build the network; `noise_scheduler.*` buffers are ignored (the schedule is computed
// from the config in float64: an fp16 checkpoint's buffers are wrong); `clip.*` keys are left for the
// CLIP loader (LAION's prior holds its CLIP), never an error.
import { readFile, stat } from 'node:fs/promises';
import type { Runtime } from '@dalle2/tensor';
import { DiffusionPriorNetwork, Weights, parsePriorNetSection, type PriorNetConfig } from '@dalle2/models';
import { parseDiffusionPriorConfig, type DiffusionPriorConfig } from '../pipelines/index.js';
import { NoiseSchedule } from '@dalle2/sampler';
import { MAX_CONFIG_FILE_BYTES, jsonBoundsIssue, type PriorLoadConfig } from '../config/index.js';
import { resolveFile, type ResolveOptions } from '../files/index.js';
import { checkShapesFirst, dtypeSummary, openCheckpoint, readTensors, type CheckpointFile } from './checkpointFile.js';

export class ModelLoadError extends Error {
  override name = 'ModelLoadError';
}

/** The DALLE2-pytorch version this engine implements. */
export const DALLE2_VERSION = '1.1.0';

export interface LoadedPrior {
  net: DiffusionPriorNetwork;
  netConfig: PriorNetConfig;
  /** DiffusionPrior settings; `sampleTimesteps` already overridden by `prior.default_sample_timesteps`. */
  config: DiffusionPriorConfig;
  /** Computed from `beta_schedule` and `timesteps` (never from checkpoint buffers). */
  schedule: NoiseSchedule;
  weights: Weights;
  /** The prior config names a CLIP (`prior.clip`), so it needs one to sample. */
  requiresClip: boolean;
  /** `prior.clip` of the TrainDiffusionPriorConfig, if any. */
  clipConfig?: { make?: string; model?: string };
  version?: string;
  path: string;
  storedDtypes: Record<string, number>;
  /** Keys the prior ignored (schedule buffers, clip.*), for the report. */
  ignoredKeys: number;
  /** Learned parameters (buffers such as the rotary `freqs` not counted, as torch's parameters()). */
  params: number;
}

export interface PriorLoadOptions {
  rt: Runtime;
  strict: boolean;
  warn: (message: string) => void;
  resolve?: ResolveOptions;
  /** Keep the checkpoint open (the CLIP loader may read `clip.*` from it); caller closes it. */
  keepOpen?: (file: CheckpointFile) => void;
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Reads a JSON config file named by a File spec. */
export async function readJsonFile(path: string, label: string): Promise<unknown> {
  let text: string;
  try {
    const { size } = await stat(path);
    if (size > MAX_CONFIG_FILE_BYTES) throw new ModelLoadError(`${label}: ${path} is ${size} bytes (limit ${MAX_CONFIG_FILE_BYTES} for a config file)`);
    text = await readFile(path, 'utf8');
  } catch (err) {
    if (err instanceof ModelLoadError) throw err;
    throw new ModelLoadError(`${label}: cannot read ${path}: ${(err as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text) as unknown;
  } catch (err) {
    throw new ModelLoadError(`${label}: ${path} is not valid JSON: ${(err as Error).message}`);
  }
  // Config parsers recurse over the document; bound it first.
  const issue = jsonBoundsIssue(doc);
  if (issue !== undefined) throw new ModelLoadError(`${label}: ${path}: ${issue.path}: ${issue.message}`);
  return doc;
}

/** The checkpoint's own config, else `load_config_from`, else an error saying what to provide. */
async function configDocument(
  file: CheckpointFile,
  loadConfigFrom: PriorLoadConfig['load_config_from'],
  origin: string,
  what: string,
  resolve: ResolveOptions | undefined,
): Promise<{ doc: unknown; source: string }> {
  if (loadConfigFrom) {
    const path = await resolveFile(loadConfigFrom, resolve);
    return { doc: await readJsonFile(path, `${origin}.load_config_from`), source: path };
  }
  if (file.config !== undefined) return { doc: file.config, source: `${file.path} (embedded config)` };
  throw new ModelLoadError(
    `${origin}.load_config_from: ${file.path} is a bare state dict with no config inside; set ${origin}.load_config_from ` +
      `to its ${what} JSON`,
  );
}

/** Upstream prints a warning when the checkpoint's version differs from the library's. */
export function checkVersion(file: CheckpointFile, what: string, warn: (m: string) => void): void {
  if (file.version !== undefined && file.version !== DALLE2_VERSION) {
    warn(`WARNING: This ${what} was trained on version ${file.version} but the current version is ${DALLE2_VERSION}. This may result in the model failing to load.`);
  } else if (file.version === undefined && file.wrapped) {
    warn(`WARNING: This ${what} (${file.path}) records no version; it may come from an old DALLE2-pytorch and produce garbage results.`);
  }
}

export async function loadPrior(load: PriorLoadConfig, opts: PriorLoadOptions): Promise<LoadedPrior> {
  const path = await resolveFile(load.load_model_from, opts.resolve);
  const file = await openCheckpoint(path, 'prior.load_model_from');
  let handedOver = false;
  try {
    checkVersion(file, 'prior', opts.warn);
    const { doc, source } = await configDocument(file, load.load_config_from, 'prior', 'TrainDiffusionPriorConfig', opts.resolve);
    const priorSection = isObject(doc) ? doc.prior : undefined;
    const netConfig = parsePriorNetSection(isObject(priorSection) ? priorSection.net : undefined, 'prior.net', source);
    const parsed = parseDiffusionPriorConfig(doc, source);
    const sampleTimesteps = load.default_sample_timesteps ?? parsed.sampleTimesteps;
    if (sampleTimesteps !== undefined && sampleTimesteps > parsed.timesteps) {
      throw new ModelLoadError(`prior.default_sample_timesteps: ${sampleTimesteps} exceeds the prior's ${parsed.timesteps} training timesteps`);
    }
    const config: DiffusionPriorConfig = { ...parsed, sampleTimesteps };
    const clipSection = isObject(priorSection) && isObject(priorSection.clip) ? (priorSection.clip as { make?: string; model?: string }) : undefined;

    const isNet = (k: string) => k.startsWith('net.');
    const ignorable = (k: string) => k.startsWith('noise_scheduler.') || k.startsWith('clip.');
    const unexpected = file.keys().filter((k) => !isNet(k) && !ignorable(k));
    reportUnexpected(unexpected, 'prior', file.path, opts);
    checkShapesFirst(opts.rt, file, isNet, (w) => void new DiffusionPriorNetwork(w.scope('net'), netConfig));
    const host = await readTensors(file, (k) => (isNet(k) ? k : undefined));
    const weights = Weights.fromHost(opts.rt, host, file.path);
    let net: DiffusionPriorNetwork;
    try {
      net = new DiffusionPriorNetwork(weights.scope('net'), netConfig);
      const unused = weights.unused();
      if (unused.length) reportUnexpected(unused, 'prior network', file.path, opts);
      weights.ignore(() => true);
    } catch (err) {
      weights.dispose();
      throw err;
    }
    if (opts.keepOpen) {
      opts.keepOpen(file);
      handedOver = true;
    }
    return {
      net,
      netConfig,
      config,
      schedule: NoiseSchedule.create(config.betaSchedule, config.timesteps),
      weights,
      requiresClip: clipSection !== undefined,
      clipConfig: clipSection,
      version: file.version,
      path: file.path,
      storedDtypes: dtypeSummary(file, isNet),
      ignoredKeys: file.keys().length - host.size,
      params: [...host].filter(([k]) => !k.endsWith('.rotary_emb.freqs')).reduce((n, [, w]) => n + w.data.length, 0),
    };
  } finally {
    if (!handedOver) await file.close();
  }
}

/** strict_loading: unexpected keys are an error (as load_state_dict(strict=True)); else a warning. */
export function reportUnexpected(keys: string[], what: string, path: string, opts: { strict: boolean; warn: (m: string) => void }): void {
  if (keys.length === 0) return;
  const list = keys.slice(0, 8).join(', ') + (keys.length > 8 ? `, ... (${keys.length} in all)` : '');
  const msg = `${path}: ${keys.length} key(s) the ${what} does not use: ${list}`;
  if (opts.strict) throw new ModelLoadError(`${msg} (set strict_loading: false to ignore them)`);
  opts.warn(`WARNING: ${msg}; ignored (strict_loading is false)`);
}
