// DALLE2-pytorch 1.1.0 `DiffusionPriorNetwork` (forward pass): tokens [text encodings with padding
// replaced by the learned null_text_embed, text embed(s), time embed(s), noisy image embed(s), learned
// query] -> CausalTransformer -> the last token (the predicted x0 image embedding).
import {
  Tensor, cast, concat, embedding, expand, linear, nonzeroRows, sliceAxis, tidy, where, shapeStr,
  type DType, type Runtime,
} from '@dalle2/tensor';
import { Weights, WeightScope, type LoadOptions } from '../weights.js';
import type { PriorNetConfig } from './config.js';
import type { AttentionContext } from './attention.js';
import {
  attentionContext, causalTransformerHead, causalTransformerLayers, causalTransformerWeights, type CausalTransformerWeights,
} from './transformer.js';

export interface PriorForwardInputs {
  /** Noised (scaled) image embedding x_t [B, dim]. */
  imageEmbed: Tensor;
  /** Diffusion timesteps, one integer in [0, num_timesteps) per batch row. */
  timesteps: Int32Array | readonly number[];
  /** CLIP text embedding [B, dim]. */
  textEmbed: Tensor;
  /** CLIP text encodings [B, L, dim]; L < max_text_len is padded, L > max_text_len truncated. Absent: all null. */
  textEncodings?: Tensor;
  /**
   * i32 [B, L], nonzero = real token: positions to keep (others become null_text_embed). Default, as
   * upstream: any(text_encodings != 0, dim=-1).
   */
  textMask?: Tensor;
  /** Accepted for parity with upstream; has NO effect in 1.1.0 (the keep mask never reaches the transformer). */
  condDropProb?: number;
}

interface NetWeights {
  learnedQuery: Tensor;
  nullTextEmbed: Tensor;
  timeEmbed: Tensor;
  toTextEmbeds?: { weight: Tensor; bias: Tensor };
  toImageEmbeds?: { weight: Tensor; bias: Tensor };
  transformer: CausalTransformerWeights;
}

/** The net's weights at `w` (the `net` scope of a DiffusionPrior state dict); shapes from the config. */
function netWeights(w: WeightScope, c: PriorNetConfig): NetWeights {
  const D = c.dim;
  const embedProj = (name: string, n: number) =>
    n > 1 ? { weight: w.get(`${name}.0.weight`, [D * n, D]), bias: w.get(`${name}.0.bias`, [D * n]) } : undefined;
  return {
    learnedQuery: w.get('learned_query', [D]),
    nullTextEmbed: w.get('null_text_embed', [1, c.maxTextLen, D]),
    timeEmbed: w.get('to_time_embeds.0.weight', [c.numTimesteps, D * c.numTimeEmbeds]),
    toTextEmbeds: embedProj('to_text_embeds', c.numTextEmbeds),
    toImageEmbeds: embedProj('to_image_embeds', c.numImageEmbeds),
    transformer: causalTransformerWeights(w.scope('causal_transformer'), c),
  };
}

export class DiffusionPriorNetwork {
  /**
   * In 1.1.0 classifier-free guidance does nothing: the cond-drop mask never reaches the transformer, so
   * the null pass equals the conditional one and forward_with_cond_scale equals forward for every scale.
   * Pipelines read this and skip guidance (warning once when a scale other than 1 is asked for).
   */
  readonly condScaleIsNoop = true;
  readonly rt: Runtime;
  /** Dtype of the weights; inputs of another float dtype are cast to it. */
  readonly dtype: DType;
  private readonly p: NetWeights;
  private readonly contexts = new Map<number, AttentionContext>();
  private ownedWeights?: Weights;

  /**
   * `weights`: a Weights map holding `net.*` keys (or the bare net keys), or a WeightScope at the net.
   * Every net weight is looked up (with its shape) here, so missing or misshapen keys fail now.
   */
  constructor(
    weights: Weights | WeightScope,
    readonly config: PriorNetConfig,
  ) {
    const scope = weights instanceof WeightScope ? weights : weights.scope(weights.has('net.learned_query') ? 'net' : '');
    this.rt = scope.weights.rt;
    this.p = netWeights(scope, config);
    this.dtype = this.p.learnedQuery.dtype;
  }

  /** Loads the `net.*` tensors of a DiffusionPrior checkpoint strictly (other prefixes are skipped). */
  static async fromSafetensors(rt: Runtime, path: string, config: PriorNetConfig, opts: Pick<LoadOptions, 'dtype'> = {}): Promise<DiffusionPriorNetwork> {
    const w = await Weights.fromSafetensors(rt, path, { dtype: opts.dtype, filter: (k) => k.startsWith('net.') });
    try {
      const net = new DiffusionPriorNetwork(w.scope('net'), config);
      w.assertAllUsed('DiffusionPriorNetwork');
      net.ownedWeights = w;
      return net;
    } catch (e) {
      w.dispose();
      throw e;
    }
  }

  /** Tokens per sequence: max_text_len + text, time and image embeds + the learned query. */
  get tokenCount(): number {
    const c = this.config;
    return c.maxTextLen + c.numTextEmbeds + c.numTimeEmbeds + c.numImageEmbeds + 1;
  }

  /** DiffusionPriorNetwork.forward: predicted image embedding [B, dim]. */
  forward(inputs: PriorForwardInputs): Tensor {
    const B = this.checkInputs(inputs);
    const n = this.tokenCount;
    const ctx = this.context(n);
    return tidy(this.rt, () => {
      const tokens = this.tokens(inputs, B);
      const h = causalTransformerLayers(this.p.transformer, tokens, ctx);
      const last = sliceAxis(h, 1, n - 1, n).reshape([B, this.config.dim]);
      return causalTransformerHead(this.p.transformer, last); // norm and projection are per token
    });
  }

  /** Frees cached per-length tables (and the weights when loaded by fromSafetensors). */
  dispose(): void {
    for (const c of this.contexts.values()) {
      c.bias.dispose();
      c.rotary?.dispose();
    }
    this.contexts.clear();
    this.ownedWeights?.dispose();
    this.ownedWeights = undefined;
  }

  /** alpha * RelPosBias and rotary angles for n tokens, built once and kept. */
  private context(n: number): AttentionContext {
    let ctx = this.contexts.get(n);
    if (!ctx) {
      ctx = tidy(this.rt, () => attentionContext(this.rt, this.p.transformer, n));
      ctx.bias.keep();
      ctx.rotary?.keep();
      this.contexts.set(n, ctx);
    }
    return ctx;
  }

  /** Validates shapes and timesteps; returns the batch size. */
  private checkInputs(inp: PriorForwardInputs): number {
    const { dim: D, numTimesteps: T } = this.config;
    const op = 'DiffusionPriorNetwork.forward';
    const B = inp.imageEmbed.shape[0];
    const expectShape = (name: string, t: Tensor, shape: number[]) => {
      if (t.rank !== shape.length || t.shape.some((d, i) => shape[i] !== -1 && d !== shape[i])) {
        throw new Error(`${op}: ${name} ${shapeStr(t.shape)} must be ${shapeStr(shape)} (-1: any)`);
      }
    };
    expectShape('imageEmbed', inp.imageEmbed, [B, D]);
    expectShape('textEmbed', inp.textEmbed, [B, D]);
    if (inp.textEncodings) expectShape('textEncodings', inp.textEncodings, [B, -1, D]);
    if (inp.textMask) {
      if (!inp.textEncodings) throw new Error(`${op}: textMask given without textEncodings`);
      expectShape('textMask', inp.textMask, [B, inp.textEncodings.shape[1]]);
      if (inp.textMask.dtype !== 'i32') throw new Error(`${op}: textMask must be i32, got ${inp.textMask.dtype}`);
    }
    if (inp.timesteps.length !== B) throw new Error(`${op}: ${inp.timesteps.length} timesteps for batch ${B}`);
    Array.from(inp.timesteps).forEach((t, i) => {
      if (!Number.isInteger(t) || t < 0 || t >= T) throw new Error(`${op}: timesteps[${i}] = ${t} outside [0, ${T})`);
    });
    const p = inp.condDropProb ?? 0;
    if (!(p >= 0 && p <= 1)) throw new Error(`${op}: condDropProb ${p} must be in [0, 1]`);
    return B;
  }

  private asDtype(t: Tensor): Tensor {
    return t.dtype === this.dtype ? t : cast(t, this.dtype);
  }

  /** Token sequence [B, n, dim] in upstream order. */
  private tokens(inp: PriorForwardInputs, B: number): Tensor {
    const c = this.config;
    const D = c.dim;
    const p = this.p;
    const perRow = (x: Tensor, proj: NetWeights['toTextEmbeds'], n: number) =>
      (proj ? linear(x, proj.weight, proj.bias) : x).reshape([B, n, D]);
    const textEmbed = perRow(this.asDtype(inp.textEmbed), p.toTextEmbeds, c.numTextEmbeds);
    const imageEmbed = perRow(this.asDtype(inp.imageEmbed), p.toImageEmbeds, c.numImageEmbeds);
    const time = embedding(p.timeEmbed, inp.timesteps).reshape([B, c.numTimeEmbeds, D]);
    const query = expand(p.learnedQuery.reshape([1, 1, D]), [B, 1, D]);
    const text = this.textSlots(inp, B);
    return concat([text, textEmbed, time, imageEmbed, query], 1);
  }

  /** Text encodings cut/padded to max_text_len with null_text_embed wherever the mask is false. */
  private textSlots(inp: PriorForwardInputs, B: number): Tensor {
    const { maxTextLen: M, dim: D } = this.config;
    const nul = this.p.nullTextEmbed; // [1, M, D]
    const L = Math.min(inp.textEncodings?.shape[1] ?? 0, M);
    if (!inp.textEncodings || L === 0) return expand(nul, [B, M, D]);
    const te = sliceAxis(this.asDtype(inp.textEncodings), 1, 0, L);
    const mask = inp.textMask ? sliceAxis(inp.textMask, 1, 0, L).reshape([B, L, 1]) : nonzeroRows(te);
    const head = where(mask, te, sliceAxis(nul, 1, 0, L));
    if (L === M) return head;
    return concat([head, expand(sliceAxis(nul, 1, L, M), [B, M - L, D])], 1);
  }
}
