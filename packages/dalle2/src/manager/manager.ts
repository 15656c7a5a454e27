// DalleModelManager: loads what a ModelLoadConfig names (dalle2-laion's `DalleModelManager`), keeps one
// CLIP for every stage, lets a stage's GPU memory be released while another runs (reloaded from its
// files on next use), and reports what it holds.
import { dirname, resolve } from 'node:path';
import { Runtime } from '@dalle2/tensor';
import { DiffusionPrior } from '../pipelines/index.js';
import { loadModelLoadConfig, type ModelLoadConfig } from '../config/index.js';
import { resolveFile, type ResolveOptions } from '../files/index.js';
import { openCheckpoint, type CheckpointFile } from './checkpointFile.js';
import { clipModelPath, describeClip, loadClip, type LoadedClip } from './clipLoader.js';
import { loadDecoder, type LoadedDecoder } from './decoderLoader.js';
import { loadPrior, ModelLoadError, type LoadedPrior } from './priorLoader.js';
import { weightBytes, type ModelKind, type ModelReport } from './report.js';

/** Loading progress: one event when a stage starts and one when it is done. */
export interface LoadProgress {
  kind: ModelKind;
  state: 'start' | 'done';
  /** Human-readable line, e.g. "prior: 353.9k params from prior.pth". */
  message: string;
}

export interface ManagerOptions {
  /** GPU runtime to use; default a new one, destroyed by `dispose()`. */
  rt?: Runtime;
  onProgress?: (event: LoadProgress) => void;
  /** Warnings (version mismatch, ignored keys, unused CLIP config); default console.warn. */
  warn?: (message: string) => void;
  /** Directory relative paths in a config object resolve against (a config file's own directory otherwise). */
  baseDir?: string;
  /** Options for fetching url files (download progress, cache, ...). */
  resolve?: ResolveOptions;
}

export class DalleModelManager {
  private clipState: LoadedClip | undefined;
  private priorState: LoadedPrior | undefined;
  private decoderState: LoadedDecoder | undefined;
  private priorSampler: DiffusionPrior | undefined;
  private disposed = false;

  private constructor(
    readonly config: ModelLoadConfig,
    readonly rt: Runtime,
    private readonly ownsRuntime: boolean,
    private readonly baseDir: string | undefined,
    private readonly opts: ManagerOptions,
  ) {}

  /** Loads every model the config names (a parsed config, or the path of a config JSON). */
  static async load(config: ModelLoadConfig | string, opts: ManagerOptions = {}): Promise<DalleModelManager> {
    const parsed = typeof config === 'string' ? await loadModelLoadConfig(config) : config;
    const baseDir = opts.baseDir ?? (typeof config === 'string' ? dirname(resolve(config)) : undefined);
    const rt = opts.rt ?? (await Runtime.create());
    const m = new DalleModelManager(parsed, rt, opts.rt === undefined, baseDir, opts);
    try {
      await m.loadAll();
      return m;
    } catch (err) {
      await m.dispose();
      throw err;
    }
  }

  private warn(message: string): void {
    (this.opts.warn ?? ((s: string) => console.warn(s)))(message);
  }

  private progress(kind: ModelKind, state: LoadProgress['state'], message: string): void {
    this.opts.onProgress?.({ kind, state, message });
  }

  private get strict(): boolean {
    return this.config.strict_loading;
  }

  /**
   * Decoder first, then prior, then CLIP, as upstream; CLIP may come from the prior checkpoint. CLIP is
   * required for a prior (it embeds the prompts) and for text-conditioned decoders. A decoder whose
   * config merely names a clip (for embedding input images) gets it when the config says where its
   * weights are; otherwise `clip()` explains what to provide when an image needs embedding.
   */
  private async loadAll(): Promise<void> {
    if (this.config.decoder) await this.loadDecoderStage();
    let priorFile: CheckpointFile | undefined;
    try {
      if (this.config.prior) await this.loadPriorStage((f) => (priorFile = f));
      const named = this.config.clip?.load_model_from !== undefined || (await clipModelPath(this.config.clip, this.baseDir)) !== undefined;
      if (this.clipRequired() || (this.decoderState?.requiresClip && named)) await this.loadClipStage(priorFile);
      else if (this.config.clip && !this.decoderState?.requiresClip) {
        this.warn('WARNING: Your model does not require clip, but you provided a clip config. This will be ignored.');
      }
    } finally {
      await priorFile?.close();
    }
  }

  /** CLIP must be loaded: the prior embeds prompts with it; text-conditioned unets need text encodings. */
  private clipRequired(): boolean {
    return this.config.prior !== undefined || this.decoderState?.condOnText === true;
  }

  private async loadDecoderStage(): Promise<void> {
    const load = this.config.decoder;
    if (!load) throw new ModelLoadError('decoder: this model config has no decoder');
    this.progress('decoder', 'start', `decoder: loading ${load.unet_sources.length} source(s)`);
    this.decoderState = await loadDecoder(load, { rt: this.rt, strict: this.strict, warn: (m) => this.warn(m), resolve: this.opts.resolve });
    const d = this.decoderState;
    const params = d.unets.reduce((n, u) => n + u.params, 0);
    this.progress('decoder', 'done', `decoder: ${d.unets.length} unet(s), ${params} params, sizes ${d.config.imageSizes.join(' -> ')}`);
  }

  private async loadPriorStage(keepOpen?: (f: CheckpointFile) => void): Promise<void> {
    const load = this.config.prior;
    if (!load) throw new ModelLoadError('prior: this model config has no prior');
    this.progress('prior', 'start', 'prior: loading');
    this.priorState = await loadPrior(load, { rt: this.rt, strict: this.strict, warn: (m) => this.warn(m), resolve: this.opts.resolve, keepOpen });
    this.priorSampler = undefined;
    this.progress('prior', 'done', `prior: ${this.priorState.params} params from ${this.priorState.path}`);
  }

  private async loadClipStage(priorFile?: CheckpointFile): Promise<void> {
    this.progress('clip', 'start', 'clip: loading');
    const neededBy = this.config.prior
      ? 'the prior embeds prompts with it'
      : this.decoderState?.condOnText
        ? 'the decoder is conditioned on text encodings'
        : 'the decoder needs CLIP image embeddings of input images';
    // On a reload after release() the prior checkpoint is reopened only when no CLIP file is named.
    let opened: CheckpointFile | undefined;
    if (!priorFile && this.config.prior && !this.config.clip?.load_model_from && !(await clipModelPath(this.config.clip, this.baseDir))) {
      opened = await openCheckpoint(await resolveFile(this.config.prior.load_model_from, this.opts.resolve), 'prior.load_model_from');
    }
    try {
      this.clipState = await loadClip({
        rt: this.rt,
        clip: this.config.clip,
        baseDir: this.baseDir,
        priorCheckpoint: priorFile ?? opened,
        neededBy,
        resolve: this.opts.resolve,
      });
    } finally {
      await opened?.close();
    }
    this.priorSampler = undefined;
    this.progress('clip', 'done', `clip: ${describeClip(this.clipState)} from ${this.clipState.path}`);
  }

  // ---------------------------------------------------------------- access

  /** The loaded CLIP (reloaded first if it was released). */
  async clip(): Promise<LoadedClip> {
    this.checkLive();
    if (!this.clipState) await this.loadClipStage();
    return this.clipState!;
  }

  async prior(): Promise<LoadedPrior> {
    this.checkLive();
    if (!this.priorState) await this.loadPriorStage();
    return this.priorState!;
  }

  /** The loaded decoder; released unets are reloaded from their files. */
  async decoder(): Promise<LoadedDecoder> {
    this.checkLive();
    if (!this.decoderState) await this.loadDecoderStage();
    const d = this.decoderState!;
    for (const u of d.unets) if (!d.decoder.isLoaded(u.number - 1)) await d.decoder.unet(u.number - 1);
    return d;
  }

  get hasPrior(): boolean {
    return this.config.prior !== undefined;
  }

  get hasDecoder(): boolean {
    return this.config.decoder !== undefined;
  }

  /** The DiffusionPrior sampler over the loaded prior network, with CLIP as its text encoder. */
  async diffusionPrior(): Promise<DiffusionPrior> {
    const prior = await this.prior();
    const clip = await this.clip();
    const dim = clip.adapter.dimLatent;
    if (dim !== prior.config.imageEmbedDim) {
      // Upstream fails deep inside the prior's forward; say which two numbers disagree.
      throw new ModelLoadError(`clip: the "${clip.make}" CLIP embeds to ${dim} dims but the prior's image_embed_dim is ${prior.config.imageEmbedDim}`);
    }
    this.priorSampler ??= new DiffusionPrior({
      net: prior.net,
      config: prior.config,
      schedule: prior.schedule,
      clip: clip.adapter,
      warn: (m) => this.warn(m),
    });
    return this.priorSampler;
  }

  /** Default prior cond scale (load config, else 1) and sampling steps. */
  priorDefaults(): { condScale: number; sampleTimesteps?: number } {
    return { condScale: this.config.prior?.default_cond_scale ?? 1, sampleTimesteps: this.priorState?.config.sampleTimesteps };
  }

  private missingUnets(): number[] {
    const d = this.decoderState;
    if (!d) return Array.from({ length: this.config.decoder?.final_unet_number ?? 0 }, (_, i) => i + 1);
    return d.unets.filter((u) => !d.decoder.isLoaded(u.number - 1)).map((u) => u.number);
  }

  // ---------------------------------------------------------------- memory

  /**
   * Frees a model's GPU weights (e.g. the prior while the decoder runs); the next access reloads it from
   * its files. For the decoder, `unetNumber` releases one unet only.
   */
  release(kind: ModelKind, unetNumber?: number): void {
    if (kind === 'clip' && this.clipState) {
      this.clipState.weights.dispose();
      this.clipState = undefined;
      this.priorSampler = undefined;
    } else if (kind === 'prior' && this.priorState) {
      this.priorSampler = undefined;
      this.priorState.net.dispose();
      this.priorState.weights.dispose();
      this.priorState = undefined;
    } else if (kind === 'decoder' && this.decoderState) {
      const d = this.decoderState;
      for (const u of d.unets) {
        if (unetNumber !== undefined && u.number !== unetNumber) continue;
        d.decoder.releaseUnet(u.number - 1);
        u.weights?.dispose();
        u.weights = undefined;
      }
    }
  }

  /** Whether a model's weights are on the GPU now. */
  isResident(kind: ModelKind): boolean {
    if (kind === 'clip') return this.clipState !== undefined;
    if (kind === 'prior') return this.priorState !== undefined;
    return this.missingUnets().length === 0;
  }

  /** What is loaded: one report per configured model (params, dtypes, GPU bytes, files, version). */
  report(): ModelReport[] {
    const out: ModelReport[] = [];
    const clip = this.clipState;
    if (clip || this.clipRequired()) {
      out.push({
        kind: 'clip',
        description: clip ? describeClip(clip) : `CLIP "${this.config.clip?.make ?? 'openai'}" (released)`,
        files: clip ? [clip.path] : [],
        params: clip?.weights.paramCount() ?? 0,
        dtype: 'f32',
        storedDtypes: clip?.storedDtypes ?? {},
        gpuBytes: weightBytes(clip?.weights),
        resident: clip !== undefined,
      });
    }
    const p = this.priorState;
    if (this.config.prior) {
      out.push({
        kind: 'prior',
        description: p
          ? `DiffusionPrior dim ${p.netConfig.dim} depth ${p.netConfig.depth} heads ${p.netConfig.heads} (${p.config.betaSchedule}, ${p.config.timesteps} steps, sample ${p.config.sampleTimesteps ?? p.config.timesteps}, ${p.config.predictXStart ? 'predicts x0' : 'predicts noise'})`
          : 'DiffusionPrior (released)',
        files: p ? [p.path] : [],
        params: p?.params ?? 0,
        dtype: 'f32',
        storedDtypes: p?.storedDtypes ?? {},
        gpuBytes: weightBytes(p?.weights),
        version: p?.version,
        resident: p !== undefined,
      });
    }
    const d = this.decoderState;
    if (this.config.decoder) {
      const unets = d?.unets ?? [];
      const stored: Record<string, number> = {};
      for (const u of unets) for (const [k, v] of Object.entries(u.storedDtypes)) stored[k] = (stored[k] ?? 0) + v;
      const desc = unets
        .map((u) => {
          const i = u.number - 1;
          const c = d!.config;
          const from = i > 0 ? `${c.imageSizes[i - 1]}->` : '';
          const lv = c.learnedVariance[i] ? ', learned variance' : '';
          return `unet ${u.number}: ${from}${u.imageSize}px dim ${u.config.dim}, ${c.betaSchedules[i]}, sample ${u.sampleTimesteps ?? c.timesteps}${lv}, cond scale ${u.condScale}`;
        })
        .join('; ');
      out.push({
        kind: 'decoder',
        description: d ? `Decoder ${d.config.imageSizes.join('->')}px (${desc})` : 'Decoder (not loaded)',
        files: [...new Set(unets.map((u) => u.path))],
        params: unets.reduce((n, u) => n + u.params, 0),
        dtype: 'f32',
        storedDtypes: stored,
        gpuBytes: unets.reduce((n, u) => n + weightBytes(u.weights), 0),
        version: unets.find((u) => u.version)?.version,
        resident: this.missingUnets().length === 0,
      });
    }
    return out;
  }

  /** Frees every model; destroys the runtime if the manager created it. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.release('decoder');
    this.release('prior');
    this.release('clip');
    this.disposed = true;
    if (this.ownsRuntime) await this.rt.destroy();
  }

  private checkLive(): void {
    if (this.disposed) throw new ModelLoadError('DalleModelManager: used after dispose()');
  }
}
