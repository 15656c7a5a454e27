// OpenAI CLIP (ViT) over a weight map with the original key names: text and vision towers.
import {
  Tensor, add, matmul, concat, conv2d, permute, embedding, expand, gather, tidy, type Runtime,
} from '@dalle2/tensor';
import type { Weights } from '../weights.js';
import { inferClipConfig, type ClipConfig } from './config.js';
import { transformer, layerNormScope } from './transformer.js';

export interface EncodedText {
  /** encode_text output (not normalised) [B, embed]. */
  pooled: Tensor;
  /** ln_final output [B, L, width] (what DALLE2's adapter hooks as text encodings). */
  lnFinal: Tensor;
}

export class ClipModel {
  readonly config: ClipConfig;
  readonly rt: Runtime;

  constructor(readonly weights: Weights) {
    this.rt = weights.rt;
    this.config = inferClipConfig(weights);
    const c = this.config;
    // Touch every weight once with its expected shape so loading is strict up front.
    weights.get('token_embedding.weight', [c.vocabSize, c.textWidth]);
    weights.get('positional_embedding', [c.contextLength, c.textWidth]);
    weights.get('text_projection', [c.textWidth, c.embedDim]);
    weights.get('visual.proj', [c.visionWidth, c.embedDim]);
    weights.ignore((k) => k === 'logit_scale' || k === 'input_resolution' || k === 'context_length' || k === 'vocab_size');
  }

  /** tokens: [B, L] token ids (L <= context length). */
  encodeText(tokens: Int32Array, batch: number): EncodedText {
    const c = this.config;
    const L = tokens.length / batch;
    if (!Number.isInteger(L) || L > c.contextLength) {
      throw new Error(`ClipModel.encodeText: ${tokens.length} tokens for batch ${batch} (context length ${c.contextLength})`);
    }
    const w = this.weights;
    return tidy(this.rt, () => {
      const ids = Tensor.from(this.rt, tokens, [batch, L], 'i32');
      const tok = embedding(w.get('token_embedding.weight'), ids); // [B, L, W]
      const pos = sliceRows(w.get('positional_embedding'), L);
      const x = transformer(w.scope('transformer'), add(tok, pos), c.textLayers, c.textHeads, true);
      const lnFinal = layerNormScope(w.scope('ln_final'), x);
      // Pool at the highest token id per row (the EOT token in clip.tokenize output).
      const eot = argmaxRows(tokens, batch, L).map((j, b) => b * L + j);
      const rows = gather(lnFinal.reshape([batch * L, c.textWidth]), Tensor.from(this.rt, eot, [batch], 'i32'));
      const pooled = matmul(rows, w.get('text_projection'));
      return { pooled, lnFinal };
    });
  }

  /** pixels: CLIP-normalised [B, 3, R, R] at the model resolution -> encode_image [B, embed]. */
  encodeImage(pixels: Tensor): Tensor {
    const c = this.config;
    const [B, C, H, W] = pixels.shape;
    if (C !== 3 || H !== c.imageResolution || W !== c.imageResolution) {
      throw new Error(`ClipModel.encodeImage: pixels [${pixels.shape.join(', ')}], expected [B, 3, ${c.imageResolution}, ${c.imageResolution}]`);
    }
    const w = this.weights.scope('visual');
    return tidy(this.rt, () => {
      const p = c.patchSize;
      const grid = c.imageResolution / p;
      const width = c.visionWidth;
      const patches = conv2d(pixels, w.get('conv1.weight', [width, 3, p, p]), undefined, { stride: p }); // [B, width, g, g]
      const tokens = permute(patches.reshape([B, width, grid * grid]), [0, 2, 1]); // [B, g*g, width]
      const cls = expand(w.get('class_embedding', [width]).reshape([1, 1, width]), [B, 1, width]);
      const seq = add(concat([cls, tokens], 1), w.get('positional_embedding', [grid * grid + 1, width]));
      const x = transformer(w.scope('transformer'), layerNormScope(w.scope('ln_pre'), seq), c.visionLayers, c.visionHeads, false);
      const clsOut = gather(x.reshape([B * (grid * grid + 1), width]), Tensor.from(this.rt, clsRows(B, grid * grid + 1), [B], 'i32'));
      return matmul(layerNormScope(w.scope('ln_post'), clsOut), w.get('proj'));
    });
  }
}

function argmaxRows(tokens: Int32Array, batch: number, L: number): number[] {
  return Array.from({ length: batch }, (_, b) => {
    let best = 0;
    for (let j = 1; j < L; j++) if (tokens[b * L + j] > tokens[b * L + best]) best = j;
    return best;
  });
}

function clsRows(batch: number, seq: number): Int32Array {
  return Int32Array.from({ length: batch }, (_, b) => b * seq);
}

function sliceRows(t: Tensor, n: number): Tensor {
  return n === t.shape[0] ? t : gather(t, Tensor.from(t.rt, Int32Array.from({ length: n }, (_, i) => i), [n], 'i32'));
}
