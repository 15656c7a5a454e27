// The `clip` suite: CLIP text and image encode (batch 1) with peak GPU memory, for the fixture model
// (shared/fixtures/clip) and a random-initialised OpenAI ViT-L/14 (the CLIP of LAION's prior and decoder).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ClipModel, loadClipWeights, type ClipConfig, type Weights } from '@dalle2/models';
import type { BenchOptions } from './harness.js';
import { Runtime, Tensor, type DType } from '@dalle2/tensor';
import { ModelBench, clipSpec, randomData, randomWeights, specParams, timed, type CaseId } from './randomWeights.js';

const FIXTURE = fileURLToPath(new URL('../../shared/fixtures/clip/weights.safetensors', import.meta.url));

/** OpenAI ViT-L/14 (clip.load('ViT-L/14')); heads are derived as width / 64 for both towers. */
const VIT_L14: Omit<ClipConfig, 'textHeads' | 'visionHeads'> = {
  embedDim: 768, contextLength: 77, vocabSize: 49408, textWidth: 768, textLayers: 12,
  visionWidth: 1024, visionLayers: 24, patchSize: 14, imageResolution: 224,
};

const SOT = 49406;
const EOT = 49407;

/** One clip.tokenize-like row: SOT, `n` word ids, EOT, zero padding (the encode cost does not depend on the ids). */
function tokens(context: number, n = 10): Int32Array {
  const ids = new Int32Array(context);
  ids[0] = SOT;
  for (let i = 1; i <= n; i++) ids[i] = 1000 + 37 * i;
  ids[n + 1] = EOT;
  return ids;
}

function caseIds(model: string, c: Pick<ClipConfig, 'contextLength' | 'imageResolution'>, dtype: DType) {
  const R = c.imageResolution;
  return {
    text: { model, case: 'encodeText', shape: `b1 L${c.contextLength}`, dtype },
    image: { model, case: 'encodeImage', shape: `b1 ${R}x${R}`, dtype },
  } satisfies Record<string, CaseId>;
}

/** Text and image encode of one loaded model. */
async function benchModel(bench: ModelBench, name: string, weights: Weights, dtype: DType): Promise<void> {
  const rt = bench.rt;
  const model = new ClipModel(weights);
  const c = model.config;
  const ids = caseIds(name, c, dtype);
  const text = tokens(c.contextLength);
  await bench.run({
    ...ids.text,
    once: async () => {
      const { pooled, lnFinal } = model.encodeText(text, 1);
      await rt.sync();
      pooled.dispose();
      lnFinal.dispose();
    },
  });
  const R = c.imageResolution;
  const pixels = Tensor.from(rt, randomData(3 * R * R, 7, 2), [1, 3, R, R], dtype);
  try {
    await bench.run({
      ...ids.image,
      once: async () => {
        const emb = model.encodeImage(pixels);
        await rt.sync();
        emb.dispose();
      },
    });
  } finally {
    pixels.dispose();
  }
  // CLIP reads its block weights during the forward passes: after both towers every key must be used.
  const unused = weights.unused();
  if (unused.length && !bench.opts.filter) console.warn(`  ${name}: ${unused.length} weights never read (${unused.slice(0, 3).join(', ')}, ...)`);
}

async function fixtureCases(bench: ModelBench): Promise<void> {
  const name = 'clip-fixture';
  const ids = Object.values(caseIds(name, { contextLength: 77, imageResolution: 32 }, 'f32'));
  if (!bench.wantsAny(ids)) return;
  if (!existsSync(FIXTURE)) {
    bench.skipModel(name, 'f32', `skipped: no fixture at ${FIXTURE}`);
    return;
  }
  const { value: weights, ms } = await timed(() => loadClipWeights(bench.rt, FIXTURE));
  try {
    bench.noteModel(name, 'f32', weights.paramCount(), ms);
    await benchModel(bench, name, weights, 'f32');
  } finally {
    weights.dispose();
  }
}

async function vitL14Cases(bench: ModelBench, dtype: DType): Promise<void> {
  const name = 'clip-vit-l14 (random)';
  const ids = Object.values(caseIds(name, VIT_L14, dtype));
  if (!bench.wantsAny(ids)) return;
  if (dtype === 'f16' && !bench.rt.hasF16) {
    bench.skipModel(name, dtype, 'no shader-f16');
    return;
  }
  const spec = clipSpec(VIT_L14);
  const { value: weights, ms } = await timed(() => randomWeights(bench.rt, spec, 'random ViT-L/14', dtype));
  try {
    bench.noteModel(name, dtype, specParams(spec), ms);
    await benchModel(bench, name, weights, dtype);
  } finally {
    weights.dispose();
  }
}

/** `pnpm bench clip`: fixture CLIP and random ViT-L/14 in f32 (and f16 in full runs). */
export async function runClipSuite(opts: BenchOptions): Promise<void> {
  const rt = await Runtime.create();
  try {
    console.log(`adapter: ${rt.describe()}`);
    const bench = new ModelBench(rt, opts, opts.quick ? { caseMs: 5_000, suiteMs: 3 * 60_000 } : { caseMs: 60_000, suiteMs: 9 * 60_000 });
    await fixtureCases(bench);
    await vitL14Cases(bench, 'f32');
    if (!opts.quick) await vitL14Cases(bench, 'f16');
    bench.finish('clip');
  } finally {
    await rt.destroy();
  }
}
