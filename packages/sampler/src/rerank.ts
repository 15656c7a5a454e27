// Reranking as DALLE2-pytorch 1.1.0's DiffusionPrior.sample does it: per text, the candidate whose
// l2-normalised embedding has the highest dot product with the l2-normalised text embedding
// (einsum('b r d, b r d -> b r'), topk(k = 1)); the chosen rows are not re-normalised.
import { Tensor, embedding, l2normRows, mul, sum, tidy } from '@dalle2/tensor';

export interface RerankResult {
  /** Cosine similarity per candidate, row-major [B, r]. */
  similarities: Float32Array;
  /** Chosen candidate per text [B]. */
  topIndex: Int32Array;
  /** The chosen candidates [B, D] (caller disposes). */
  chosen: Tensor;
}

/** torch.topk(k=1) over each row of a [rows, r] host array: index of the largest value (NaN counts as largest, first wins). */
export function topIndexPerRow(values: Float32Array, rows: number, r: number): Int32Array {
  const out = new Int32Array(rows);
  for (let b = 0; b < rows; b++) {
    let best = 0;
    for (let k = 1; k < r; k++) {
      const v = values[b * r + k];
      const cur = values[b * r + best];
      if (Number.isNaN(cur)) break;
      if (Number.isNaN(v) || v > cur) best = k;
    }
    out[b] = best;
  }
  return out;
}

/**
 * textEmbed [(B r), D] (each text repeated r times) and candidates [B, r, D]: the similarities (the one
 * host readback: topk needs the values) and the chosen candidate per text.
 */
export async function rerank(textEmbed: Tensor, candidates: Tensor): Promise<RerankResult> {
  if (candidates.rank !== 3) throw new Error(`rerank: candidates [${candidates.shape.join(', ')}] must be [B, r, D]`);
  const [B, r, D] = candidates.shape;
  if (textEmbed.rank !== 2 || textEmbed.shape[0] !== B * r || textEmbed.shape[1] !== D) {
    throw new Error(`rerank: textEmbed [${textEmbed.shape.join(', ')}] must be [${B * r}, ${D}] (each text repeated ${r} times)`);
  }
  const flat = candidates.reshape([B * r, D]);
  try {
    const sims = tidy(textEmbed.rt, () => sum(mul(l2normRows(textEmbed), l2normRows(flat)), -1));
    let similarities: Float32Array;
    try {
      similarities = await sims.toFloat32();
    } finally {
      sims.dispose();
    }
    const topIndex = topIndexPerRow(similarities, B, r);
    const rows = Array.from(topIndex, (k, b) => b * r + k);
    const chosen = tidy(textEmbed.rt, () => embedding(flat, rows)).keep();
    return { similarities, topIndex, chosen };
  } finally {
    flat.dispose();
  }
}
