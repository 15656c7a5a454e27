// Host-side image helpers (sharp): decode/encode, center crop, resize, masks, tensor layout.
export {
  ImageError,
  centerCropToSquare,
  chwToImage,
  decodeImage,
  encodePng,
  imageToChw,
  isImageFileName,
  maskFromImage,
  resizeImage,
  resizeMaskNearest,
  type RgbImage,
} from './image.js';
export { readPngText, withPngText } from './pngText.js';
