// CoCa checks vs clip-coca/*: CoCaAdapter (CoCa-pytorch 0.0.6 under DALLE2-pytorch 1.1.0, overrides
// from base_model_kwargs) built from the state dict; every recorded tensor of text (intermediates
// included) and image (the adapter's resize, and attention pooling of given image tokens); and the
// refusal of image embedding from pixels, which upstream cannot do for a config-built CoCa.
// Tolerance: atol 1e-4 + rtol 1e-4 (f32, summation order only); masks and adapter sizes exact.
import { Tensor } from '@dalle2/tensor';
import { CoCaAdapter, CoCaImageError, clsMaskBias, truncateTokens, type Weights } from '@dalle2/models';
import { compare, guarded, EXACT, TOL, type CheckResult, type Suite, type SuiteContext } from './check.js';
import { FileChecks, clipTextChecks, collector, toUnit } from './fileChecks.js';
import { adapterSizeCheck, loadMake } from './xclipSuite.js';

const DIR = 'clip-coca/';

function textChecks(ctx: SuiteContext, adapter: CoCaAdapter): Promise<CheckResult[]> {
  return clipTextChecks(ctx, `${DIR}text.safetensors`, 'coca text', (ids, batch, trace) => adapter.embedText(ids, batch, trace), async (fc, prefix, data, B) => {
    if (!fc.has(`${prefix}attn_mask`)) return;
    // Our extra mask is additive (-finfo.max where attention is not allowed); upstream's is a bool.
    const { ids, L } = truncateTokens(data, B, adapter.maxTextLen);
    const allowed = clsMaskBias(ids, B, L, adapter.clip.config.padId).map((v) => (v === 0 ? 1 : 0));
    await fc.check(`${prefix}attn_mask`, allowed, EXACT);
  });
}

async function imageChecks(ctx: SuiteContext, adapter: CoCaAdapter): Promise<CheckResult[]> {
  const fc = await FileChecks.open(ctx, `${DIR}image.safetensors`, 'coca image');
  for (const prefix of ['', 'big_']) {
    const u8 = await fc.inputI32(`${prefix}pixels_uint8`);
    const unit = toUnit(u8.data);
    await fc.check(`${prefix}pixels`, unit, TOL);
    const pixels = Tensor.from(ctx.rt, unit, u8.shape);
    try {
      const resized = adapter.validateAndResizeImage(pixels);
      if (prefix) await fc.check('big_resized', resized, TOL);
      if (resized !== pixels) resized.dispose();
      fc.push(refusal(adapter, pixels, `${prefix}pixels`));
    } finally {
      pixels.dispose();
    }
  }
  const tokens = await fc.input('image_tokens');
  const t = Tensor.from(ctx.rt, tokens.data, tokens.shape);
  const col = collector();
  try {
    const e = adapter.embedImageTokens(t, col.trace);
    await fc.checkTraced(col.traced, TOL);
    await fc.check('image_embed', e.imageEmbed, TOL);
    await fc.check('image_encodings', e.imageEncodings, TOL);
    e.imageEmbed.dispose();
    e.imageEncodings.dispose();
  } finally {
    col.dispose();
    t.dispose();
  }
  return [...fc.results, fc.uncovered()];
}

/** embed_image(pixels) must be refused naming the missing img_encoder (as upstream's assertion). */
function refusal(adapter: CoCaAdapter, pixels: Tensor, what: string): CheckResult {
  const name = `coca image embed_image(${what}) refused (no img_encoder)`;
  try {
    adapter.embedImage(pixels).dispose();
    return { name, maxAbsErr: NaN, tol: EXACT, pass: false, detail: 'embedImage returned an embedding' };
  } catch (e) {
    const ok = e instanceof CoCaImageError && /img_encoder/.test(e.message);
    return { ...compare(name, [ok ? 1 : 0], [1], EXACT), detail: ok ? undefined : `wrong error: ${String(e)}` };
  }
}

export const cocaSuite: Suite = async (ctx) => {
  const results: CheckResult[] = [];
  let weights: Weights | undefined;
  try {
    const made = await loadMake(ctx, DIR);
    weights = made.weights;
    if (!(made.adapter instanceof CoCaAdapter)) throw new Error(`${DIR}config.json: make is not "coca"`);
    const adapter = made.adapter;
    results.push({ name: 'coca strict load (state dict matches the config)', maxAbsErr: 0, tol: EXACT, pass: true });
    results.push(...adapterSizeCheck(ctx, DIR, adapter));
    results.push(...(await guarded('coca text', TOL, () => textChecks(ctx, adapter))));
    results.push(...(await guarded('coca image', TOL, () => imageChecks(ctx, adapter))));
  } catch (e) {
    results.push({ name: 'coca load', maxAbsErr: NaN, tol: TOL, pass: false, detail: e instanceof Error ? e.message : String(e) });
  } finally {
    weights?.dispose();
  }
  return results;
};
