// x-clip checks vs clip-xclip/*: XClipAdapter (x-clip 0.7.0 under DALLE2-pytorch 1.1.0) built from the
// config's base_model_kwargs and the state dict, every recorded tensor of text/image (intermediates
// included), and the prior DDIM sample that uses it as prior.clip (recorded noise replayed).
// Tolerance: atol 1e-4 + rtol 1e-4 (f32, summation order only); masks and adapter sizes exact.
import { Tensor } from '@dalle2/tensor';
import { Weights, createClipAdapter, XClipAdapter } from '@dalle2/models';
import { guarded, EXACT, TOL, type CheckResult, type Suite, type SuiteContext } from './check.js';
import { FileChecks, clipTextChecks, collector, toUnit } from './fileChecks.js';
import { priorSampleChecks } from './priorSuite.js';

const DIR = 'clip-xclip/';

export interface MakeConfig {
  make: string;
  base_model_kwargs?: Record<string, unknown>;
}

interface AdapterMeta {
  image_size: number;
  image_channels: number;
  max_text_len: number;
  dim_latent: number;
}

/** The adapter's sizes vs the manifest's `adapter` entry of `<dir>config.json`. */
export function adapterSizeCheck(ctx: SuiteContext, dir: string, a: { imageSize: number; imageChannels: number; maxTextLen: number; dimLatent: number }): CheckResult[] {
  const m = (ctx.fx.manifest.files[`${dir}config.json`] as unknown as { adapter?: AdapterMeta }).adapter;
  if (!m) return [{ name: `${dir} adapter sizes`, maxAbsErr: NaN, tol: EXACT, pass: false, detail: 'manifest has no adapter entry' }];
  const got = [a.imageSize, a.imageChannels, a.maxTextLen, a.dimLatent];
  const want = [m.image_size, m.image_channels, m.max_text_len, m.dim_latent];
  const bad = got.some((v, i) => v !== want[i]);
  return [{ name: `${dir.slice(0, -1)} adapter image_size/channels/max_text_len/dim_latent`, maxAbsErr: bad ? Infinity : 0, tol: EXACT, pass: !bad, detail: bad ? `got ${got.join('/')}, expected ${want.join('/')}` : undefined }];
}

/** Weights + adapter of a clip-make folder, built like the manager does (config kwargs, strict). */
export async function loadMake(ctx: SuiteContext, dir: string): Promise<{ weights: Weights; adapter: Awaited<ReturnType<typeof createClipAdapter>> }> {
  const cfg = await ctx.fx.json<MakeConfig>(`${dir}config.json`);
  const weights = await Weights.fromSafetensors(ctx.rt, ctx.fx.path(`${dir}weights.safetensors`));
  try {
    const make = cfg.make === 'x-clip' || cfg.make === 'coca' ? cfg.make : 'openai';
    return { weights, adapter: await createClipAdapter(make, weights, cfg.base_model_kwargs, 'base_model_kwargs', `${dir}config.json`) };
  } catch (e) {
    weights.dispose();
    throw e;
  }
}

function textChecks(ctx: SuiteContext, adapter: XClipAdapter): Promise<CheckResult[]> {
  return clipTextChecks(ctx, `${DIR}text.safetensors`, 'xclip text', (ids, batch, trace) => adapter.embedText(ids, batch, trace));
}

async function imageChecks(ctx: SuiteContext, adapter: XClipAdapter): Promise<CheckResult[]> {
  const fc = await FileChecks.open(ctx, `${DIR}image.safetensors`, 'xclip image');
  for (const prefix of ['', 'big_']) {
    const u8 = await fc.inputI32(`${prefix}pixels_uint8`);
    const unit = toUnit(u8.data);
    await fc.check(`${prefix}pixels`, unit, TOL);
    const pixels = Tensor.from(ctx.rt, unit, u8.shape);
    const col = collector();
    const e = adapter.embedImageDetailed(pixels, col.trace);
    try {
      // The big images are recorded only resized and at the end; the rest of the trace is for the main ones.
      if (prefix) await fc.check('big_resized', col.traced.get('resized')!, TOL);
      else await fc.checkTraced(col.traced, TOL);
      await fc.check(`${prefix}image_embed`, e.imageEmbed, TOL);
      await fc.check(`${prefix}image_encodings`, e.imageEncodings, TOL);
    } finally {
      col.dispose();
      for (const t of [pixels, e.imageEmbed, e.imageEncodings]) t.dispose();
    }
  }
  return [...fc.results, fc.uncovered()];
}

export const xclipSuite: Suite = async (ctx) => {
  const results: CheckResult[] = [];
  let weights: Weights | undefined;
  try {
    const made = await loadMake(ctx, DIR);
    weights = made.weights;
    if (!(made.adapter instanceof XClipAdapter)) throw new Error(`${DIR}config.json: make is not "x-clip"`);
    const adapter = made.adapter;
    results.push({ name: 'xclip strict load (state dict matches the config)', maxAbsErr: 0, tol: EXACT, pass: true });
    results.push(...adapterSizeCheck(ctx, DIR, adapter));
    results.push(...(await guarded('xclip text', TOL, () => textChecks(ctx, adapter))));
    results.push(...(await guarded('xclip image', TOL, () => imageChecks(ctx, adapter))));
    const sample = `${DIR}prior_sample_ddim.safetensors`;
    if (ctx.fx.has(sample)) results.push(...(await guarded('xclip prior sample', TOL, () => priorSampleChecks(ctx, sample, adapter, 'xclip prior_sample_ddim'))));
  } catch (e) {
    results.push({ name: 'xclip load', maxAbsErr: NaN, tol: TOL, pass: false, detail: e instanceof Error ? e.message : String(e) });
  } finally {
    weights?.dispose();
  }
  return results;
};
