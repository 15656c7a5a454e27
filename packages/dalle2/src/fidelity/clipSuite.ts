// CLIP checks: tokenizers, text/vision towers and the DALLE2 1.1.0 adapter vs clip/*.safetensors.
import { Tensor } from '@dalle2/tensor';
import { ClipModel, OpenAIClipAdapter, normalizeClipPixels, ClipTokenizer, loadClipWeights, type Weights } from '@dalle2/models';
import { compare, guarded, EXACT, TOL, type CheckResult, type Suite, type SuiteContext } from './check.js';

// f32 through a few transformer layers: upstream and we differ only in summation order.
const TEXT = 'clip/text.safetensors';
const IMAGE = 'clip/image.safetensors';

async function tokenizerChecks({ fx }: SuiteContext): Promise<CheckResult[]> {
  const { prompts } = await fx.json<{ prompts: string[] }>('clip/prompts.json');
  const vocab = fx.has('clip/bpe_simple_vocab_16e6.txt.gz') ? fx.path('clip/bpe_simple_vocab_16e6.txt.gz') : undefined;
  const tok = await ClipTokenizer.load(vocab);
  const clipLen = (await fx.shape(TEXT, 'clip_tokens'))[1];
  const dalleLen = (await fx.shape(TEXT, 'dalle2_tokens'))[1];
  return [
    compare('tokenizer clip.tokenize', tok.clipTokenize(prompts, { contextLength: clipLen, truncate: true }), await fx.i32(TEXT, 'clip_tokens'), EXACT),
    compare('tokenizer dalle2', tok.dalle2Tokenize(prompts, { contextLength: dalleLen, truncateText: true }), await fx.i32(TEXT, 'dalle2_tokens'), EXACT),
  ];
}

async function textChecks({ fx }: SuiteContext, adapter: OpenAIClipAdapter): Promise<CheckResult[]> {
  const out: CheckResult[] = [];
  for (const [tokens, suffix] of [['clip_tokens', ''], ['dalle2_tokens', '_dalle2']] as const) {
    const [batch] = await fx.shape(TEXT, tokens);
    const ids = await fx.i32(TEXT, tokens);
    const L = ids.length / batch;
    const cut = Int32Array.from({ length: batch * Math.min(L, adapter.maxTextLen) }, (_, i) => {
      const l = Math.min(L, adapter.maxTextLen);
      return ids[Math.floor(i / l) * L + (i % l)];
    });
    const encodeName = suffix ? 'encode_text_dalle2_tokens' : 'encode_text';
    const enc = adapter.clip.encodeText(cut, batch);
    out.push(compare(`clip ${encodeName}`, await enc.pooled.read(), await fx.f32(TEXT, encodeName), TOL));
    enc.pooled.dispose();
    enc.lnFinal.dispose();
    const emb = adapter.embedText(ids, batch);
    out.push(compare(`clip adapter${suffix}_text_embed`, await emb.textEmbed.read(), await fx.f32(TEXT, `adapter${suffix}_text_embed`), TOL));
    out.push(compare(`clip adapter${suffix}_text_encodings`, await emb.textEncodings.read(), await fx.f32(TEXT, `adapter${suffix}_text_encodings`), TOL));
    emb.textEmbed.dispose();
    emb.textEncodings.dispose();
  }
  return out;
}

async function imageChecks({ rt, fx }: SuiteContext, adapter: OpenAIClipAdapter): Promise<CheckResult[]> {
  const out: CheckResult[] = [];
  const pixels = Tensor.from(rt, await fx.f32(IMAGE, 'pixels'), await fx.shape(IMAGE, 'pixels'));
  const norm = normalizeClipPixels(pixels);
  out.push(compare('clip normalized_pixels', await norm.read(), await fx.f32(IMAGE, 'normalized_pixels'), TOL));
  const enc = adapter.clip.encodeImage(norm);
  out.push(compare('clip encode_image', await enc.read(), await fx.f32(IMAGE, 'encode_image'), TOL));
  const emb = adapter.embedImage(pixels);
  out.push(compare('clip adapter_image_embed', await emb.read(), await fx.f32(IMAGE, 'adapter_image_embed'), TOL));
  for (const t of [pixels, norm, enc, emb]) t.dispose();
  const file = await fx.file(IMAGE);
  if (file.has('big_pixels')) {
    const big = Tensor.from(rt, await fx.f32(IMAGE, 'big_pixels'), await fx.shape(IMAGE, 'big_pixels'));
    const bigEmb = adapter.embedImage(big);
    out.push(compare('clip big_adapter_image_embed', await bigEmb.read(), await fx.f32(IMAGE, 'big_adapter_image_embed'), TOL));
    big.dispose();
    bigEmb.dispose();
  }
  return out;
}

export const clipSuite: Suite = async (ctx) => {
  const results = await guarded('tokenizer', EXACT, () => tokenizerChecks(ctx));
  let weights: Weights | undefined;
  try {
    weights = await loadClipWeights(ctx.rt, ctx.fx.path('clip/weights.safetensors'));
    const adapter = new OpenAIClipAdapter(new ClipModel(weights));
    results.push(...(await guarded('clip text', TOL, () => textChecks(ctx, adapter))));
    results.push(...(await guarded('clip image', TOL, () => imageChecks(ctx, adapter))));
    results.push(
      ...(await guarded('clip strict loading', EXACT, async () => {
        weights!.assertAllUsed('OpenAI CLIP');
        return { name: 'clip weights all used', maxAbsErr: 0, tol: EXACT, pass: true };
      })),
    );
  } catch (e) {
    results.push({ name: 'clip load', maxAbsErr: NaN, tol: TOL, pass: false, detail: e instanceof Error ? e.message : String(e) });
  } finally {
    weights?.dispose();
  }
  return results;
};
