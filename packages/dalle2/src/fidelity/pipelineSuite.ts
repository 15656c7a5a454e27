// Pipeline checks vs pipeline/*: whole dalle2-laion runs chained through our models, each stage fed by
// our previous stage (not by the recording), replaying the recorded draws:
//   text_to_image (BasicInference): prompt -> DALLE2 tokens -> CLIP text embed/encodings -> DiffusionPrior.sample
//     (reranked) -> Decoder.sample(image embed, text encodings) -> [0, 1] image -> uint8 -> PNG
//   variation (ImageVariation): pixels -> CLIP image embed (+ text encodings of its tokens) -> Decoder.sample -> ...
// A recording is recognised by what it holds (a prior stage / input pixels). Prompts, batch sizes,
// candidates per text, guidance scales, step counts, which prior/decoder config a run used, noise
// streams (one shared stream, or `prior.` / `decoder.` streams) and PNG names come from the manifest
// and the files; nothing about the fixture set is assumed here. Every recorded tensor must be either an
// input we replay or compared (a last line lists any that are not).
//
// Tolerances: CLIP and prior outputs atol 1e-4 + rtol 1e-4 (f32, summation order only); decoder outputs
// and images atol 2e-3 (a free-running cascade of sampling steps compounds rounding differences, incl.
// those of our own prior embedding); uint8/PNG +-1 LSB ((x * 255).byte() truncation near integers).
import { readFile } from 'node:fs/promises';
import { Tensor, type SafetensorsFile } from '@dalle2/tensor';
import { ClipModel, ClipTokenizer, DiffusionPriorNetwork, OpenAIClipAdapter, loadClipWeights, parsePriorNetConfig, type Weights } from '@dalle2/models';
import {
  DiffusionPrior, parseDiffusionPriorConfig, repeatTokenRows, type Decoder, type DecoderConfig, type DecoderUnetInfo,
} from '../pipelines/index.js';
import { ReplayNoise, type NoiseSource } from '@dalle2/sampler';
import { chwToImage, decodeImage } from '../image/index.js';
import { compare, guarded, EXACT, TOL, IMAGE_TOL, LSB, type CheckResult, type Suite, type SuiteContext, type Tolerance } from './check.js';
import { Decoders } from './decoderSuite.js';
import { defaultSequence, netFor, type PriorVariant } from './priorSuite.js';


const DIR = 'pipeline/';
const CLIP_WEIGHTS = 'clip/weights.safetensors';
const CLIP_VOCAB = 'clip/bpe_simple_vocab_16e6.txt.gz';

// ------------------------------------------------------------------ manifest entries

interface UnetMeta {
  shape?: number[];
  sample_timesteps?: number | null;
  cond_scale?: number;
  learned_variance?: boolean;
}

/** A decoder stage (the decoder section of a text_to_image entry, or a whole variation entry). */
interface DecoderMeta {
  per_unet?: UnetMeta[];
  cond_scale?: number | number[];
  timesteps?: number;
  schedules?: string[];
}

interface PriorMeta {
  num_samples_per_batch?: number;
  cond_scale?: number;
  timestep_sequence?: number[];
  ddim_eta?: number | null;
}

interface RunMeta extends DecoderMeta {
  kind: string;
  description?: string;
  prompt?: string;
  prior?: PriorMeta;
  decoder?: DecoderMeta;
  tensors?: Record<string, { dtype: string; shape: number[] }>;
}

// ------------------------------------------------------------------ shared state

interface State {
  ctx: SuiteContext;
  clipWeights?: Weights;
  adapter?: OpenAIClipAdapter;
  tokenizer?: ClipTokenizer;
  priorVariants: PriorVariant[];
  priorNets: Map<string, DiffusionPriorNetwork>;
  decoders: Decoders;
}

function configRels(st: State, re: RegExp): string[] {
  return Object.keys(st.ctx.fx.manifest.files).filter((k) => re.test(k)).sort();
}

function adapterOf(st: State): OpenAIClipAdapter {
  if (!st.adapter) throw new Error(`${CLIP_WEIGHTS} is not in the fixture set`);
  return st.adapter;
}

/** The prior config a run used: the one whose default sampling visits the recorded timesteps. */
async function priorFor(st: State, rel: string, m: PriorMeta): Promise<DiffusionPrior> {
  if (!st.priorVariants.length) {
    for (const c of configRels(st, /^prior\/config[^/]*\.json$/)) {
      const json = await st.ctx.fx.json<unknown>(c);
      st.priorVariants.push({ rel: c, net: parsePriorNetConfig(json, c), prior: parseDiffusionPriorConfig(json, c) });
    }
    if (!st.priorVariants.length) throw new Error('no prior/config*.json in the manifest');
  }
  const seq = m.timestep_sequence;
  const fits = seq ? st.priorVariants.filter((v) => JSON.stringify(defaultSequence(v)) === JSON.stringify(seq)) : st.priorVariants;
  if (!fits.length) throw new Error(`${rel}: no prior config samples the timesteps [${seq!.join(', ')}]`);
  if (!seq && fits.length > 1) throw new Error(`${rel}: no prior timestep_sequence in the manifest to tell the prior configs apart`);
  if (typeof m.ddim_eta === 'number' && m.ddim_eta !== 1) throw new Error(`${rel}: prior recorded with ddim_eta ${m.ddim_eta}; DiffusionPrior.sample uses upstream's fixed 1.0`);
  const v = fits[0];
  const net = await netFor(st.ctx, st.priorNets, v);
  return new DiffusionPrior({ net, config: v.prior, clip: st.adapter, warn: () => undefined });
}

/** The decoder config a run used, from its per-unet entries (steps, learned variance, sizes), T and schedules. */
async function decoderFor(st: State, rel: string, m: DecoderMeta): Promise<{ dec: Decoder; config: DecoderConfig }> {
  if (!st.decoders.configs.length) await st.decoders.init();
  const fit = st.decoders.pick(rel, m);
  return { dec: await st.decoders.get(fit.rel), config: fit.config };
}

// ------------------------------------------------------------------ helpers

/** Reads the recorded tensors a run needs and remembers which were used. */
class Recording {
  readonly used = new Set<string>();
  readonly stem: string;

  constructor(
    readonly st: State,
    readonly rel: string,
    readonly file: SafetensorsFile,
    readonly meta: RunMeta,
  ) {
    this.stem = rel.slice(DIR.length).replace(/\.safetensors$/, '');
  }

  has(name: string): boolean {
    return this.file.has(name);
  }

  /** The first of `names` the file holds. */
  pick(...names: string[]): string {
    const n = names.find((k) => this.file.has(k));
    if (!n) throw new Error(`${this.rel}: none of ${names.join(', ')} recorded`);
    return n;
  }

  f32(name: string): Promise<Float32Array> {
    this.used.add(name);
    return this.st.ctx.fx.f32(this.rel, name);
  }

  i32(name: string): Promise<Int32Array> {
    this.used.add(name);
    return this.st.ctx.fx.i32(this.rel, name);
  }

  shape(name: string): Promise<number[]> {
    return this.st.ctx.fx.shape(this.rel, name);
  }

  async upload(name: string): Promise<Tensor> {
    return Tensor.from(this.st.ctx.rt, await this.f32(name), await this.shape(name));
  }

  /** Replays `<prefix>noise_NNN` (marks them used). */
  async noise(prefix: string): Promise<ReplayNoise> {
    const re = new RegExp(`^${prefix.replace(/\./g, '\\.')}noise_\\d+$`);
    for (const k of this.file.keys()) if (re.test(k)) this.used.add(k);
    return ReplayNoise.fromSafetensors(this.file, prefix);
  }

  label(s: string): string {
    return `${this.stem} ${s}`;
  }

  /** Compares a tensor (disposed) or host array with a recorded tensor, if recorded. */
  async check(out: CheckResult[], what: string, got: Tensor | ArrayLike<number>, name: string, tol: Tolerance): Promise<void> {
    const data = got instanceof Tensor ? await got.toFloat32() : got;
    if (got instanceof Tensor) got.dispose();
    if (!this.has(name)) return;
    out.push(compare(this.label(what), data, await (tol === EXACT ? this.i32(name) : this.f32(name)), tol));
  }

  /** Every recorded tensor was replayed or compared. */
  coverage(): CheckResult {
    const left = this.file.keys().filter((k) => !this.used.has(k));
    return {
      name: this.label('recorded tensors all checked'),
      maxAbsErr: left.length ? NaN : 0,
      tol: EXACT,
      pass: left.length === 0,
      detail: left.length ? `not checked: ${left.join(', ')}` : undefined,
    };
  }
}

/** Noise streams: `prior.` / `decoder.` prefixed streams, or one stream the prior draws first from. */
async function noiseStreams(rec: Recording, withPrior: boolean): Promise<{ prior?: ReplayNoise; decoder: ReplayNoise; all: ReplayNoise[] }> {
  if (rec.has('noise_000')) {
    const shared = await rec.noise('');
    return { prior: withPrior ? shared : undefined, decoder: shared, all: [shared] };
  }
  const decoder = await rec.noise('decoder.');
  if (!withPrior) return { decoder, all: [decoder] };
  const prior = await rec.noise('prior.');
  return { prior, decoder, all: [prior, decoder] };
}

function drawsCheck(rec: Recording, what: string, noise: ReplayNoise, total: number): CheckResult {
  return compare(rec.label(`${what} draws consumed (${total})`), [noise.consumed, noise.remaining], [total, 0], EXACT);
}

/** The draws a stream holds (for the consumed check). */
const totalDraws = (n: ReplayNoise): number => n.consumed + n.remaining;

/** PNG files of a run: `<stem>.png` (batch 1) or `<stem>_<b>.png` per batch row. */
function pngsOf(rec: Recording): Map<number, string> {
  const out = new Map<number, string>();
  const esc = rec.stem.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const re = new RegExp(`^${DIR.replace(/\//g, '\\/')}${esc}(?:_(\\d+))?\\.png$`);
  for (const k of Object.keys(rec.st.ctx.fx.manifest.files)) {
    const m = re.exec(k);
    if (m) out.set(m[1] === undefined ? -1 : Number(m[1]), k);
  }
  return out;
}

// ------------------------------------------------------------------ decoder stage + images

/**
 * Decoder.sample on our conditioning, replaying the decoder draws; per-unet outputs, the final image,
 * its uint8 conversion and the PNGs vs the recording.
 */
async function decoderStage(
  rec: Recording,
  dm: DecoderMeta,
  prefix: string,
  imageEmbed: Tensor,
  textEncodings: Tensor | undefined,
  noise: NoiseSource,
): Promise<CheckResult[]> {
  const { dec, config } = await decoderFor(rec.st, rec.rel, dm);
  const out: CheckResult[] = [];
  const perUnet = dm.per_unet ?? [];
  const condScale = config.unets.map((_, i) => perUnet[i]?.cond_scale ?? (Array.isArray(dm.cond_scale) ? dm.cond_scale[i] : dm.cond_scale) ?? 1);
  // the tensors live only during the callback: read them back there (host copies go to rec.check)
  const onUnet = async ({ unet, output, lowresCondImg }: DecoderUnetInfo) => {
    if (lowresCondImg) await rec.check(out, `decoder unet${unet}.lowres_cond_img`, await lowresCondImg.toFloat32(), `${prefix}unet${unet}.lowres_cond_img`, IMAGE_TOL);
    await rec.check(out, `decoder unet${unet}.output`, await output.toFloat32(), `${prefix}unet${unet}.output`, IMAGE_TOL);
  };
  const image = await dec.sample({ imageEmbed, textEncodings: dec.conditionOnTextEncodings ? textEncodings : undefined, condScale, sampleTimesteps: config.sampleTimesteps, noise, onUnet });
  const [B, C, H, W] = image.shape;
  const img = await image.toFloat32();
  image.dispose();
  const imageKey = rec.pick(`${prefix}image`, 'image');
  out.push(compare(rec.label(`image (${B}x${C}x${H}x${W})`), img, await rec.f32(imageKey), IMAGE_TOL));

  // ToPILImage per batch row (HWC bytes), as the product encodes its PNGs
  const hw = H * W;
  const rows = Array.from({ length: B }, (_, b) => chwToImage(img.subarray(b * C * hw, (b + 1) * C * hw), W, H));
  const u8Key = [`${prefix}image_uint8`, 'image_uint8'].find((k) => rec.has(k));
  if (u8Key) {
    const want = await rec.i32(u8Key);
    const got = new Int32Array(want.length);
    for (let b = 0; b < B; b++) for (let c = 0; c < C; c++) for (let k = 0; k < hw; k++) got[(b * C + c) * hw + k] = rows[b].data[k * 3 + c];
    out.push(compare(rec.label('image_uint8'), got, want, LSB));
  }
  const pngs = pngsOf(rec);
  for (const [idx, png] of [...pngs].sort((a, b) => a[0] - b[0])) {
    const b = idx < 0 ? 0 : idx;
    const name = rec.label(`png ${png.slice(DIR.length)}`);
    if (b >= B || (idx < 0 && B !== 1)) {
      out.push({ name, maxAbsErr: NaN, tol: LSB, pass: false, detail: `no batch row ${idx < 0 ? '(unnumbered PNG, batch ' + B + ')' : idx} in a batch of ${B}` });
      continue;
    }
    const p = await decodeImage(await readFile(rec.st.ctx.fx.path(png)));
    if (p.width !== W || p.height !== H) {
      out.push({ name, maxAbsErr: NaN, tol: LSB, pass: false, detail: `PNG is ${p.width}x${p.height}, image ${W}x${H}` });
      continue;
    }
    out.push(compare(name, rows[b].data, p.data, LSB));
  }
  if (!pngs.size) out.push({ name: rec.label('png'), maxAbsErr: NaN, tol: LSB, pass: false, detail: 'no PNG of this run in the manifest' });
  return out;
}

// ------------------------------------------------------------------ runs

/** text -> tokens -> CLIP -> prior (reranked) -> decoder -> image. */
async function textToImage(rec: Recording): Promise<CheckResult[]> {
  const { st, meta } = rec;
  const pm = meta.prior!;
  const out: CheckResult[] = [];
  const pp = 'prior.';
  const tokKey = rec.pick(`${pp}text_tokens`, 'text_tokens');
  const [b, L] = await rec.shape(tokKey);
  const tokens = await rec.i32(tokKey);

  if (typeof meta.prompt === 'string') {
    out.push(
      ...(await guarded(rec.label('tokens'), EXACT, async () => {
        const tok = (st.tokenizer ??= ClipTokenizer.load(st.ctx.fx.has(CLIP_VOCAB) ? st.ctx.fx.path(CLIP_VOCAB) : undefined));
        const prompts = Array<string>(b).fill(meta.prompt!);
        return compare(rec.label(`dalle2 tokens of the prompt (${b}x${L})`), tok.dalle2Tokenize(prompts, { contextLength: L, truncateText: true }), tokens, EXACT);
      })),
    );
  }

  const adapter = adapterOf(st);
  const R = pm.num_samples_per_batch;
  if (!Number.isInteger(R) || R! < 1) throw new Error(`${rec.rel}: manifest gives no prior num_samples_per_batch`);
  const { prior: priorNoise, decoder: decoderNoise, all } = await noiseStreams(rec, true);
  const totals = all.map(totalDraws);

  // CLIP text conditioning of the prior (rows repeated per candidate, as prior.sample does)
  const rep = adapter.embedText(repeatTokenRows(tokens, b, R!), b * R!);
  await rec.check(out, 'prior clip_text_embed', rep.textEmbed, `${pp}clip_text_embed`, TOL);
  await rec.check(out, 'prior clip_text_encodings', rep.textEncodings, `${pp}clip_text_encodings`, TOL);

  // prior.sample from the tokens (through our CLIP adapter)
  const prior = await priorFor(st, rec.rel, pm);
  const res = await prior.sampleDetailed({ tokens, batch: b }, { numSamplesPerBatch: R, condScale: pm.cond_scale ?? 1, noise: priorNoise! });
  const imageEmbed = res.imageEmbed;
  try {
    await rec.check(out, 'prior p_sample_loop_out', res.loopOut, `${pp}p_sample_loop_out`, TOL);
    await rec.check(out, 'prior candidates', res.candidates, `${pp}candidates`, TOL);
    await rec.check(out, 'prior similarities', res.similarities, `${pp}similarities`, TOL);
    await rec.check(out, 'prior top_index', res.topIndex, `${pp}top_index`, EXACT);
    out.push(compare(rec.label('prior image_embed'), await imageEmbed.toFloat32(), await rec.f32(rec.pick(`${pp}image_embed`)), TOL));
    if (all.length > 1) out.push(drawsCheck(rec, 'prior', priorNoise!, totals[0]));

    // decoder text conditioning: the adapter on the (un-repeated) tokens
    const dp = 'decoder.';
    const dm = meta.decoder ?? meta;
    const enc = adapter.embedText(tokens, b);
    enc.textEmbed.dispose();
    try {
      const encKey = [`${dp}text_encodings`, 'text_encodings'].find((k) => rec.has(k));
      if (encKey) out.push(compare(rec.label('decoder text_encodings'), await enc.textEncodings.toFloat32(), await rec.f32(encKey), TOL));
      out.push(...(await decoderStage(rec, dm, meta.decoder ? dp : '', imageEmbed, enc.textEncodings, decoderNoise)));
    } finally {
      enc.textEncodings.dispose();
    }
    out.push(drawsCheck(rec, all.length > 1 ? 'decoder' : 'prior + decoder', decoderNoise, totals[totals.length - 1]));
  } finally {
    imageEmbed.dispose();
  }
  return out;
}

/** pixels -> CLIP image embed (+ text encodings of its tokens) -> decoder -> images. */
async function variation(rec: Recording): Promise<CheckResult[]> {
  const { meta } = rec;
  const adapter = adapterOf(rec.st);
  const out: CheckResult[] = [];
  const pixels = await rec.upload('pixels');
  let imageEmbed: Tensor;
  try {
    imageEmbed = adapter.embedImage(pixels);
  } finally {
    pixels.dispose();
  }
  let textEncodings: Tensor | undefined;
  try {
    out.push(compare(rec.label('clip image_embed'), await imageEmbed.toFloat32(), await rec.f32('image_embed'), TOL));
    if (rec.has('text_tokens')) {
      const [b] = await rec.shape('text_tokens');
      const e = adapter.embedText(await rec.i32('text_tokens'), b);
      e.textEmbed.dispose();
      textEncodings = e.textEncodings;
      if (rec.has('text_encodings')) out.push(compare(rec.label('clip text_encodings'), await textEncodings.toFloat32(), await rec.f32('text_encodings'), TOL));
    }
    const dm = meta.decoder ?? meta;
    const prefix = meta.decoder ? 'decoder.' : '';
    const { decoder: noise } = await noiseStreams(rec, false);
    const total = totalDraws(noise);
    out.push(...(await decoderStage(rec, dm, prefix, imageEmbed, textEncodings, noise)));
    out.push(drawsCheck(rec, 'decoder', noise, total));
  } finally {
    imageEmbed.dispose();
    textEncodings?.dispose();
  }
  return out;
}

// ------------------------------------------------------------------ suite

export const pipelineSuite: Suite = async (ctx) => {
  const results: CheckResult[] = [];
  const st: State = { ctx, priorVariants: [], priorNets: new Map(), decoders: new Decoders(ctx) };
  const runs = Object.keys(ctx.fx.manifest.files).filter((k) => k.startsWith(DIR) && k.endsWith('.safetensors')).sort();
  try {
    if (!runs.length) throw new Error(`no ${DIR}*.safetensors in the manifest`);
    if (ctx.fx.has(CLIP_WEIGHTS)) {
      st.clipWeights = await loadClipWeights(ctx.rt, ctx.fx.path(CLIP_WEIGHTS));
      st.adapter = new OpenAIClipAdapter(new ClipModel(st.clipWeights));
    }
    for (const rel of runs) {
      const meta = ctx.fx.manifest.files[rel] as unknown as RunMeta;
      const rec = new Recording(st, rel, await ctx.fx.file(rel), meta);
      const isText = meta.prior !== undefined || rec.file.keys().some((k) => k.startsWith('prior.'));
      const isVariation = !isText && rec.has('pixels');
      if (!isText && !isVariation) {
        results.push({ name: rec.label('no check for this fixture'), maxAbsErr: NaN, tol: TOL, pass: false });
        continue;
      }
      if (isText && !meta.prior) {
        results.push({ name: rec.label('manifest'), maxAbsErr: NaN, tol: TOL, pass: false, detail: 'prior tensors recorded but no prior section in the manifest' });
        continue;
      }
      const lines = await guarded(rec.label(isText ? 'text -> image' : 'image variation'), IMAGE_TOL, () => (isText ? textToImage(rec) : variation(rec)));
      results.push(...lines, rec.coverage());
    }
  } catch (e) {
    results.push({ name: 'pipeline load', maxAbsErr: NaN, tol: TOL, pass: false, detail: e instanceof Error ? e.message : String(e) });
  } finally {
    for (const net of st.priorNets.values()) net.dispose();
    await st.decoders.dispose();
    st.clipWeights?.dispose();
  }
  return results;
};
