// DALLE2-pytorch 1.1.0 `Unet` forward pass (base decoder unet and low-res-conditioned upsamplers) over
// the checkpoint's `unets.N.*` weights, loaded strictly (every key under the unet's scope is used).
import {
  Tensor, add, cast, concat, layerNorm, linear, mul, mulScalar, nonzeroRows, pad, silu, sliceAxis, tidy,
  where, shapeStr, type DType, type Runtime,
} from '@dalle2/tensor';
import { Weights, WeightError, type WeightScope, type LoadOptions } from '../weights.js';
import { castUnetConfig, type UnetCast, type UnetConfig } from './config.js';
import { buildUnetLayers, type UnetLayers } from './layers.js';
import { sinusoidalPosEmb } from './blocks.js';

export interface UnetForwardArgs {
  /** Noisy image x_t [B, channels, H, W] in [-1, 1] space. */
  x: Tensor;
  /** One diffusion timestep per batch row. */
  timesteps: Int32Array | readonly number[];
  /** CLIP image embedding [B, image_embed_dim]; required when the unet is conditioned on it, else ignored. */
  imageEmbed?: Tensor;
  /** CLIP text encodings [B, L, text_embed_dim]: zero rows are padding; L < max_text_len is padded. Ignored unless cond_on_text_encodings. */
  textEncodings?: Tensor;
  /** Low-res conditioning image [B, channels, H, W] (already resized, in [-1, 1]); required iff lowres_cond. */
  lowresCondImg?: Tensor;
  /** Drop the image conditioning for every row (image_cond_drop_prob = 1), or per row (true = dropped). */
  imageCondDrop?: boolean | readonly boolean[];
  /** Drop the text conditioning for every row (text_cond_drop_prob = 1), or per row (true = dropped). */
  textCondDrop?: boolean | readonly boolean[];
}

/** Inputs of one pass, with per-row keep flags (so CFG can batch the conditional and null rows). */
interface PassInputs {
  x: Tensor;
  times: number[];
  imageEmbed?: Tensor;
  textEncodings?: Tensor;
  lowres?: Tensor;
  imageKeep: boolean[];
  textKeep: boolean[];
}

/** Conditioning shared by every block of one pass. */
interface Conditioning {
  /** SiLU(t) [B, time_cond_dim]: every ResnetBlock's time_mlp starts with SiLU. */
  timeSilu: Tensor;
  /** LayerNorm'd [time tokens, image tokens] [B, Lc, cond_dim]. */
  c: Tensor;
  /** LayerNorm'd [time tokens, image tokens, text tokens] for the middle blocks. */
  midC: Tensor;
}

/** Per-row keep flags from a drop flag for every row or one per row. */
function keepRows(drop: boolean | readonly boolean[] | undefined, B: number, what: string): boolean[] {
  if (typeof drop !== 'object') return Array<boolean>(B).fill(!drop);
  if (drop.length !== B) throw new Error(`Unet.forward: ${what} has ${drop.length} flags for batch ${B}`);
  return drop.map((d) => !d);
}

export class Unet {
  readonly rt: Runtime;
  /** The resolved config (after the cast passed to the constructor). */
  readonly config: UnetConfig;
  /** Dtype of the weights; float inputs of another dtype are cast to it. */
  readonly dtype: DType;
  private readonly layers: UnetLayers;
  private ownedWeights?: Weights;

  /**
   * Builds the unet from the weights at `weights` (the `unets.N` scope), shape-checking every tensor and
   * throwing if any key under that scope is unused. `cast` is what `Decoder.__init__` passes to
   * `cast_model_parameters` (omit it when `config` is already cast, e.g. from parseDecoderUnetConfigs).
   */
  constructor(weights: WeightScope, config: UnetConfig, cast: UnetCast = {}) {
    this.config = castUnetConfig(config, cast, weights.prefix || 'unet');
    this.rt = weights.weights.rt;
    this.layers = buildUnetLayers(weights, this.config);
    this.dtype = this.layers.dtype;
    const prefix = weights.prefix ? `${weights.prefix}.` : '';
    const unused = weights.weights.unused().filter((k) => k.startsWith(prefix));
    if (unused.length) {
      const list = unused.slice(0, 10).join(', ') + (unused.length > 10 ? `, ... (${unused.length} in all)` : '');
      throw new WeightError(`${weights.weights.source}: Unet ${weights.prefix || ''} does not use ${unused.length} weight(s): ${list}`);
    }
  }

  /** Loads `unets.<index>.*` of a Decoder state dict (safetensors) and builds the unet; the weights are owned by it. */
  static async fromSafetensors(rt: Runtime, path: string, index: number, config: UnetConfig, cast: UnetCast = {}, opts: LoadOptions = {}): Promise<Unet> {
    const prefix = `unets.${index}.`;
    const weights = await Weights.fromSafetensors(rt, path, { ...opts, filter: (k) => k.startsWith(prefix) && (opts.filter?.(k) ?? true) });
    try {
      const unet = new Unet(weights.scope(`unets.${index}`), config, cast);
      unet.ownedWeights = weights;
      return unet;
    } catch (e) {
      weights.dispose();
      throw e;
    }
  }

  /** Frees the weights if this unet loaded them itself. */
  dispose(): void {
    this.ownedWeights?.dispose();
    this.ownedWeights = undefined;
  }

  /**
   * Unet.forward: [B, channels_out, H, W] (noise prediction; plus variance channels with learned
   * variance). Per-row cond drops let classifier-free guidance (@dalle2/sampler) batch the conditional
   * and null rows into one pass.
   */
  forward(args: UnetForwardArgs): Tensor {
    const B = this.checkArgs(args);
    return this.pass({
      x: args.x,
      times: Array.from(args.timesteps),
      imageEmbed: args.imageEmbed,
      textEncodings: args.textEncodings,
      lowres: args.lowresCondImg,
      imageKeep: keepRows(args.imageCondDrop, B, 'imageCondDrop'),
      textKeep: keepRows(args.textCondDrop, B, 'textCondDrop'),
    });
  }

  /** Validates the inputs against the config; returns the batch size. */
  private checkArgs(a: UnetForwardArgs): number {
    const c = this.config;
    const fail = (msg: string): never => {
      throw new Error(`Unet.forward: ${msg}`);
    };
    if (a.x.rank !== 4 || a.x.shape[1] !== c.channels) fail(`x ${shapeStr(a.x.shape)} must be [B, ${c.channels}, H, W]`);
    const [B, , H, W] = a.x.shape;
    const factor = 2 ** (c.dimMults.length - (c.memoryEfficient ? 0 : 1));
    if (H % factor !== 0 || W % factor !== 0) fail(`x ${shapeStr(a.x.shape)}: H and W must be multiples of ${factor}`);
    if (a.timesteps.length !== B) fail(`${a.timesteps.length} timesteps for batch ${B}`);
    if (c.condOnImageEmbeds) {
      const e = a.imageEmbed;
      if (!e) fail('imageEmbed is required (the unet is conditioned on image embeds)');
      else if (e.rank !== 2 || e.shape[0] !== B || e.shape[1] !== c.imageEmbedDim) fail(`imageEmbed ${shapeStr(e.shape)} must be [${B}, ${c.imageEmbedDim}]`);
    }
    const t = a.textEncodings;
    if (t && c.condOnTextEncodings && (t.rank !== 3 || t.shape[0] !== B || t.shape[2] !== c.textEmbedDim)) {
      fail(`textEncodings ${shapeStr(t.shape)} must be [${B}, L, ${c.textEmbedDim}]`);
    }
    const lr = a.lowresCondImg;
    if (c.lowresCond && !lr) fail('lowresCondImg is required (lowres_cond unet)');
    if (!c.lowresCond && lr) fail('lowresCondImg given to a unet without lowres_cond');
    if (lr && (lr.rank !== 4 || lr.shape[0] !== B || lr.shape[1] !== c.channels || lr.shape[2] !== H || lr.shape[3] !== W)) {
      fail(`lowresCondImg ${shapeStr(lr.shape)} must match x ${shapeStr(a.x.shape)}`);
    }
    return B;
  }

  private asDtype(t: Tensor): Tensor {
    return t.dtype === this.dtype ? t : cast(t, this.dtype);
  }

  /** One batched forward; intermediate maps are freed as soon as the next layer no longer needs them. */
  private pass(inp: PassInputs): Tensor {
    const L = this.layers;
    return tidy(this.rt, () => {
      const cond = tidy(this.rt, () => this.conditioning(inp));
      const lowres = inp.lowres ? this.asDtype(inp.lowres) : undefined;
      const x0 = this.asDtype(inp.x);
      const input = lowres ? concat([x0, lowres], 1) : x0;
      const r = L.initConv(input); // final residual
      if (input !== inp.x) input.dispose();
      const hiddens: Tensor[] = [];
      let x = r;
      const advance = (f: (cur: Tensor) => Tensor): void => {
        const next = f(x);
        if (x !== r && !hiddens.includes(x)) x.dispose();
        x = next;
      };
      if (L.initResnet) advance((h) => L.initResnet!(h, cond.timeSilu));
      for (const s of L.downs) {
        if (s.pre) advance(s.pre);
        advance((h) => s.init(h, cond.timeSilu, cond.c));
        for (const b of s.blocks) {
          advance((h) => b(h, cond.timeSilu, cond.c));
          hiddens.push(x);
        }
        if (s.attn) advance(s.attn);
        hiddens.push(x);
        advance(s.post);
      }
      advance((h) => L.midBlock1(h, cond.timeSilu, cond.midC));
      advance(L.midAttn);
      advance((h) => L.midBlock2(h, cond.timeSilu, cond.midC));
      const skip = (h: Tensor): Tensor => {
        const hid = hiddens.pop()!;
        const y = tidy(this.rt, () => concat([h, L.skipScale === 1 ? hid : mulScalar(hid, L.skipScale)], 1));
        if (!hiddens.includes(hid)) hid.dispose(); // upstream pushes the same map twice when a stage has no attention
        return y;
      };
      for (const s of L.ups) {
        advance(skip);
        advance((h) => s.init(h, cond.timeSilu, cond.c));
        for (const b of s.blocks) {
          advance(skip);
          advance((h) => b(h, cond.timeSilu, cond.c));
        }
        if (s.attn) advance(s.attn);
        if (s.up) advance(s.up);
      }
      advance((h) => concat([h, r], 1));
      r.dispose();
      advance((h) => L.finalResnet(h, cond.timeSilu));
      if (lowres) advance((h) => concat([h, lowres], 1));
      return L.toOut(x);
    });
  }

  /** Time, image and text conditioning: SiLU(t) and the normalised cross-attention tokens c / mid_c. */
  private conditioning(inp: PassInputs): Conditioning {
    const c = this.config;
    const L = this.layers;
    const B = inp.times.length;
    const rt = this.rt;
    const keepMask = (flags: boolean[], shape: number[]) => Tensor.from(rt, Int32Array.from(flags, Number), shape, 'i32');
    const emb = Tensor.from(rt, sinusoidalPosEmb(inp.times, c.dim), [B, c.dim], this.dtype);
    const timeHiddens = linear(emb, L.toTimeHiddens.weight, L.toTimeHiddens.bias, 'gelu');
    const timeTokens = linear(timeHiddens, L.toTimeTokens.weight, L.toTimeTokens.bias).reshape([B, c.numTimeTokens, c.condDim]);
    let t = linear(timeHiddens, L.toTimeCond.weight, L.toTimeCond.bias);
    const tokens = [timeTokens];
    if (c.condOnImageEmbeds) {
      const imageEmbed = this.asDtype(inp.imageEmbed!);
      if (L.toImageHiddens) {
        const hid = linear(imageEmbed, L.toImageHiddens.weight, L.toImageHiddens.bias, 'gelu');
        t = add(t, where(keepMask(inp.imageKeep, [B, 1]), hid, L.nullImageHiddens));
      }
      const img = linear(imageEmbed, L.imageToTokens!.weight, L.imageToTokens!.bias).reshape([B, c.numImageTokens, c.condDim]);
      tokens.push(where(keepMask(inp.imageKeep, [B, 1, 1]), img, L.nullImageEmbed));
    }
    const cTokens = tokens.length === 1 ? tokens[0] : concat(tokens, 1);
    let midTokens = cTokens;
    if (c.condOnTextEncodings && inp.textEncodings) {
      midTokens = concat([cTokens, this.textTokens(inp.textEncodings, keepMask(inp.textKeep, [B, 1, 1]))], 1);
    }
    return {
      timeSilu: silu(t),
      c: layerNorm(cTokens, L.normCond.weight, L.normCond.bias),
      midC: layerNorm(midTokens, L.normMidCond.weight, L.normMidCond.bias),
    };
  }

  /** text_to_cond tokens [B, max_text_len, cond_dim]: padding rows (all zero) and dropped rows become null_text_embed. */
  private textTokens(encodings: Tensor, keep: Tensor): Tensor {
    const c = this.config;
    const L = this.layers;
    let enc = this.asDtype(encodings);
    if (enc.shape[1] > c.maxTextLen) enc = sliceAxis(enc, 1, 0, c.maxTextLen);
    const len = enc.shape[1];
    let mask = mul(nonzeroRows(enc), keep); // [B, len, 1]
    let tok = linear(enc, L.textToCond!.weight, L.textToCond!.bias);
    if (len < c.maxTextLen) {
      mask = pad(mask, [0, 0, 0, c.maxTextLen - len]);
      tok = pad(tok, [0, 0, 0, c.maxTextLen - len]);
    }
    return where(mask, tok, L.nullTextEmbed);
  }
}
