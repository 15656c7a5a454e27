// Host-side image helpers (sharp): decode/encode, center crop, resize, masks, tensor layout.
export {
  ImageError,
  MAX_IMAGE_PIXELS,
  centerCropToSquare,
  chwToImage,
  decodeImage,
  encodePng,
  imageToChw,
  isImageFileName,
  maskFromImage,
  resizeImage,
  resizeMaskNearest,
  sniffRaster,
  type DecodeOptions,
  type RgbImage,
} from './image.js';
export { readPngText, withPngText } from './pngText.js';
