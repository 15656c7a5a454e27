// Prior checks vs prior/*: noise-schedule buffers, DiffusionPriorNetwork forward variants, one
// DiffusionPrior.p_sample step, and full DiffusionPrior.sample runs (DDIM and DDPM, with reranking)
// replaying the recorded noise. Everything about the fixture set (T, S, D, batch, samples per text,
// draws, step counts, which config a run used) is read from the files and the manifest.
//
// Tolerance: atol 1e-4 + rtol 1e-4 (f32; a 2-layer transformer per step and up to a few multiplies by
// schedule coefficients, against upstream CPU float32). Integers (timesteps, top_index, draw counts)
// must match exactly.
import { Tensor, type SafetensorsFile } from '@dalle2/tensor';
import {
  ClipModel, DiffusionPriorNetwork, OpenAIClipAdapter, loadClipWeights, parsePriorNetConfig, type PriorNetConfig, type Weights,
} from '@dalle2/models';
import {
  DiffusionPrior, priorForwardWithCondScale, parseDiffusionPriorConfig, repeatTokenRows, type DiffusionPriorConfig, type PriorSampleResult,
  type PriorStepInfo, type PriorTextCond, type PriorTextEncoder, type PriorTextInput,
} from '../pipelines/index.js';
import { NoiseSchedule, ReplayNoise, SCHEDULE_BUFFER_NAMES, ddimTimePairs, drawNoise } from '@dalle2/sampler';
import { compare, guarded, EXACT, TOL, type CheckResult, type Suite, type SuiteContext, type Tolerance } from './check.js';

const DIR = 'prior/';
const WEIGHTS = 'prior/weights.safetensors';
const MAIN_CONFIG = 'prior/config.json';
const CLIP_WEIGHTS = 'clip/weights.safetensors';

/** Manifest metadata of one fixture file (the fields this suite reads). */
interface FileMeta {
  kind: string;
  description?: string;
  tensors?: Record<string, { dtype: string; shape: number[] }>;
  timesteps?: number;
  schedule?: string;
  num_samples_per_batch?: number;
  cond_scale?: number;
  cond_scale_probe?: number;
  timestep_sequence?: number[];
  ddim_eta?: number | null;
  noise_log?: { name: string }[];
}

/** A prior config file, parsed both ways. */
export interface PriorVariant {
  rel: string;
  net: PriorNetConfig;
  prior: DiffusionPriorConfig;
}

interface State {
  ctx: SuiteContext;
  variants: PriorVariant[];
  nets: Map<string, DiffusionPriorNetwork>;
  adapter?: PriorTextEncoder;
}

function meta(ctx: SuiteContext, rel: string): FileMeta {
  return ctx.fx.manifest.files[rel] as unknown as FileMeta;
}

/** Files of the prior/ folder in the manifest, by suffix. */
function priorFiles(ctx: SuiteContext, re: RegExp): string[] {
  return Object.keys(ctx.fx.manifest.files).filter((k) => k.startsWith(DIR) && re.test(k.slice(DIR.length))).sort();
}

/** File name without folder and extension. */
const stem = (rel: string) => rel.replace(/^.*\//, '').replace(/\.[^.]+$/, '');

/**
 * The net for a variant, over prior/weights.safetensors (variants with an identical net section share
 * one in `nets`, which the caller disposes).
 */
export async function netFor(ctx: SuiteContext, nets: Map<string, DiffusionPriorNetwork>, v: PriorVariant): Promise<DiffusionPriorNetwork> {
  const key = JSON.stringify(v.net);
  let net = nets.get(key);
  if (!net) {
    net = await DiffusionPriorNetwork.fromSafetensors(ctx.rt, ctx.fx.path(WEIGHTS), v.net);
    nets.set(key, net);
  }
  return net;
}

async function priorFor(st: State, v: PriorVariant, warn?: (m: string) => void): Promise<DiffusionPrior> {
  return new DiffusionPrior({ net: await netFor(st.ctx, st.nets, v), config: v.prior, clip: st.adapter, warn });
}

/** The timesteps a variant's default sampling visits (DDIM: the pairs' first times; DDPM: T-1 .. 0). */
export function defaultSequence(v: PriorVariant): number[] {
  const T = v.prior.timesteps;
  const S = v.prior.sampleTimesteps ?? T;
  return S < T ? ddimTimePairs(T, S).map(([t]) => t) : Array.from({ length: T }, (_, i) => T - 1 - i);
}

async function upload(st: State, rel: string, name: string): Promise<Tensor> {
  const { fx, rt } = st.ctx;
  return Tensor.from(rt, await fx.f32(rel, name), await fx.shape(rel, name));
}

async function readCheck(name: string, t: Tensor, expected: Float32Array, tol = TOL): Promise<CheckResult> {
  const got = await t.toFloat32();
  t.dispose();
  return compare(name, got, expected, tol);
}

// ------------------------------------------------------------------------------------------ schedules

/** Every file with noise_scheduler.* buffers vs NoiseSchedule.create of the variant with the same T. */
async function scheduleChecks(st: State): Promise<CheckResult[]> {
  const out: CheckResult[] = [];
  for (const rel of priorFiles(st.ctx, /\.safetensors$/)) {
    const names = Object.keys(meta(st.ctx, rel).tensors ?? {}).filter((k) => k.startsWith('noise_scheduler.'));
    if (!names.length) continue;
    const T = (await st.ctx.fx.shape(rel, names[0]))[0];
    const v = st.variants.find((c) => c.prior.timesteps === T);
    if (!v) {
      out.push({ name: `${stem(rel)} schedule`, maxAbsErr: NaN, tol: TOL, pass: false, detail: `no prior config has timesteps ${T}` });
      continue;
    }
    const sched = NoiseSchedule.create(v.prior.betaSchedule, T);
    for (const buf of SCHEDULE_BUFFER_NAMES) {
      const key = `noise_scheduler.${buf}`;
      if (!names.includes(key)) {
        out.push({ name: `${stem(rel)} ${key}`, maxAbsErr: NaN, tol: TOL, pass: false, detail: 'buffer missing from the fixture' });
        continue;
      }
      out.push(compare(`${stem(rel)} ${key} (${v.prior.betaSchedule}, T=${T})`, sched.f32[buf], await st.ctx.fx.f32(rel, key), TOL));
    }
  }
  return out;
}

// ------------------------------------------------------------------------------------------ forward

async function forwardChecks(st: State, rel: string): Promise<CheckResult[]> {
  const { fx } = st.ctx;
  const m = meta(st.ctx, rel);
  const v = st.variants.find((c) => c.rel === MAIN_CONFIG) ?? st.variants[0];
  const net = await netFor(st.ctx, st.nets, v);
  const timesteps = Array.from(await fx.i32(rel, 'timesteps'));
  const imageEmbed = await upload(st, rel, 'image_embed');
  const textEmbed = await upload(st, rel, 'text_embed');
  const textEncodings = await upload(st, rel, 'text_encodings');
  const base = { imageEmbed, timesteps, textEmbed, textEncodings };
  const runs: Record<string, () => Promise<Tensor>> = {
    out: async () => net.forward(base),
    out_cond_scale: async () => {
      if (typeof m.cond_scale_probe !== 'number') throw new Error(`${rel}: manifest gives no cond_scale_probe`);
      return priorForwardWithCondScale(net, base, m.cond_scale_probe);
    },
    out_cond_drop_1: async () => net.forward({ ...base, condDropProb: 1 }),
    out_short: async () => {
      const short = await upload(st, rel, 'text_encodings_short');
      try {
        return net.forward({ ...base, textEncodings: short });
      } finally {
        short.dispose();
      }
    },
    out_no_text_encodings: async () => net.forward({ imageEmbed, timesteps, textEmbed }),
  };
  const out: CheckResult[] = [];
  try {
    for (const name of Object.keys(m.tensors ?? {}).filter((k) => k.startsWith('out'))) {
      const label = `forward ${name}`;
      const run = runs[name];
      if (!run) {
        out.push({ name: label, maxAbsErr: NaN, tol: TOL, pass: false, detail: 'no check implemented for this recorded output' });
        continue;
      }
      out.push(...(await guarded(label, TOL, async () => readCheck(label, await run(), await fx.f32(rel, name)))));
    }
  } finally {
    for (const t of [imageEmbed, textEmbed, textEncodings]) t.dispose();
  }
  return out;
}

// ------------------------------------------------------------------------------------------ p_sample

async function pSampleChecks(st: State, rel: string): Promise<CheckResult[]> {
  const { fx, rt } = st.ctx;
  const m = meta(st.ctx, rel);
  const v = st.variants.find((c) => c.prior.timesteps === m.timesteps && (!m.schedule || c.prior.betaSchedule === m.schedule));
  if (!v) throw new Error(`${rel}: no prior config with timesteps ${m.timesteps} and schedule ${m.schedule}`);
  const prior = await priorFor(st, v);
  const t = Array.from(await fx.i32(rel, 't'));
  const x = await upload(st, rel, 'x');
  const cond: PriorTextCond = { textEmbed: await upload(st, rel, 'text_embed'), textEncodings: await upload(st, rel, 'text_encodings') };
  const noise = await ReplayNoise.fromSafetensors(await fx.file(rel));
  const out: CheckResult[] = [];
  try {
    const mv = prior.pMeanVariance(x, t, cond);
    out.push(await readCheck('p_sample model_mean', mv.mean, await fx.f32(rel, 'model_mean')));
    out.push(compare('p_sample posterior_variance', mv.variance, await fx.f32(rel, 'posterior_variance'), TOL));
    out.push(compare('p_sample posterior_log_variance', mv.logVariance, await fx.f32(rel, 'posterior_log_variance'), TOL));
    const n = drawNoise(rt, noise, x.shape);
    try {
      out.push(await readCheck('p_sample out', prior.pSample(x, t, cond, n), await fx.f32(rel, 'out')));
    } finally {
      n.dispose();
    }
    out.push(compare('p_sample noise draws used', [noise.consumed], [noise.consumed + noise.remaining], EXACT));
  } finally {
    for (const tt of [x, cond.textEmbed, cond.textEncodings!]) tt.dispose();
  }
  return out;
}

// ------------------------------------------------------------------------------------------ sample

interface StepTrace {
  x: Float32Array[];
  pred: Float32Array[];
  t: number[][];
}

function concatF32(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Rows 0, r, 2r, ... of a recorded [(b r), ...] tensor (the per-text rows) and whether the repeats agree. */
function deRepeat(data: Float32Array, rows: number, r: number): { perText: Float32Array; maxRepeatDiff: number } {
  const w = data.length / rows;
  const b = rows / r;
  const perText = new Float32Array(b * w);
  let maxRepeatDiff = 0;
  for (let i = 0; i < b; i++) {
    perText.set(data.subarray(i * r * w, i * r * w + w), i * w);
    for (let k = 1; k < r; k++) {
      for (let j = 0; j < w; j++) maxRepeatDiff = Math.max(maxRepeatDiff, Math.abs(data[(i * r + k) * w + j] - data[i * r * w + j]));
    }
  }
  return { perText, maxRepeatDiff };
}

async function runSample(prior: DiffusionPrior, text: PriorTextInput, file: SafetensorsFile, m: FileMeta, r: number, trace?: StepTrace): Promise<PriorSampleResult> {
  const noise = await ReplayNoise.fromSafetensors(file);
  const onStep = trace
    ? async (s: PriorStepInfo) => {
        trace.x.push(await s.x.toFloat32());
        trace.pred.push(await s.pred.toFloat32());
        trace.t.push(new Array<number>(s.x.shape[0]).fill(s.time));
      }
    : undefined;
  const res = await prior.sampleDetailed(text, { numSamplesPerBatch: r, condScale: m.cond_scale ?? 1, noise, onStep });
  if (noise.remaining !== 0) {
    for (const t of [res.imageEmbed, res.loopOut, res.candidates]) t.dispose();
    throw new Error(`${noise.remaining} of ${noise.consumed + noise.remaining} recorded draws left unused (draw order differs from upstream)`);
  }
  return res;
}

async function sampleChecks(st: State, rel: string, name = stem(rel)): Promise<CheckResult[]> {
  const { fx, rt } = st.ctx;
  const m = meta(st.ctx, rel);
  const file = await fx.file(rel);
  const r = m.num_samples_per_batch;
  if (!Number.isInteger(r) || r! < 1) throw new Error(`${rel}: manifest gives no num_samples_per_batch`);
  const R = r!;
  const stepIdx = file
    .keys()
    .map((k) => /^step_(\d+)_x$/.exec(k)?.[1])
    .filter((s): s is string => s !== undefined)
    .sort();
  const recordedT = await Promise.all(stepIdx.map(async (i) => Array.from(await fx.i32(rel, `step_${i}_t`))));
  const sequence = m.timestep_sequence ?? recordedT.map((t) => t[0]);
  // the config this run used: the one whose default sampling visits the recorded timesteps
  const v = st.variants.find((c) => JSON.stringify(defaultSequence(c)) === JSON.stringify(sequence));
  if (!v) throw new Error(`${rel}: no prior config samples the timesteps [${sequence.join(', ')}]`);
  if (typeof m.ddim_eta === 'number' && m.ddim_eta !== 1) throw new Error(`${rel}: recorded with ddim_eta ${m.ddim_eta}; DiffusionPrior.sample uses upstream's fixed 1.0`);
  const prior = await priorFor(st, v);
  const out: CheckResult[] = [];
  const label = (s: string) => `${name} ${s}`;

  // 1) text conditioning as recorded (clip_text_* are the repeated [(b r), ...] rows): de-repeat, let sample() repeat
  const embShape = await fx.shape(rel, 'clip_text_embed');
  const encShape = await fx.shape(rel, 'clip_text_encodings');
  const rows = embShape[0];
  const emb = deRepeat(await fx.f32(rel, 'clip_text_embed'), rows, R);
  const enc = deRepeat(await fx.f32(rel, 'clip_text_encodings'), rows, R);
  out.push(compare(label('recorded text rows repeat per text'), [Math.max(emb.maxRepeatDiff, enc.maxRepeatDiff)], [0], EXACT));
  const B = rows / R;
  const cond: PriorTextCond = {
    textEmbed: Tensor.from(rt, emb.perText, [B, ...embShape.slice(1)]),
    textEncodings: Tensor.from(rt, enc.perText, [B, ...encShape.slice(1)]),
  };
  const trace: StepTrace = { x: [], pred: [], t: [] };
  let res: PriorSampleResult;
  try {
    res = await runSample(prior, cond, file, m, R, trace);
  } finally {
    cond.textEmbed.dispose();
    cond.textEncodings!.dispose();
  }
  out.push(compare(label(`steps (${trace.t.length} run, ${stepIdx.length} recorded)`), [trace.t.length], [stepIdx.length], EXACT));
  out.push(compare(label('step t (all steps)'), trace.t.flat(), recordedT.flat(), EXACT));
  const recX = await Promise.all(stepIdx.map((i) => fx.f32(rel, `step_${i}_x`)));
  const recPred = await Promise.all(stepIdx.map((i) => fx.f32(rel, `step_${i}_pred`)));
  const n = Math.min(trace.x.length, stepIdx.length);
  out.push(compare(label('step x_t (all steps)'), concatF32(trace.x.slice(0, n)), concatF32(recX.slice(0, n)), TOL));
  out.push(compare(label('step pred (all steps)'), concatF32(trace.pred.slice(0, n)), concatF32(recPred.slice(0, n)), TOL));
  out.push(await readCheck(label('p_sample_loop_out'), res.loopOut, await fx.f32(rel, 'p_sample_loop_out')));
  out.push(await readCheck(label('candidates'), res.candidates, await fx.f32(rel, 'candidates')));
  out.push(compare(label('similarities'), res.similarities, await fx.f32(rel, 'similarities'), TOL));
  out.push(compare(label('top_index'), res.topIndex, await fx.i32(rel, 'top_index'), EXACT));
  out.push(await readCheck(label('image_embed'), res.imageEmbed, await fx.f32(rel, 'image_embed')));

  // 2) from the recorded tokens through our CLIP adapter (upstream's path: repeat tokens, embed, sample)
  if (st.adapter && file.has('text_tokens')) {
    const [b, L] = await fx.shape(rel, 'text_tokens');
    const tokens = await fx.i32(rel, 'text_tokens');
    out.push(
      ...(await guarded(label('from tokens (our CLIP)'), TOL, async () => {
        const e = st.adapter!.embedText(repeatTokenRows(tokens, b, R), b * R);
        const lines = [
          await readCheck(label('clip_text_embed (our CLIP)'), e.textEmbed, await fx.f32(rel, 'clip_text_embed')),
          await readCheck(label('clip_text_encodings (our CLIP)'), e.textEncodings, await fx.f32(rel, 'clip_text_encodings')),
        ];
        const tr = await runSample(prior, { tokens, batch: b }, file, m, R);
        tr.loopOut.dispose();
        tr.candidates.dispose();
        lines.push(await readCheck(label(`image_embed (from ${b}x${L} tokens via our CLIP)`), tr.imageEmbed, await fx.f32(rel, 'image_embed')));
        return lines;
      })),
    );
  }
  return out;
}

// ------------------------------------------------------------------------------------------ suite

/** Every prior/config*.json of the fixture set, parsed. */
async function priorVariants(ctx: SuiteContext): Promise<PriorVariant[]> {
  const variants: PriorVariant[] = [];
  for (const rel of priorFiles(ctx, /^config.*\.json$/)) {
    const json = await ctx.fx.json<unknown>(rel);
    variants.push({ rel, net: parsePriorNetConfig(json, rel), prior: parseDiffusionPriorConfig(json, rel) });
  }
  if (!variants.length) throw new Error('no prior/config*.json in the manifest');
  return variants;
}

/**
 * A recorded DiffusionPrior.sample run (layout of prior/sample_*) of this set's prior with `clip` as
 * prior.clip: from the recorded text conditioning, and from the recorded tokens through `clip`.
 */
export async function priorSampleChecks(ctx: SuiteContext, rel: string, clip: PriorTextEncoder, name: string): Promise<CheckResult[]> {
  const st: State = { ctx, variants: await priorVariants(ctx), nets: new Map(), adapter: clip };
  try {
    return await sampleChecks(st, rel, name);
  } finally {
    for (const net of st.nets.values()) net.dispose();
  }
}

export const priorSuite: Suite = async (ctx) => {
  const results: CheckResult[] = [];
  const st: State = { ctx, variants: [], nets: new Map() };
  let clipWeights: Weights | undefined;
  try {
    st.variants = await priorVariants(ctx);
    results.push(...(await guarded('prior schedules', TOL, () => scheduleChecks(st))));
    if (ctx.fx.has(CLIP_WEIGHTS)) {
      clipWeights = await loadClipWeights(ctx.rt, ctx.fx.path(CLIP_WEIGHTS));
      st.adapter = new OpenAIClipAdapter(new ClipModel(clipWeights));
    }
    const handled = new Set<string>([WEIGHTS, ...st.variants.map((v) => v.rel)]);
    for (const rel of priorFiles(ctx, /\.safetensors$/)) {
      const s = stem(rel);
      if (rel === WEIGHTS) continue;
      if (s === 'forward') results.push(...(await guarded('forward', TOL, () => forwardChecks(st, rel))));
      else if (s === 'p_sample') results.push(...(await guarded('p_sample', TOL, () => pSampleChecks(st, rel))));
      else if (s.startsWith('sample_')) results.push(...(await guarded(s, TOL, () => sampleChecks(st, rel))));
      else if (Object.keys(meta(ctx, rel).tensors ?? {}).every((k) => k.startsWith('noise_scheduler.'))) {
        // schedule-only files were checked above
      } else {
        results.push({ name: `${s}: no check for this fixture`, maxAbsErr: NaN, tol: TOL, pass: false });
        continue;
      }
      handled.add(rel);
    }
    for (const rel of priorFiles(ctx, /.*/)) {
      if (!handled.has(rel)) results.push({ name: `${stem(rel)}: no check for this fixture`, maxAbsErr: NaN, tol: TOL, pass: false });
    }
  } catch (e) {
    results.push({ name: 'prior load', maxAbsErr: NaN, tol: TOL, pass: false, detail: e instanceof Error ? e.message : String(e) });
  } finally {
    for (const net of st.nets.values()) net.dispose();
    clipWeights?.dispose();
  }
  return results;
};
