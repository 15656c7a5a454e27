// x_clip.CLIP 0.7.0 over its state dict (original key names): the text and visual transformers and
// the latent projections, the parts DALLE2-pytorch's XClipAdapter uses. Built from the config's kwargs
// like upstream; the weights must match them exactly (strict).
import {
  Tensor, add, linear, concat, permute, embedding, expand, mean, sliceAxis, tidy, type Runtime,
} from '@dalle2/tensor';
import type { Weights } from '../weights.js';
import { checkStateDict, type StateDictSpec } from '../clip/strict.js';
import { rotaryTables, type RotaryTables } from '../clip/rotaryHalves.js';
import { checkTokenIds, type Trace } from '../clip/types.js';
import type { XClipConfig } from './config.js';
import { transformerSpec, xclipTransformer, type XClipTransformerDims } from './transformer.js';

/** Rotary width of the text transformer when `text_rotary_pos_emb` (upstream: min(dim_head, 32)). */
const rotaryDim = (c: XClipConfig) => Math.min(c.textDimHead, 32);

/** Every key of x_clip.CLIP's state dict for this config, with its shape. */
export function xclipStateDictSpec(c: XClipConfig): StateDictSpec {
  const spec: StateDictSpec = new Map();
  spec.set('temperature', []);
  spec.set('text_transformer.cls_token', [c.dimText]);
  spec.set('text_transformer.token_emb.weight', [c.numTextTokens, c.dimText]);
  if (c.textRotaryPosEmb) spec.set('text_transformer.rotary_pos_emb.inv_freq', [Math.ceil(rotaryDim(c) / 2)]);
  else spec.set('text_transformer.abs_pos_emb.weight', [c.textSeqLen, c.dimText]);
  transformerSpec(spec, 'text_transformer.transformer', textDims(c));
  const p = c.visualPatchSize;
  const grid = c.visualImageSize / p;
  spec.set('visual_transformer.to_tokens.1.weight', [c.dimImage, c.channels * p * p]);
  spec.set('visual_transformer.to_tokens.1.bias', [c.dimImage]);
  spec.set('visual_transformer.pos_emb.weight', [grid * grid, c.dimImage]);
  transformerSpec(spec, 'visual_transformer.transformer', visualDims(c));
  spec.set('visual_transformer.to_cls_tokens.1.weight', [c.dimImage, c.dimImage]);
  for (const extra of ['', '_extra']) {
    spec.set(`to_text_latent${extra}.weight`, [c.dimLatent, c.dimText]);
    spec.set(`to_visual_latent${extra}.weight`, [c.dimLatent, c.dimImage]);
  }
  return spec;
}

function textDims(c: XClipConfig): XClipTransformerDims {
  return { dim: c.dimText, depth: c.textEncDepth, heads: c.textHeads, dimHead: c.textDimHead };
}

function visualDims(c: XClipConfig): XClipTransformerDims {
  return { dim: c.dimImage, depth: c.visualEncDepth, heads: c.visualHeads, dimHead: c.visualDimHead };
}

export class XClipModel {
  readonly rt: Runtime;
  private readonly invFreq?: Float32Array;

  private constructor(
    readonly weights: Weights,
    readonly config: XClipConfig,
    invFreq?: Float32Array,
  ) {
    this.rt = weights.rt;
    this.invFreq = invFreq;
  }

  /** Checks the state dict against the config (missing, unexpected, shapes) and builds the model. */
  static async create(weights: Weights, config: XClipConfig): Promise<XClipModel> {
    checkStateDict(weights, xclipStateDictSpec(config), 'x-clip CLIP');
    // `temperature` and the *_extra projections only serve the training loss.
    const inv = config.textRotaryPosEmb ? await weights.get('text_transformer.rotary_pos_emb.inv_freq').toFloat32() : undefined;
    return new XClipModel(weights, config, inv);
  }

  /** `text_transformer(tokens)` (no mask, as the adapter calls it): [B, L + 1, dim_text], CLS first. */
  textTransformer(tokens: Int32Array, batch: number, trace?: Trace): Tensor {
    const c = this.config;
    const L = tokens.length / batch;
    if (!Number.isInteger(L) || L < 1 || L > c.textSeqLen) {
      throw new Error(`XClipModel.textTransformer: ${tokens.length} tokens for batch ${batch} (1..${c.textSeqLen} per row, text_seq_len)`);
    }
    checkTokenIds(tokens, batch, c.numTextTokens, 'XClipModel.textTransformer');
    const w = this.weights.scope('text_transformer');
    return tidy(this.rt, () => {
      let x = embedding(w.get('token_emb.weight'), Tensor.from(this.rt, tokens, [batch, L], 'i32')); // [B, L, D]
      let rotary: RotaryTables | undefined;
      if (this.invFreq) rotary = rotaryTables(this.rt, this.invFreq, L + 1);
      else x = add(x, sliceAxis(w.get('abs_pos_emb.weight'), 0, 0, L));
      // The CLS token is prepended after the position embedding: it has none.
      const cls = expand(w.get('cls_token').reshape([1, 1, c.dimText]), [batch, 1, c.dimText]);
      const input = concat([cls, x], 1);
      trace?.('transformer_input', input);
      return xclipTransformer(w.scope('transformer'), input, textDims(c), rotary, trace);
    });
  }

  /** `visual_transformer(pixels)`: [B, n + 1, dim_image], [:, 0] the projected mean of the patch outputs. */
  visualTransformer(pixels: Tensor, trace?: Trace): Tensor {
    const c = this.config;
    const [B, C, H, W] = pixels.shape;
    const S = c.visualImageSize;
    if (pixels.rank !== 4 || C !== c.channels || H !== S || W !== S) {
      throw new Error(`XClipModel.visualTransformer: pixels [${pixels.shape.join(', ')}], expected [B, ${c.channels}, ${S}, ${S}]`);
    }
    const w = this.weights.scope('visual_transformer');
    return tidy(this.rt, () => {
      const p = c.visualPatchSize;
      const g = S / p;
      // 'b c (h p1) (w p2) -> b (h w) (p1 p2 c)': channels fastest within a patch.
      const patches = permute(pixels.reshape([B, C, g, p, g, p]), [0, 2, 4, 3, 5, 1]).reshape([B, g * g, p * p * C]);
      const tokens = linear(patches, w.get('to_tokens.1.weight'), w.get('to_tokens.1.bias'));
      trace?.('patch_embeddings', tokens);
      const x = add(tokens, w.get('pos_emb.weight'));
      trace?.('transformer_input', x);
      const out = xclipTransformer(w.scope('transformer'), x, visualDims(c), undefined, trace);
      const cls = linear(mean(out, 1, true), w.get('to_cls_tokens.1.weight'));
      return concat([cls, out], 1);
    });
  }

  /** to_text_latent (no bias). */
  toTextLatent(x: Tensor): Tensor {
    return linear(x, this.weights.get('to_text_latent.weight'));
  }

  /** to_visual_latent (no bias). */
  toVisualLatent(x: Tensor): Tensor {
    return linear(x, this.weights.get('to_visual_latent.weight'));
  }
}
