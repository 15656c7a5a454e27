// CoCa-pytorch 0.0.6 `CoCa(...)` kwargs plus the three CoCaAdapter overrides. Upstream cannot build a
// usable adapter from a config (CoCa rejects unknown kwargs; the adapter asserts on missing overrides),
// so our rule: `base_model_kwargs` must hold `image_size`, `image_channels` and `max_text_len`; they are
// taken out and become the adapter's overrides, the rest goes to CoCa.
import { ConfigReader } from '../configFields.js';
import { ClipConfigError } from '../xclip/config.js';

export interface CoCaConfig {
  dim: number;
  numTokens: number;
  unimodalDepth: number;
  multimodalDepth: number;
  /** Width of the image tokens the attention pooling reads (`image_dim`, default dim). */
  imageDim: number;
  numImgQueries: number;
  dimHead: number;
  heads: number;
  /** Feed-forward inner width, dim * ff_mult. */
  ffInner: number;
  padId: number;
  /** CoCaAdapter overrides. */
  imageSize: number;
  imageChannels: number;
  maxTextLen: number;
}

const OVERRIDES = ['image_size', 'image_channels', 'max_text_len'] as const;

const COCA_KEYS = [
  'dim', 'num_tokens', 'unimodal_depth', 'multimodal_depth', 'image_dim', 'num_img_queries', 'dim_head', 'heads',
  'ff_mult', 'img_encoder', 'caption_loss_weight', 'contrastive_loss_weight', 'pad_id',
] as const;

export function parseCoCaConfig(kwargs: unknown, path = 'clip.base_model_kwargs', source = 'clip config'): CoCaConfig {
  const f = new ConfigReader(source, ClipConfigError).fields(kwargs, path);
  for (const key of OVERRIDES) {
    if (!f.has(key)) f.fail(key, `is required for make "coca" (the CoCaAdapter override; it is taken out of base_model_kwargs, not passed to CoCa)`);
  }
  f.rejectUnknown([...COCA_KEYS, ...OVERRIDES], `unknown option (CoCa 0.0.6 takes ${COCA_KEYS.join(', ')}; plus the adapter's ${OVERRIDES.join(', ')})`);
  if (f.has('img_encoder')) f.fail('img_encoder', 'an image encoder is a Python module and cannot come from a config');
  const dim = f.int('dim');
  const ffMult = f.number('ff_mult', 4, 0);
  const ffInner = dim * ffMult;
  if (!Number.isInteger(ffInner) || ffInner < 1) f.fail('ff_mult', `dim * ff_mult = ${ffInner} must be a positive integer`);
  f.number('caption_loss_weight', 1, -Infinity);
  f.number('contrastive_loss_weight', 1, -Infinity);
  return {
    dim,
    numTokens: f.int('num_tokens'),
    unimodalDepth: f.int('unimodal_depth', undefined, 0),
    multimodalDepth: f.int('multimodal_depth', undefined, 0),
    imageDim: f.has('image_dim') ? f.int('image_dim') : dim,
    numImgQueries: f.int('num_img_queries', 256),
    dimHead: f.int('dim_head', 64),
    heads: f.int('heads', 8),
    ffInner,
    padId: f.int('pad_id', 0, 0),
    imageSize: f.int('image_size'),
    imageChannels: f.int('image_channels'),
    maxTextLen: f.int('max_text_len'),
  };
}
