// Decoder checks: schedules, unet forwards, one p_sample step per unet, and full Decoder.sample runs
// (DDIM, DDPM, RePaint inpainting) replaying the recorded draws, vs decoder/*.safetensors and PNGs.
// Which config a recording used, its inputs, guidance scales, resample count, sizes and draw counts
// all come from the fixture files and the manifest; nothing about the fixture set is assumed here.
import { Tensor, type Runtime } from '@dalle2/tensor';
import { Decoder, unetForwardWithCondScale, parseDecoderConfig, type DecoderConfig, type DecoderStepInfo } from '../pipelines/index.js';
import { ReplayNoise, SCHEDULE_BUFFER_NAMES } from '@dalle2/sampler';
import { decodeImage } from '../image/index.js';
import { compare, guarded, EXACT, TOL, IMAGE_TOL, LSB, type CheckResult, type FixtureSet, type Suite, type SuiteContext, type Tolerance } from './check.js';

const WEIGHTS = 'decoder/weights.safetensors';
const UNET_FORWARD = 'decoder/unet_forward.safetensors';
const P_SAMPLE = 'decoder/p_sample.safetensors';
/** Full-sample recordings (those present are checked). */
const SAMPLE_RUNS = ['decoder/sample_ddim.safetensors', 'decoder/sample_ddpm.safetensors', 'decoder/inpaint_ddpm.safetensors'];

/** The manifest fields that tell which decoder config a recording was made with (per-unet paths, T, schedules). */
export interface DecoderRunMeta {
  per_unet?: { sample_timesteps?: number | null; learned_variance?: boolean; shape?: number[] }[];
  timesteps?: number;
  schedules?: string[];
}

/** The manifest fields of a decoder recording that we read. */
interface RunEntry extends DecoderRunMeta {
  description?: string;
  cond_scale?: number[];
  inpaint_resample_times?: number;
  tensors?: Record<string, { meaning?: string; shape?: number[] }>;
}

export interface LoadedConfig {
  rel: string;
  config: DecoderConfig;
}

/** Decoders per config file (decoder/config*.json), built on first use and disposed by the suite. */
export class Decoders {
  private readonly cache = new Map<string, Promise<Decoder>>();
  configs: LoadedConfig[] = [];

  constructor(private readonly ctx: SuiteContext) {}

  async init(): Promise<void> {
    const rels = Object.keys(this.ctx.fx.manifest.files).filter((k) => /^decoder\/config[^/]*\.json$/.test(k)).sort();
    if (!rels.length) throw new Error('no decoder/config*.json in the manifest');
    for (const rel of rels) this.configs.push({ rel, config: parseDecoderConfig(await this.ctx.fx.json(rel), rel) });
  }

  get(rel: string): Promise<Decoder> {
    let d = this.cache.get(rel);
    if (!d) {
      const cfg = this.configs.find((c) => c.rel === rel);
      if (!cfg) throw new Error(`unknown decoder config ${rel}`);
      d = Decoder.fromSafetensors(this.ctx.rt, this.ctx.fx.path(WEIGHTS), cfg.config);
      this.cache.set(rel, d);
    }
    return d;
  }

  /** The config a recording was made with, from its manifest entry (per-unet paths, T, schedules). */
  pick(rel: string, entry: DecoderRunMeta): LoadedConfig {
    const fits = this.configs.filter(({ config: c }) => {
      if (entry.timesteps !== undefined && c.timesteps !== entry.timesteps) return false;
      if (entry.schedules && JSON.stringify(entry.schedules) !== JSON.stringify(c.betaSchedules)) return false;
      if (entry.per_unet) {
        if (entry.per_unet.length !== c.unets.length) return false;
        for (const [i, u] of entry.per_unet.entries()) {
          if (u.sample_timesteps !== undefined && (u.sample_timesteps ?? null) !== c.sampleTimesteps[i]) return false;
          if (u.learned_variance !== undefined && u.learned_variance !== c.learnedVariance[i]) return false;
          if (u.shape && u.shape[u.shape.length - 1] !== c.imageSizes[i]) return false;
        }
      }
      return true;
    });
    if (!fits.length) throw new Error(`${rel}: no decoder config in the fixture set matches its manifest entry`);
    return fits[0];
  }

  async dispose(): Promise<void> {
    for (const d of this.cache.values()) (await d.catch(() => undefined))?.dispose();
    this.cache.clear();
  }
}

function entryOf(fx: FixtureSet, rel: string): RunEntry {
  return fx.manifest.files[rel] as unknown as RunEntry;
}

async function upload(rt: Runtime, fx: FixtureSet, rel: string, name: string): Promise<Tensor> {
  return Tensor.from(rt, await fx.f32(rel, name), await fx.shape(rel, name));
}

/** `cond_scale=<x>` in a tensor's manifest meaning. */
function condScaleIn(entry: RunEntry, name: string): number {
  const m = /cond_scale=([0-9.]+)/.exec(entry.tensors?.[name]?.meaning ?? '');
  if (!m) throw new Error(`manifest: no cond_scale in the meaning of ${name}`);
  return Number(m[1]);
}

/** torchvision ToPILImage: (x * 255).byte(), truncating in float32. */
function toUint8(x: Float32Array): Uint8Array {
  return Uint8Array.from(x, (v) => Math.min(255, Math.max(0, Math.trunc(Math.fround(v * 255)))));
}

// ------------------------------------------------------------------ checks

async function scheduleChecks(ctx: SuiteContext, decs: Decoders): Promise<CheckResult[]> {
  const { fx } = ctx;
  const out: CheckResult[] = [];
  const stFiles = Object.entries(fx.manifest.files).filter(([k, v]) => k.startsWith('decoder/') && v.kind === 'safetensors' && v.tensors?.['noise_schedulers.0.betas']);
  for (const { rel, config } of decs.configs) {
    const match = stFiles.find(([, v]) => v.tensors!['noise_schedulers.0.betas'].shape[0] === config.timesteps);
    if (!match) continue;
    const dec = new Decoder({ unets: config.unets.map(() => () => Promise.reject(new Error('not loaded'))), config });
    const got: number[] = [];
    const want: number[] = [];
    for (let i = 0; i < config.unets.length; i++) {
      for (const name of SCHEDULE_BUFFER_NAMES) {
        got.push(...dec.schedules[i].f32[name]);
        want.push(...(await fx.f32(match[0], `noise_schedulers.${i}.${name}`)));
      }
    }
    out.push(compare(`decoder schedules ${rel.replace(/^decoder\//, '')}`, got, want, TOL));
  }
  if (!out.length) throw new Error('no noise_schedulers.* buffers matching a decoder config');
  return out;
}

async function unetForwardChecks(ctx: SuiteContext, decs: Decoders): Promise<CheckResult[]> {
  const { rt, fx } = ctx;
  if (!fx.has(UNET_FORWARD)) return [];
  const entry = entryOf(fx, UNET_FORWARD);
  const file = await fx.file(UNET_FORWARD);
  const dec = await decs.get(decs.configs[0].rel);
  const out: CheckResult[] = [];
  for (let i = 0; file.has(`unet${i}.x`); i++) {
    const p = `unet${i}.`;
    const unet = await dec.unet(i);
    const opt = async (name: string) => (file.has(p + name) ? upload(rt, fx, UNET_FORWARD, p + name) : undefined);
    const x = await upload(rt, fx, UNET_FORWARD, `${p}x`);
    const args = {
      x,
      timesteps: await fx.i32(UNET_FORWARD, `${p}t`),
      imageEmbed: await opt('image_embed'),
      textEncodings: await opt('text_encodings'),
      lowresCondImg: await opt('lowres_cond_img'),
    };
    const check = async (name: string, run: () => Tensor) => {
      if (!file.has(p + name)) return;
      const y = run();
      out.push(compare(`decoder unet${i} ${name}`, await y.toFloat32(), await fx.f32(UNET_FORWARD, p + name), TOL));
      y.dispose();
    };
    try {
      await check('out', () => unet.forward(args));
      await check('out_null', () => unet.forward({ ...args, imageCondDrop: true, textCondDrop: true }));
      await check('out_cond_scale', () => unetForwardWithCondScale(unet, args, condScaleIn(entry, `${p}out_cond_scale`)));
      const short = await opt('text_encodings_short');
      if (short) {
        await check('out_short_text', () => unet.forward({ ...args, textEncodings: short }));
        short.dispose();
      }
    } finally {
      for (const t of [args.x, args.imageEmbed, args.textEncodings, args.lowresCondImg]) t?.dispose();
    }
  }
  return out;
}

async function pSampleChecks(ctx: SuiteContext, decs: Decoders): Promise<CheckResult[]> {
  const { rt, fx } = ctx;
  const entry = entryOf(fx, P_SAMPLE);
  const { rel } = decs.pick(P_SAMPLE, entry);
  const dec = await decs.get(rel);
  const file = await fx.file(P_SAMPLE);
  const out: CheckResult[] = [];
  for (let i = 0; file.has(`unet${i}.x`); i++) {
    const p = `unet${i}.`;
    await dec.unet(i);
    const opt = async (name: string) => (file.has(p + name) ? upload(rt, fx, P_SAMPLE, p + name) : undefined);
    const x = await upload(rt, fx, P_SAMPLE, `${p}x`);
    const a = {
      x,
      t: Array.from(await fx.i32(P_SAMPLE, `${p}t`)),
      imageEmbed: await opt('image_embed'),
      textEncodings: await opt('text_encodings'),
      lowresCondImg: await opt('lowres_cond_img'),
      condScale: condScaleIn(entry, `${p}out`),
    };
    const noise = await upload(rt, fx, P_SAMPLE, `${p}noise_000`);
    try {
      const mv = dec.pMeanVariance(i, a);
      out.push(compare(`p_sample unet${i} model_mean`, await mv.mean.toFloat32(), await fx.f32(P_SAMPLE, `${p}model_mean`), TOL));
      const lv = mv.logVariance instanceof Tensor ? await mv.logVariance.toFloat32() : mv.logVariance;
      out.push(compare(`p_sample unet${i} posterior_log_variance`, lv, await fx.f32(P_SAMPLE, `${p}posterior_log_variance`), TOL));
      for (const t of [mv.mean, mv.modelOutput, mv.logVariance]) if (t instanceof Tensor) t.dispose();
      const y = dec.pSample(i, { ...a, noise });
      out.push(compare(`p_sample unet${i} out`, await y.toFloat32(), await fx.f32(P_SAMPLE, `${p}out`), TOL));
      y.dispose();
    } finally {
      for (const t of [x, a.imageEmbed, a.textEncodings, a.lowresCondImg, noise]) t?.dispose();
    }
  }
  return out;
}

/**
 * The conditioning of a recording: its own image_embed / text_encodings, else the CLIP fixtures named in
 * its description ("prompts [i, j]": rows of the adapter text encodings, with the adapter image embeds),
 * else the recorded unet inputs of unet_forward (the decoder fixtures' standard conditioning).
 */
async function runInputs(ctx: SuiteContext, rel: string, entry: RunEntry, batch: number): Promise<{ imageEmbed: Tensor; textEncodings?: Tensor }> {
  const { rt, fx } = ctx;
  const file = await fx.file(rel);
  if (file.has('image_embed')) {
    return { imageEmbed: await upload(rt, fx, rel, 'image_embed'), textEncodings: file.has('text_encodings') ? await upload(rt, fx, rel, 'text_encodings') : undefined };
  }
  const prompts = /prompts \[([\d,\s]+)\]/.exec(entry.description ?? '');
  const TEXT = 'clip/text.safetensors';
  const IMAGE = 'clip/image.safetensors';
  if (prompts && fx.has(TEXT) && fx.has(IMAGE)) {
    const rows = prompts[1].split(',').map((s) => Number(s.trim()));
    const [, L, D] = await fx.shape(TEXT, 'adapter_text_encodings');
    const all = await fx.f32(TEXT, 'adapter_text_encodings');
    const text = new Float32Array(rows.length * L * D);
    rows.forEach((r, k) => text.set(all.subarray(r * L * D, (r + 1) * L * D), k * L * D));
    const embShape = await fx.shape(IMAGE, 'adapter_image_embed');
    if (rows.length === batch && embShape[0] === batch) {
      return { imageEmbed: await upload(rt, fx, IMAGE, 'adapter_image_embed'), textEncodings: Tensor.from(rt, text, [rows.length, L, D]) };
    }
  }
  const shape = await fx.shape(UNET_FORWARD, 'unet0.image_embed');
  if (shape[0] !== batch) throw new Error(`${rel}: cannot tell which image embeds it was sampled with`);
  const fwd = await fx.file(UNET_FORWARD);
  return {
    imageEmbed: await upload(rt, fx, UNET_FORWARD, 'unet0.image_embed'),
    textEncodings: fwd.has('unet0.text_encodings') ? await upload(rt, fx, UNET_FORWARD, 'unet0.text_encodings') : undefined,
  };
}

/** Collects got/want pairs and reports them as one line. */
class Acc {
  got: number[] = [];
  want: number[] = [];
  add(got: ArrayLike<number>, want: ArrayLike<number>): void {
    for (let i = 0; i < want.length; i++) {
      this.got.push(got[i] ?? NaN);
      this.want.push(want[i]);
    }
    for (let i = want.length; i < got.length; i++) {
      this.got.push(got[i]);
      this.want.push(NaN);
    }
  }
}

/** A loop call's timesteps, as onStep reported them. */
interface StepTimes {
  time: number;
  timeNext: number;
}

function perUnetScale(entry: RunEntry, unet: number): number {
  return entry.cond_scale?.[unet] ?? 1;
}

/**
 * Per-step checks with the recording's own inputs (teacher forcing), so nothing compounds: the unet on
 * the recorded x_t (with the recorded low-res conditioning), and the loop update from the recorded x_t,
 * unet output and draw to the next recorded x_t (the last one to the recorded unet output).
 */
async function teacherForced(
  ctx: SuiteContext,
  dec: Decoder,
  rel: string,
  name: string,
  index: number,
  calls: StepTimes[],
  consumed: number[],
  cond: { imageEmbed: Tensor; textEncodings?: Tensor; condScale: number; sampleSteps: number | null },
): Promise<CheckResult[]> {
  const { rt, fx } = ctx;
  const file = await fx.file(rel);
  const unet = await dec.unet(index);
  const ddim = cond.sampleSteps !== null && cond.sampleSteps < dec.schedules[index].numTimesteps;
  const draws = file.keys().filter((k) => /^noise_\d+$/.test(k)).sort((a, b) => Number(a.slice(6)) - Number(b.slice(6)));
  const pad3 = (k: number) => String(k).padStart(3, '0');
  const key = (k: number, what: string) => `unet${index}.step_${pad3(k)}_${what}`;
  const outAcc = new Acc();
  const nextAcc = new Acc();
  let lowres: Tensor | undefined;
  if (file.has(`unet${index}.lowres_cond_img`)) {
    const l = await upload(rt, fx, rel, `unet${index}.lowres_cond_img`);
    lowres = dec.normalizeImage(l);
    l.dispose();
  }
  try {
    for (const [k, call] of calls.entries()) {
      const x = await upload(rt, fx, rel, key(k, 'x'));
      const rec = await upload(rt, fx, rel, key(k, 'out'));
      const t = await fx.i32(rel, key(k, 't'));
      const owned = [x, rec];
      try {
        const out = unetForwardWithCondScale(unet, { x, timesteps: t, imageEmbed: cond.imageEmbed, textEncodings: cond.textEncodings, lowresCondImg: lowres }, cond.condScale);
        owned.push(out);
        outAcc.add(await out.toFloat32(), await fx.f32(rel, key(k, 'out')));
        const drew = !ddim || call.timeNext > 0;
        const noise = drew ? await upload(rt, fx, rel, draws[consumed[k] - 1]) : undefined;
        if (noise) owned.push(noise);
        const next = dec.loopStep(index, { x, time: call.time, timeNext: call.timeNext, modelOutput: rec, noise, ddim });
        owned.push(next);
        if (file.has(key(k + 1, 'x'))) nextAcc.add(await next.toFloat32(), await fx.f32(rel, key(k + 1, 'x')));
        else if (k === calls.length - 1 && file.has(`unet${index}.output`)) {
          const img = dec.unnormalizeImage(next);
          owned.push(img);
          nextAcc.add(await img.toFloat32(), await fx.f32(rel, `unet${index}.output`));
        }
      } finally {
        for (const o of owned) o.dispose();
      }
    }
  } finally {
    lowres?.dispose();
  }
  return [
    compare(`${name} unet${index} step unet out (forced)`, outAcc.got, outAcc.want, TOL),
    compare(`${name} unet${index} step update (forced)`, nextAcc.got, nextAcc.want, TOL),
  ];
}

async function sampleRunChecks(ctx: SuiteContext, decs: Decoders, rel: string): Promise<CheckResult[]> {
  const { rt, fx } = ctx;
  const name = rel.replace(/^decoder\//, '').replace(/\.safetensors$/, '');
  const entry = entryOf(fx, rel);
  const file = await fx.file(rel);
  const { rel: cfgRel, config } = decs.pick(rel, entry);
  const dec = await decs.get(cfgRel);
  const imageShape = await fx.shape(rel, 'image');
  const batch = imageShape[0];
  const noise = await ReplayNoise.fromSafetensors(file);
  const total = noise.remaining;
  const { imageEmbed, textEncodings } = await runInputs(ctx, rel, entry, batch);
  const owned: Tensor[] = [imageEmbed];
  if (textEncodings) owned.push(textEncodings);
  // free run: every call's (time, time_next, draws consumed so far) and its inputs/outputs vs the recording
  const pad3 = (k: number) => String(k).padStart(3, '0');
  const stepKey = (unet: number, k: number, what: string) => `unet${unet}.step_${pad3(k)}_${what}`;
  const trace = new Map<number, { calls: StepTimes[]; consumed: number[]; x: Acc; out: Acc; t: Acc }>();
  const unetOut = new Map<string, Acc>();
  const onStep = async (s: DecoderStepInfo) => {
    let tr = trace.get(s.unet);
    if (!tr) trace.set(s.unet, (tr = { calls: [], consumed: [], x: new Acc(), out: new Acc(), t: new Acc() }));
    tr.calls.push({ time: s.time, timeNext: s.timeNext });
    tr.consumed.push(noise.consumed);
    if (!file.has(stepKey(s.unet, s.call, 'x'))) return;
    tr.t.add(Array<number>(s.x.shape[0]).fill(s.time), await fx.i32(rel, stepKey(s.unet, s.call, 't')));
    tr.x.add(await s.x.toFloat32(), await fx.f32(rel, stepKey(s.unet, s.call, 'x')));
    tr.out.add(await s.modelOutput.toFloat32(), await fx.f32(rel, stepKey(s.unet, s.call, 'out')));
  };
  const record = async (key: string, t: Tensor | undefined) => {
    if (!t || !file.has(key)) return;
    const acc = new Acc();
    acc.add(await t.toFloat32(), await fx.f32(rel, key));
    unetOut.set(key, acc);
  };
  let inpaintImage: Tensor | undefined;
  let inpaintMask: Tensor | undefined;
  if (file.has('inpaint_image')) {
    inpaintImage = await upload(rt, fx, rel, 'inpaint_image');
    inpaintMask = Tensor.from(rt, await fx.i32(rel, 'inpaint_mask'), await fx.shape(rel, 'inpaint_mask'), 'i32');
    owned.push(inpaintImage, inpaintMask);
  }
  const results: CheckResult[] = [];
  try {
    const image = await dec.sample({
      imageEmbed,
      textEncodings,
      condScale: entry.cond_scale ?? 1,
      sampleTimesteps: config.sampleTimesteps,
      inpaintImage,
      inpaintMask,
      inpaintResampleTimes: entry.inpaint_resample_times,
      noise,
      onStep,
      onUnet: async ({ unet, output, lowresCondImg }) => {
        await record(`unet${unet}.output`, output);
        await record(`unet${unet}.lowres_cond_img`, lowresCondImg);
      },
    });
    const img = await image.toFloat32();
    image.dispose();
    results.push(compare(`${name} draws consumed (${total})`, [noise.consumed, noise.remaining], [total, 0], EXACT));
    for (const [unet, tr] of [...trace].sort((a, b) => a[0] - b[0])) {
      let recorded = 0;
      while (file.has(stepKey(unet, recorded, 'x'))) recorded++;
      if (!recorded) continue;
      results.push(compare(`${name} unet${unet} step count`, [tr.calls.length], [recorded], EXACT));
      results.push(compare(`${name} unet${unet} step t`, tr.t.got, tr.t.want, EXACT));
      results.push(
        ...(await teacherForced(ctx, dec, rel, name, unet, tr.calls.slice(0, recorded), tr.consumed, {
          imageEmbed, textEncodings, condScale: perUnetScale(entry, unet), sampleSteps: config.sampleTimesteps[unet],
        })),
      );
      // the free-running chain: upstream's and our rounding differences compound from step to step
      results.push(compare(`${name} unet${unet} x_t trace (free-run)`, tr.x.got, tr.x.want, IMAGE_TOL));
      results.push(compare(`${name} unet${unet} unet out trace (free-run)`, tr.out.got, tr.out.want, IMAGE_TOL));
    }
    for (const [key, acc] of [...unetOut].sort()) results.push(compare(`${name} ${key}`, acc.got, acc.want, IMAGE_TOL));
    results.push(compare(`${name} image`, img, await fx.f32(rel, 'image'), IMAGE_TOL));
    const u8 = toUint8(img);
    if (file.has('image_uint8')) results.push(compare(`${name} image_uint8`, u8, await fx.i32(rel, 'image_uint8'), LSB));
    // PNGs: <name>.png (batch 1) or <name>_<b>.png per batch row
    const [, C, H, W] = imageShape;
    const got: number[] = [];
    const want: number[] = [];
    for (let b = 0; b < batch; b++) {
      const png = [`decoder/${name}_${b}.png`, ...(batch === 1 ? [`decoder/${name}.png`] : [])].find((r) => fx.has(r));
      if (!png) continue;
      const p = await decodeImage(fx.path(png)); // the package's decoder: 8-bit RGB
      if (p.width !== W || p.height !== H || C > 3) throw new Error(`${png}: ${p.width}x${p.height} RGB, expected ${W}x${H}x${C}`);
      for (let y = 0; y < H; y++) {
        for (let x = 0; x < W; x++) {
          for (let ch = 0; ch < C; ch++) {
            got.push(u8[((b * C + ch) * H + y) * W + x]);
            want.push(p.data[(y * W + x) * 3 + ch]);
          }
        }
      }
    }
    if (want.length) results.push(compare(`${name} png`, got, want, LSB));
    if (inpaintImage && inpaintMask) {
      // known pixels come back exactly from the inpaint image
      const known = await inpaintImage.toFloat32();
      const m = await fx.i32(rel, 'inpaint_mask');
      const g: number[] = [];
      const w: number[] = [];
      const hw = H * W;
      for (let b = 0; b < batch; b++) {
        for (let ch = 0; ch < C; ch++) {
          for (let k = 0; k < hw; k++) {
            if (!m[b * hw + k]) continue;
            const idx = (b * C + ch) * hw + k;
            g.push(img[idx]);
            w.push(known[idx]);
          }
        }
      }
      results.push(compare(`${name} known pixels kept`, g, w, IMAGE_TOL));
    }
  } finally {
    for (const t of owned) t.dispose();
  }
  return results;
}

export const decoderSuite: Suite = async (ctx) => {
  const results: CheckResult[] = [];
  const decs = new Decoders(ctx);
  try {
    await decs.init();
  } catch (e) {
    return [{ name: 'decoder config', maxAbsErr: NaN, tol: EXACT, pass: false, detail: e instanceof Error ? e.message : String(e) }];
  }
  try {
    results.push(...(await guarded('decoder schedules', TOL, () => scheduleChecks(ctx, decs))));
    results.push(...(await guarded('decoder unet forward', TOL, () => unetForwardChecks(ctx, decs))));
    if (ctx.fx.has(P_SAMPLE)) results.push(...(await guarded('p_sample', TOL, () => pSampleChecks(ctx, decs))));
    for (const rel of SAMPLE_RUNS) {
      if (!ctx.fx.has(rel)) continue;
      results.push(...(await guarded(rel.replace(/^decoder\//, '').replace(/\.safetensors$/, ''), TOL, () => sampleRunChecks(ctx, decs, rel))));
    }
  } finally {
    await decs.dispose();
  }
  return results;
};
