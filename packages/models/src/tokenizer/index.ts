export {
  ClipTokenizer,
  CLIP_VOCAB_SIZE,
  DEFAULT_VOCAB_URL,
  END_OF_TEXT,
  EOT_TOKEN,
  SOT_TOKEN,
  START_OF_TEXT,
  type DecodeOptions,
} from './clipTokenizer.js';
export { clipTokenize, dalle2Tokenize, defaultClipTokenizer, type WithTokenizer } from './defaultTokenizer.js';
export { clipRows, dalle2Rows, type BpeEncoder, type ClipTokenizeOptions, type Dalle2TokenizeOptions } from './tokenize.js';
export { basicClean, fixText, whitespaceClean } from './textClean.js';
export { htmlUnescape } from './htmlUnescape.js';
