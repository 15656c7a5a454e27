// DALLE2-pytorch 1.1.0 `Unet` hyper-parameters, parsed from a released TrainDecoderConfig JSON
// (`decoder.unets[i]`, passed to `Unet(**kwargs)` by DecoderConfig.create), with upstream defaults, then
// cast the way `Decoder.__init__` casts each unet (`unet.cast_model_parameters(...)`). Errors name the
// JSON path. Upstream silently swallows unknown kwargs; we reject them by name instead.
import { readFile } from 'node:fs/promises';
import { ConfigReader, isBool, isInt, joinPath, type Json } from '../configFields.js';

/** Resolved Unet kwargs (after defaults and, where applied, the Decoder's cast). */
export interface UnetConfig {
  dim: number;
  dimMults: number[];
  imageEmbedDim: number | null;
  textEmbedDim: number | null;
  /** `cond_dim`, default `dim`: width of the cross-attention conditioning tokens. */
  condDim: number;
  numImageTokens: number;
  numTimeTokens: number;
  channels: number;
  /** `channels_out`, default `channels` (doubled by the Decoder for learned variance). */
  channelsOut: number;
  /** Full self-attention per stage (`self_attn`, cast to one flag per stage). */
  selfAttn: boolean[];
  attnDimHead: number;
  attnHeads: number;
  /** Cascade upsampler: the low-res image is concatenated to the input and before `to_out`. */
  lowresCond: boolean;
  /** Linear attention on stages without full self-attention. */
  sparseAttn: boolean;
  condOnTextEncodings: boolean;
  maxTextLen: number;
  condOnImageEmbeds: boolean;
  addImageEmbedsToTime: boolean;
  /** `init_dim`, default `dim`. */
  initDim: number;
  initConvKernelSize: number;
  /** GroupNorm groups per stage. */
  resnetGroups: number[];
  /** Extra resnet blocks per stage. */
  numResnetBlocks: number[];
  initCrossEmbed: boolean;
  /** Sorted ascending, as CrossEmbedLayer sorts them. */
  initCrossEmbedKernelSizes: number[];
  crossEmbedDownsample: boolean;
  crossEmbedDownsampleKernelSizes: number[];
  memoryEfficient: boolean;
  scaleSkipConnection: boolean;
  pixelShuffleUpsample: boolean;
  finalConvKernelSize: number;
}

/** What `Decoder.__init__` passes to `cast_model_parameters` (absent fields keep the config's value). */
export interface UnetCast {
  lowresCond?: boolean;
  /** Imagen-style low-res noise conditioning: not supported (throws when true). */
  lowresNoiseCond?: boolean;
  condOnImageEmbeds?: boolean;
  condOnTextEncodings?: boolean;
  channels?: number;
  channelsOut?: number;
}

export class UnetConfigError extends Error {
  override name = 'UnetConfigError';
}

/** Every kwarg of Unet.__init__ in 1.1.0 (the ones not listed in UnetConfig are checked below). */
const UNET_KEYS = [
  'dim', 'image_embed_dim', 'text_embed_dim', 'cond_dim', 'num_image_tokens', 'num_time_tokens', 'out_dim',
  'dim_mults', 'channels', 'channels_out', 'self_attn', 'attn_dim_head', 'attn_heads', 'lowres_cond',
  'lowres_noise_cond', 'sparse_attn', 'attend_at_middle', 'cond_on_text_encodings', 'max_text_len',
  'cond_on_image_embeds', 'add_image_embeds_to_time', 'init_dim', 'init_conv_kernel_size', 'resnet_groups',
  'num_resnet_blocks', 'init_cross_embed', 'init_cross_embed_kernel_sizes', 'cross_embed_downsample',
  'cross_embed_downsample_kernel_sizes', 'memory_efficient', 'scale_skip_connection', 'pixel_shuffle_upsample',
  'final_conv_kernel_size', 'combine_upsample_fmaps',
] as const;

/** Parses one `decoder.unets[i]` object: the Unet kwargs with upstream 1.1.0 defaults (no Decoder cast). */
export function parseUnetConfig(section: unknown, path = 'decoder.unets[0]', source = 'decoder config'): UnetConfig {
  const f = new ConfigReader(source, UnetConfigError).fields(section, path);
  f.rejectUnknown(UNET_KEYS, 'unsupported option (not a DALLE2-pytorch 1.1.0 Unet argument)');
  if (f.bool('combine_upsample_fmaps', false)) f.fail('combine_upsample_fmaps', 'unsupported value true (UpsampleCombiner is not implemented)');
  if (f.bool('lowres_noise_cond', false)) f.fail('lowres_noise_cond', 'unsupported value true (low-res noise conditioning is not implemented)');
  f.bool('attend_at_middle', true); // accepted and, as upstream 1.1.0 does, ignored (mid attention always exists)
  f.optInt('out_dim'); // unused upstream
  const posInt = (v: unknown): v is number => isInt(v, 1);
  const natInt = (v: unknown): v is number => isInt(v, 0);
  const intList = (key: string, def?: number[]) => f.list(key, posInt, 'a non-empty list of integers >= 1', def);
  const dim = f.int('dim');
  const dimMults = intList('dim_mults');
  const stages = dimMults.length;
  /** One value per dim_mults stage (upstream `cast_tuple(val, len(dim_mults))`). */
  const perStage = <T>(key: string, def: T, ok: (v: unknown) => v is T, what: string) =>
    f.tuple(key, stages, ok, what, { def, per: 'dim_mults stage', perOnScalar: false });
  const channels = f.int('channels', 3);
  const config: UnetConfig = {
    dim,
    dimMults,
    imageEmbedDim: f.optInt('image_embed_dim') ?? null,
    textEmbedDim: f.optInt('text_embed_dim') ?? null,
    condDim: f.optInt('cond_dim') ?? dim,
    numImageTokens: f.int('num_image_tokens', 4),
    numTimeTokens: f.int('num_time_tokens', 2),
    channels,
    channelsOut: f.optInt('channels_out') ?? channels,
    selfAttn: perStage('self_attn', false, isBool, 'true/false'),
    attnDimHead: f.int('attn_dim_head', 32),
    attnHeads: f.int('attn_heads', 16),
    lowresCond: f.bool('lowres_cond', false),
    sparseAttn: f.bool('sparse_attn', false),
    condOnTextEncodings: f.bool('cond_on_text_encodings', false, true), // null: False
    maxTextLen: f.int('max_text_len', 256),
    condOnImageEmbeds: f.bool('cond_on_image_embeds', false),
    addImageEmbedsToTime: f.bool('add_image_embeds_to_time', true),
    initDim: f.optInt('init_dim') ?? dim,
    initConvKernelSize: f.int('init_conv_kernel_size', 7),
    resnetGroups: perStage('resnet_groups', 8, posInt, 'a positive integer'),
    numResnetBlocks: perStage('num_resnet_blocks', 2, natInt, 'an integer >= 0'),
    initCrossEmbed: f.bool('init_cross_embed', true),
    initCrossEmbedKernelSizes: [...intList('init_cross_embed_kernel_sizes', [3, 7, 15])].sort((a, b) => a - b),
    crossEmbedDownsample: f.bool('cross_embed_downsample', false),
    crossEmbedDownsampleKernelSizes: [...intList('cross_embed_downsample_kernel_sizes', [2, 4])].sort((a, b) => a - b),
    memoryEfficient: f.bool('memory_efficient', false),
    scaleSkipConnection: f.bool('scale_skip_connection', false),
    pixelShuffleUpsample: f.bool('pixel_shuffle_upsample', true),
    finalConvKernelSize: f.int('final_conv_kernel_size', 1),
  };
  // CrossEmbedLayer asserts kernel parity == stride parity (init: stride 1, downsample: stride 2).
  if (config.initCrossEmbed && config.initCrossEmbedKernelSizes.some((k) => k % 2 !== 1)) {
    f.fail('init_cross_embed_kernel_sizes', `kernel sizes must be odd (stride 1), got ${f.describe(f.obj.init_cross_embed_kernel_sizes)}`);
  }
  if (config.crossEmbedDownsample && config.crossEmbedDownsampleKernelSizes.some((k) => k % 2 !== 0)) {
    f.fail('cross_embed_downsample_kernel_sizes', `kernel sizes must be even (stride 2), got ${f.describe(f.obj.cross_embed_downsample_kernel_sizes)}`);
  }
  checkBuildable(config, f.reader, path);
  return config;
}

/** Upstream `Unet.cast_model_parameters`: the same kwargs with the Decoder's overrides. */
export function castUnetConfig(config: UnetConfig, cast: UnetCast = {}, path = 'unet', source = 'decoder config'): UnetConfig {
  const r = new ConfigReader(source, UnetConfigError);
  if (cast.lowresNoiseCond) r.fail(path, 'lowres_noise_cond (use_noise_for_lowres_cond) is not supported');
  const out: UnetConfig = {
    ...config,
    lowresCond: cast.lowresCond ?? config.lowresCond,
    condOnImageEmbeds: cast.condOnImageEmbeds ?? config.condOnImageEmbeds,
    condOnTextEncodings: cast.condOnTextEncodings ?? config.condOnTextEncodings,
    channels: cast.channels ?? config.channels,
    channelsOut: cast.channelsOut ?? config.channelsOut,
  };
  checkBuildable(out, r, path);
  return out;
}

/** Rejects settings upstream cannot build or run (it would assert or fail on a shape mismatch). */
function checkBuildable(c: UnetConfig, r: ConfigReader, path: string): void {
  const fail = (key: string, msg: string): never => r.fail(joinPath(path, key), msg);
  if (c.condOnTextEncodings && c.textEmbedDim === null) fail('text_embed_dim', 'is required when cond_on_text_encodings is true');
  if (c.condOnImageEmbeds) {
    if (c.imageEmbedDim === null) fail('image_embed_dim', 'is required when the unet is conditioned on image embeds');
    // image_to_tokens becomes nn.Identity and the null-token where() broadcasts to a wrong shape upstream.
    if (c.imageEmbedDim === c.condDim) fail('image_embed_dim', `equal to cond_dim (${c.condDim}) is not supported`);
  }
  const groupsOk = (g: number, ch: number) => ch % g === 0;
  c.dimMults.forEach((m, i) => {
    if (!groupsOk(c.resnetGroups[i], c.dim * m)) fail('resnet_groups', `stage ${i}: ${c.resnetGroups[i]} groups do not divide ${c.dim * m} channels`);
  });
  // The final resnet block expects dim + dim channels: the upsampled map plus the init_conv residual.
  const lastUp = c.memoryEfficient ? c.initDim : c.dim * c.dimMults[0];
  if (lastUp + c.initDim !== 2 * c.dim) fail('init_dim', `${c.initDim} with dim ${c.dim} and dim_mults[0] ${c.dimMults[0]} cannot run upstream (final block channels)`);
}

/** Parses a TrainDecoderConfig JSON document (object or text) and returns every unet's config as the Decoder casts it. */
export function parseDecoderUnetConfigs(json: unknown, source = 'decoder config'): UnetConfig[] {
  const r = new ConfigReader(source, UnetConfigError);
  const dec = r.fields(r.document(json).decoder, 'decoder').obj;
  const unets = dec.unets;
  if (!Array.isArray(unets) || unets.length === 0) return r.fail('decoder.unets', `expected a non-empty list, got ${r.describe(unets)}`);
  return unets.map((u, i) => {
    const path = `decoder.unets[${i}]`;
    const config = parseUnetConfig(u, path, source);
    return castUnetConfig(config, decoderUnetCast(dec, i, config, source), path, source);
  });
}

/** The cast `Decoder.__init__` applies to unet `index` (decoder-level `channels`, `learned_variance`, `unconditional`). */
export function decoderUnetCast(decoder: Json, index: number, config: UnetConfig, source = 'decoder config'): UnetCast {
  const f = new ConfigReader(source, UnetConfigError).fields(decoder, 'decoder');
  const channels = f.int('channels', 3);
  const unconditional = f.bool('unconditional', false);
  // Upstream default True, cast to a tuple and padded with False: only the first unet learns variance.
  const lv = decoder.learned_variance ?? true;
  let learned: boolean;
  if (typeof lv === 'boolean') learned = index === 0 ? lv : false; // cast_tuple(True) = (True,), padded with False
  else if (Array.isArray(lv) && lv.every((v) => typeof v === 'boolean')) learned = (lv[index] as boolean | undefined) ?? false;
  else return f.fail('learned_variance', `expected true/false or a list of them, got ${f.describe(lv)}`);
  const noise = decoder.use_noise_for_lowres_cond;
  if (noise === true || (Array.isArray(noise) && noise.includes(true))) f.fail('use_noise_for_lowres_cond', 'unsupported value true');
  return {
    lowresCond: index > 0,
    lowresNoiseCond: false,
    condOnImageEmbeds: !unconditional && index === 0,
    condOnTextEncodings: !unconditional && config.condOnTextEncodings,
    channels,
    channelsOut: channels * (learned ? 2 : 1),
  };
}

/** Reads a TrainDecoderConfig JSON file; returns every unet's config as the Decoder casts it. */
export async function loadDecoderUnetConfigs(path: string | URL): Promise<UnetConfig[]> {
  return parseDecoderUnetConfigs(await readFile(path, 'utf8'), String(path));
}
