// x_clip.CLIP (x-clip 0.7.0) constructor kwargs as DALLE2-pytorch 1.1.0's AdapterConfig passes them
// (`XClipAdapter(CLIP(**base_model_kwargs))`): upstream defaults, unknown keys ignored as CLIP's
// `**kwargs` does. Options that would change the state dict or need a Python module are refused.
import { ConfigReader, type ConfigFields } from '../configFields.js';

export class ClipConfigError extends Error {
  override name = 'ClipConfigError';
}

export interface XClipConfig {
  dimText: number;
  dimImage: number;
  dimLatent: number;
  numTextTokens: number;
  textEncDepth: number;
  textSeqLen: number;
  textHeads: number;
  textDimHead: number;
  textPadId: number;
  /** Rotary over min(text_dim_head, 32) features instead of the absolute position embedding. */
  textRotaryPosEmb: boolean;
  visualEncDepth: number;
  visualHeads: number;
  visualDimHead: number;
  visualImageSize: number;
  visualPatchSize: number;
  channels: number;
}

/** Every Transformer's FeedForward width multiplier (not a CLIP kwarg in 0.7.0). */
export const XCLIP_FF_MULT = 4;

/** Refused kwargs: [key, value that is fine, why]. */
const REFUSED: [string, unknown, string][] = [
  ['image_encoder', null, 'a custom image encoder is a Python module and cannot come from a config'],
  ['text_encoder', null, 'a custom text encoder is a Python module and cannot come from a config'],
  ['use_mlm', false, 'the MLM text SSL head is not supported (it adds a token and mlm.* weights)'],
  ['use_visual_ssl', false, 'visual SSL is not supported (it adds visual_ssl.* weights)'],
  ['visual_ssl', null, 'a visual SSL module cannot come from a config'],
  ['downsample_image_embeds', false, 'the convolutional to_visual_latent is not supported (it needs use_all_token_embeds)'],
];

export function parseXClipConfig(kwargs: unknown, path = 'clip.base_model_kwargs', source = 'clip config'): XClipConfig {
  const f = new ConfigReader(source, ClipConfigError).fields(kwargs, path);
  for (const [key, ok, why] of REFUSED) {
    if (f.obj[key] !== undefined && f.obj[key] !== ok) f.fail(key, why);
  }
  const cfg = readFields(f);
  const cls = f.bool('text_has_cls_token', true) || f.bool('visual_has_cls_token', true) || f.bool('use_all_token_embeds', false);
  if (!cls) f.fail('text_has_cls_token', 'CLS token must be included on both vision and text transformers if you are not using fine-grained contrastive learning loss');
  if (cfg.visualImageSize % cfg.visualPatchSize !== 0) {
    f.fail('visual_patch_size', `${cfg.visualPatchSize} must divide visual_image_size ${cfg.visualImageSize}`);
  }
  return cfg;
}

function readFields(f: ConfigFields): XClipConfig {
  return {
    dimText: f.int('dim_text', 512),
    dimImage: f.int('dim_image', 512),
    dimLatent: f.int('dim_latent', 512),
    numTextTokens: f.int('num_text_tokens', 10000),
    textEncDepth: f.int('text_enc_depth', 6, 0),
    textSeqLen: f.int('text_seq_len', 256),
    textHeads: f.int('text_heads', 8),
    textDimHead: f.int('text_dim_head', 64),
    textPadId: f.int('text_pad_id', 0, 0),
    textRotaryPosEmb: f.bool('text_rotary_pos_emb', false),
    visualEncDepth: f.int('visual_enc_depth', 6, 0),
    visualHeads: f.int('visual_heads', 8),
    visualDimHead: f.int('visual_dim_head', 64),
    visualImageSize: f.int('visual_image_size', 256),
    visualPatchSize: f.int('visual_patch_size', 32),
    channels: f.int('channels', 3),
  };
}
