// CoCa-pytorch 0.0.6 `CoCa` over its state dict (original key names): the unimodal text layers with
// the CLS token appended last, and the attention pooling of image tokens. The multimodal layers and
// to_logits (captioning) are loaded strictly but unused by the adapter.
import { Tensor, add, concat, embedding, expand, sliceAxis, tidy, type Runtime } from '@dalle2/tensor';
import type { Weights } from '../weights.js';
import { checkStateDict, type StateDictSpec } from '../clip/strict.js';
import { rotaryTables } from '../clip/rotaryHalves.js';
import { checkTokenIds, type Trace } from '../clip/types.js';
import type { CoCaConfig } from './config.js';
import { attentionPool, cocaLayerNorm, crossAttentionSpec, parallelBlock, parallelBlockSpec } from './layers.js';

/** torch.finfo(float32).max: CoCa's mask fill value. */
const F32_MAX = 3.4028234663852886e38;

/** Every key of CoCa's state dict for this config (img_encoder = None), with its shape. */
export function cocaStateDictSpec(c: CoCaConfig): StateDictSpec {
  const spec: StateDictSpec = new Map();
  spec.set('text_cls_token', [c.dim]);
  spec.set('img_queries', [c.numImgQueries + 1, c.dim]);
  spec.set('temperature', [1]);
  spec.set('token_emb.weight', [c.numTokens, c.dim]);
  crossAttentionSpec(spec, 'img_attn_pool', c, c.imageDim, true);
  for (const p of ['img_attn_pool_norm', 'text_cls_norm', 'to_logits.0']) {
    spec.set(`${p}.gamma`, [c.dim]);
    spec.set(`${p}.beta`, [c.dim]);
  }
  for (let i = 0; i < c.unimodalDepth; i++) parallelBlockSpec(spec, `unimodal_layers.${i}.fn`, c);
  for (let i = 0; i < c.multimodalDepth; i++) {
    parallelBlockSpec(spec, `multimodal_layers.${i}.0.fn`, c);
    crossAttentionSpec(spec, `multimodal_layers.${i}.1.fn`, c, c.dim, false);
  }
  // Tied to token_emb.weight upstream; both keys are saved.
  spec.set('to_logits.1.weight', [c.numTokens, c.dim]);
  return spec;
}

export interface CoCaText {
  /** text_cls_norm(CLS) [B, dim] (not l2-normalised). */
  textEmbed: Tensor;
  /** Unimodal outputs of the tokens [B, L, dim] (unmasked). */
  textTokens: Tensor;
}

export interface CoCaImage {
  imageEmbed: Tensor;
  imageEncodings: Tensor;
}

export class CoCaModel {
  readonly rt: Runtime;

  private constructor(
    readonly weights: Weights,
    readonly config: CoCaConfig,
    /** Each unimodal block's rotary inv_freq buffer. */
    private readonly invFreqs: Float32Array[],
  ) {
    this.rt = weights.rt;
  }

  static async create(weights: Weights, config: CoCaConfig): Promise<CoCaModel> {
    checkStateDict(weights, cocaStateDictSpec(config), 'CoCa');
    const inv: Float32Array[] = [];
    for (let i = 0; i < config.unimodalDepth; i++) inv.push(await weights.get(`unimodal_layers.${i}.fn.rotary_emb.inv_freq`).toFloat32());
    return new CoCaModel(weights, config, inv);
  }

  /** CoCa.embed_text(tokens [B, L]); trace gets unimodal_input, layer<i>_output and text_cls. */
  embedText(tokens: Int32Array, batch: number, trace?: Trace): CoCaText {
    const c = this.config;
    const L = tokens.length / batch;
    if (!Number.isInteger(L) || L < 1) throw new Error(`CoCaModel.embedText: ${tokens.length} tokens do not split into ${batch} rows`);
    checkTokenIds(tokens, batch, c.numTokens, 'CoCaModel.embedText');
    const w = this.weights;
    const n = L + 1;
    return tidy(this.rt, () => {
      const tok = embedding(w.get('token_emb.weight'), Tensor.from(this.rt, tokens, [batch, L], 'i32'));
      const cls = expand(w.get('text_cls_token').reshape([1, 1, c.dim]), [batch, 1, c.dim]);
      let x = concat([tok, cls], 1); // CLS appended last, no position embedding (rotary in each block)
      trace?.('unimodal_input', x);
      const bias = Tensor.from(this.rt, clsMaskBias(tokens, batch, L, c.padId), [batch, 1, n, n]);
      for (let i = 0; i < c.unimodalDepth; i++) {
        const rotary = rotaryTables(this.rt, this.invFreqs[i], n);
        const prev = x;
        x = add(prev, parallelBlock(w.scope(`unimodal_layers.${i}.fn`), prev, c, rotary, bias));
        trace?.(`layer${i}_output`, x);
      }
      const clsOut = sliceAxis(x, 1, L, n).reshape([batch, c.dim]);
      trace?.('text_cls', clsOut);
      return { textEmbed: cocaLayerNorm(w.scope('text_cls_norm'), clsOut), textTokens: sliceAxis(x, 1, 0, L) };
    });
  }

  /** CoCa.embed_image(image_tokens=...): attention pooling; trace gets context_normed and attn_pooled. */
  embedImageTokens(imageTokens: Tensor, trace?: Trace): CoCaImage {
    const c = this.config;
    if (imageTokens.rank !== 3 || imageTokens.shape[2] !== c.imageDim) {
      throw new Error(`CoCaModel.embedImageTokens: image tokens [${imageTokens.shape.join(', ')}], expected [B, N, ${c.imageDim}] (image_dim)`);
    }
    return tidy(this.rt, () => {
      const { contextNormed, pooled } = attentionPool(this.weights.scope('img_attn_pool'), this.weights.get('img_queries'), imageTokens, c);
      trace?.('context_normed', contextNormed);
      trace?.('attn_pooled', pooled);
      const normed = cocaLayerNorm(this.weights.scope('img_attn_pool_norm'), pooled);
      const q = c.numImgQueries + 1;
      return { imageEmbed: sliceAxis(normed, 1, 0, 1).reshape([imageTokens.shape[0], c.dim]), imageEncodings: sliceAxis(normed, 1, 1, q) };
    });
  }
}

/**
 * Additive form of CoCa's extra attn_mask [B, 1, n, n]: 0 except in the CLS row (last), where keys holding
 * the pad token get -finfo.max (text rows are only causal, so they attend interior pad tokens).
 */
export function clsMaskBias(tokens: Int32Array, batch: number, L: number, padId: number): Float32Array {
  const n = L + 1;
  const bias = new Float32Array(batch * n * n);
  for (let b = 0; b < batch; b++) {
    for (let j = 0; j < L; j++) if (tokens[b * L + j] === padId) bias[b * n * n + L * n + j] = -F32_MAX;
  }
  return bias;
}
