// RGB images on the host (8-bit, row-major HWC) and the conversions dalle2-laion does with PIL and
// torchvision: decode (alpha dropped, as `Image.convert('RGB')`), center crop to a square
// (`utils.center_crop_to_square`), resize (PIL LANCZOS), ToTensor ([0, 1] CHW) and ToPILImage
// (`(x * 255).byte()`, truncating). PNG/JPEG coding goes through sharp.
import { readFile, stat } from 'node:fs/promises';
import type Sharp from 'sharp';

let sharpModule: Promise<typeof Sharp> | undefined;
/** sharp (libvips) loads on first use: users of the package that never touch images need not have it. */
function loadSharp(): Promise<typeof Sharp> {
  return (sharpModule ??= import('sharp').then((m) => m.default));
}

/** 8-bit RGB pixels, row-major, 3 bytes per pixel (HWC). */
export interface RgbImage {
  width: number;
  height: number;
  /** width * height * 3 bytes. */
  data: Uint8Array;
}

export class ImageError extends Error {
  override name = 'ImageError';
}

function checkImage(img: RgbImage, what: string): void {
  if (!Number.isInteger(img.width) || !Number.isInteger(img.height) || img.width < 1 || img.height < 1) {
    throw new ImageError(`${what}: invalid size ${img.width}x${img.height}`);
  }
  if (img.data.length !== img.width * img.height * 3) {
    throw new ImageError(`${what}: ${img.data.length} bytes for ${img.width}x${img.height} RGB (expected ${img.width * img.height * 3})`);
  }
}

export interface DecodeOptions {
  /** Most pixels (width x height, read from the header before decoding); default MAX_IMAGE_PIXELS. */
  maxPixels?: number;
}

/** ~40 MP (e.g. 8000x5000): any camera photo, while one decode stays within a few hundred MB. */
export const MAX_IMAGE_PIXELS = 40_000_000;
/** Largest image file read. */
export const MAX_IMAGE_FILE_BYTES = 128 * 2 ** 20;

/**
 * Decodes a PNG, JPEG, WebP or GIF (first frame) file or buffer to 8-bit RGB. The format is told by
 * content and anything else is refused: libvips would render e.g. an SVG saved as .png, and an SVG
 * can pull neighbouring files into its pixels. The header's size is checked before decoding, so a
 * small file cannot decode to gigabytes. Greyscale is expanded to RGB; an alpha channel is dropped
 * without compositing, as PIL's convert('RGB') does.
 */
export async function decodeImage(input: string | Uint8Array, opts: DecodeOptions = {}): Promise<RgbImage> {
  const label = typeof input === 'string' ? input : `${input.length}-byte image`;
  const maxPixels = opts.maxPixels ?? MAX_IMAGE_PIXELS;
  const bytes = typeof input === 'string' ? await readImageFile(input) : input;
  const format = sniffRaster(bytes);
  if (format === undefined) {
    throw new ImageError(`cannot read image ${label}: not a PNG, JPEG, WebP or GIF file by content (starts with ${describeHead(bytes)}); other formats such as SVG or TIFF are refused`);
  }
  try {
    const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const options = { limitInputPixels: maxPixels, pages: 1 } as const;
    // The header alone (no pixel limit yet), so the refusal below can say what was found.
    const sharp = await loadSharp();
    const meta = await sharp(buf, { pages: 1, limitInputPixels: false }).metadata();
    if (meta.format !== format) throw new ImageError(`cannot read image ${label}: content starts like ${format} but decodes as ${String(meta.format)}`);
    const { width = 0, height = 0 } = meta;
    if (width * height > maxPixels) {
      throw new ImageError(`cannot read image ${label}: ${width}x${height} is ${width * height} pixels (limit ${maxPixels})`);
    }
    const { data, info } = await sharp(buf, options).toColourspace('srgb').removeAlpha().raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new ImageError(`${label}: decoded to ${info.channels} channels, expected 3`);
    return { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.length) };
  } catch (err) {
    if (err instanceof ImageError) throw err;
    throw new ImageError(`cannot read image ${label}: ${(err as Error).message}`);
  }
}

async function readImageFile(path: string): Promise<Uint8Array> {
  try {
    const { size } = await stat(path);
    if (size > MAX_IMAGE_FILE_BYTES) throw new ImageError(`cannot read image ${path}: file is ${size} bytes (limit ${MAX_IMAGE_FILE_BYTES})`);
    return await readFile(path);
  } catch (err) {
    if (err instanceof ImageError) throw err;
    throw new ImageError(`cannot read image ${path}: ${(err as Error).message}`);
  }
}

type RasterFormat = 'png' | 'jpeg' | 'webp' | 'gif';

/** The raster format the bytes start with (magic numbers), or undefined. */
export function sniffRaster(b: Uint8Array): RasterFormat | undefined {
  const ascii = (at: number, text: string) => [...text].every((c, i) => b[at + i] === c.charCodeAt(0));
  if (b.length >= 8 && b[0] === 0x89 && ascii(1, 'PNG\r\n\x1a\n')) return 'png';
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'jpeg';
  if (b.length >= 12 && ascii(0, 'RIFF') && ascii(8, 'WEBP')) return 'webp';
  if (b.length >= 6 && (ascii(0, 'GIF87a') || ascii(0, 'GIF89a'))) return 'gif';
  return undefined;
}

function describeHead(b: Uint8Array): string {
  const head = [...b.subarray(0, 8)].map((x) => x.toString(16).padStart(2, '0')).join(' ');
  return head === '' ? 'nothing (empty file)' : `bytes ${head}`;
}

/** Encodes 8-bit RGB as PNG. */
export async function encodePng(img: RgbImage): Promise<Buffer> {
  checkImage(img, 'encodePng');
  const sharp = await loadSharp();
  return sharp(Buffer.from(img.data.buffer, img.data.byteOffset, img.data.length), {
    raw: { width: img.width, height: img.height, channels: 3 },
  })
    .png()
    .toBuffer();
}

/**
 * The largest centred square (dalle2-laion `utils.center_crop_to_square`: side = min(w, h),
 * left = (w - side) // 2, top = (h - side) // 2).
 */
export function centerCropToSquare(img: RgbImage): RgbImage {
  checkImage(img, 'centerCropToSquare');
  const side = Math.min(img.width, img.height);
  if (img.width === side && img.height === side) return img;
  const left = Math.floor((img.width - side) / 2);
  const top = Math.floor((img.height - side) / 2);
  const data = new Uint8Array(side * side * 3);
  for (let y = 0; y < side; y++) {
    const from = ((top + y) * img.width + left) * 3;
    data.set(img.data.subarray(from, from + side * 3), y * side * 3);
  }
  return { width: side, height: side, data };
}

/** Resize with a Lanczos-3 kernel (PIL's `Image.LANCZOS`, which dalle2-laion uses before CLIP). */
export async function resizeImage(img: RgbImage, width: number, height = width): Promise<RgbImage> {
  checkImage(img, 'resizeImage');
  if (img.width === width && img.height === height) return img;
  const sharp = await loadSharp();
  const { data, info } = await sharp(Buffer.from(img.data.buffer, img.data.byteOffset, img.data.length), {
    raw: { width: img.width, height: img.height, channels: 3 },
  })
    .resize(width, height, { kernel: 'lanczos3', fit: 'fill' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.length) };
}

/** torchvision ToTensor: float32 CHW [3, H, W] in [0, 1] (byte / 255). */
export function imageToChw(img: RgbImage): Float32Array {
  checkImage(img, 'imageToChw');
  const n = img.width * img.height;
  const out = new Float32Array(3 * n);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < 3; c++) out[c * n + i] = img.data[i * 3 + c] / 255;
  }
  return out;
}

/**
 * torchvision ToPILImage on a float CHW image in [0, 1]: `(x * 255).byte()`, i.e. the float32 product
 * truncated toward zero. Values outside [0, 1] are clamped first (decoder outputs already are).
 */
export function chwToImage(chw: Float32Array, width: number, height: number): RgbImage {
  const n = width * height;
  if (chw.length !== 3 * n) throw new ImageError(`chwToImage: ${chw.length} values for a 3x${height}x${width} image`);
  const data = new Uint8Array(3 * n);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < 3; c++) {
      const v = chw[c * n + i];
      const clamped = Number.isNaN(v) ? 0 : Math.min(Math.max(v, 0), 1);
      data[i * 3 + c] = Math.trunc(Math.fround(clamped * 255));
    }
  }
  return { width, height, data };
}

/**
 * Inpainting mask from a mask image: true (1) = keep the original pixel, false (0) = generate. A pixel
 * is kept where its red channel is >= 128 (the complement of dalle2-laion's `get_mask_from_image`,
 * which marks red < 128, inverted as its Gradio app does). Row-major [H, W].
 */
export function maskFromImage(img: RgbImage): Uint8Array {
  checkImage(img, 'maskFromImage');
  const n = img.width * img.height;
  const mask = new Uint8Array(n);
  for (let i = 0; i < n; i++) mask[i] = img.data[i * 3] >= 128 ? 1 : 0;
  return mask;
}

/** Nearest-neighbour resize of a [H, W] mask (how the decoder resizes inpainting masks). */
export function resizeMaskNearest(mask: Uint8Array, width: number, height: number, toWidth: number, toHeight = toWidth): Uint8Array {
  if (mask.length !== width * height) throw new ImageError(`resizeMaskNearest: ${mask.length} values for ${width}x${height}`);
  const out = new Uint8Array(toWidth * toHeight);
  for (let y = 0; y < toHeight; y++) {
    // F.interpolate(mode='nearest'): src = floor(dst * in / out)
    const sy = Math.min(height - 1, Math.floor((y * height) / toHeight));
    for (let x = 0; x < toWidth; x++) out[y * toWidth + x] = mask[sy * width + Math.min(width - 1, Math.floor((x * width) / toWidth))];
  }
  return out;
}

/** Image file extensions dalle2-laion accepts (`utils.is_image_file`), plus webp. */
export function isImageFileName(name: string): boolean {
  return /\.(png|jpe?g|webp)$/i.test(name);
}
