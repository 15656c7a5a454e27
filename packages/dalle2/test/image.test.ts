// Host-side image helpers: sharp decode/encode, dalle2-laion's center crop and mask rule, torchvision's
// ToTensor / ToPILImage conversions (truncating), nearest mask resize. No GPU.
import { afterAll, describe, expect, it } from 'vitest';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32, deflateSync } from 'node:zlib';
import sharp from 'sharp';
import {
  ImageError, centerCropToSquare, chwToImage, decodeImage, encodePng, imageToChw, isImageFileName, maskFromImage, resizeImage,
  resizeMaskNearest, type RgbImage,
} from '../src/image/index.js';
import { removeTempDirs, tempDir } from './helpers/tmp.js';

afterAll(removeTempDirs);

/** w x h image whose pixel (x, y) is (x, y, x + y) (mod 256). */
function gradient(w: number, h: number): RgbImage {
  const data = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) data.set([x % 256, y % 256, (x + y) % 256], (y * w + x) * 3);
  return { width: w, height: h, data };
}

describe('PNG encode/decode (sharp)', () => {
  it('round-trips 8-bit RGB exactly', async () => {
    const img = gradient(7, 5);
    const png = await encodePng(img);
    expect([...png.subarray(1, 4)].map((c) => String.fromCharCode(c)).join('')).toBe('PNG');
    const back = await decodeImage(png);
    expect(back.width).toBe(7);
    expect(back.height).toBe(5);
    expect(Buffer.from(back.data).equals(Buffer.from(img.data))).toBe(true);
  });

  it('drops alpha without compositing (PIL convert("RGB")) and expands greyscale', async () => {
    const rgba = Buffer.from([10, 20, 30, 0, 200, 100, 50, 128]);
    const png = await sharp(rgba, { raw: { width: 2, height: 1, channels: 4 } }).png().toBuffer();
    const img = await decodeImage(png);
    expect([...img.data]).toEqual([10, 20, 30, 200, 100, 50]);
    const grey = await sharp(Buffer.from([7, 250]), { raw: { width: 2, height: 1, channels: 1 } }).png().toBuffer();
    expect([...(await decodeImage(grey)).data]).toEqual([7, 7, 7, 250, 250, 250]);
  });

  it('decodes files by path and names the file when it cannot', async () => {
    const dir = await tempDir();
    const good = join(dir, 'a.png');
    await writeFile(good, await encodePng(gradient(3, 3)));
    expect((await decodeImage(good)).width).toBe(3);
    const bad = join(dir, 'b.png');
    await writeFile(bad, 'not an image');
    await expect(decodeImage(bad)).rejects.toThrow(/cannot read image .*b\.png/);
  });

  it('rejects pixel buffers of the wrong size', async () => {
    await expect(encodePng({ width: 2, height: 2, data: new Uint8Array(5) })).rejects.toThrow(ImageError);
  });
});

describe('center crop (dalle2-laion utils.center_crop_to_square)', () => {
  it('keeps the centred min(w, h) square, left/top rounded down', () => {
    const wide = centerCropToSquare(gradient(7, 4)); // left = (7 - 4) // 2 = 1
    expect([wide.width, wide.height]).toEqual([4, 4]);
    expect([...wide.data.subarray(0, 3)]).toEqual([1, 0, 1]);
    const tall = centerCropToSquare(gradient(3, 6)); // top = (6 - 3) // 2 = 1
    expect([tall.width, tall.height]).toEqual([3, 3]);
    expect([...tall.data.subarray(0, 3)]).toEqual([0, 1, 1]);
    const sq = gradient(4, 4);
    expect(centerCropToSquare(sq)).toBe(sq);
  });
});

describe('tensor layout', () => {
  it('ToTensor: CHW floats byte / 255', () => {
    const chw = imageToChw({ width: 2, height: 1, data: Uint8Array.from([255, 0, 51, 0, 255, 102]) });
    expect([...chw]).toEqual([1, 0, 0, 1, 51 / 255, 102 / 255].map(Math.fround));
  });

  it('ToPILImage: (x * 255) truncated in float32, clamped to [0, 1]', () => {
    // 0.5 * 255 = 127.5 -> 127; 0.99999 * 255 -> 254; 1 -> 255; out of range and NaN clamp
    const img = chwToImage(Float32Array.from([0.5, 0.99999, 1, -0.2, 1.7, NaN]), 2, 1);
    // pixel 0 = (c0[0], c1[0], c2[0]) = (0.5, 1, 1.7), pixel 1 = (0.99999, -0.2, NaN)
    expect([...img.data]).toEqual([127, 255, 255, 254, 0, 0]);
  });

  it('round-trips bytes through ToTensor and ToPILImage', () => {
    const img = gradient(16, 3);
    expect(Buffer.from(chwToImage(imageToChw(img), 16, 3).data).equals(Buffer.from(img.data))).toBe(true);
  });
});

describe('masks', () => {
  it('keeps pixels whose red channel is >= 128', () => {
    const img = { width: 4, height: 1, data: Uint8Array.from([0, 255, 255, 127, 0, 0, 128, 0, 0, 255, 255, 255]) };
    expect([...maskFromImage(img)]).toEqual([0, 0, 1, 1]);
  });

  it('resizes masks with F.interpolate(nearest) indexing', () => {
    const m = Uint8Array.from([1, 0, 0, 1]); // 2x2
    expect([...resizeMaskNearest(m, 2, 2, 4)]).toEqual([1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 1, 1, 0, 0, 1, 1]);
    expect([...resizeMaskNearest(Uint8Array.from([1, 0, 1, 0]), 4, 1, 2, 1)]).toEqual([1, 1]);
  });
});

describe('resize and file names', () => {
  it('Lanczos-resizes to the requested size and keeps flat colours flat', async () => {
    const flat = { width: 10, height: 6, data: new Uint8Array(180).fill(200) };
    const small = await resizeImage(flat, 4, 4);
    expect([small.width, small.height]).toEqual([4, 4]);
    expect(small.data.every((v) => v === 200)).toBe(true);
  });

  it('knows image file names as upstream (png, jpg, jpeg) plus webp', () => {
    expect(['a.png', 'b.JPG', 'c.jpeg', 'd.webp'].every(isImageFileName)).toBe(true);
    expect(isImageFileName('e.gif')).toBe(false);
  });
});

describe('hostile images (issue 15)', () => {
  /** A PNG whose IHDR claims w x h (valid chunk CRCs, IDAT of one row unless tiny): decoding it whole would need w*h*3 bytes. */
  function pngHeader(w: number, h: number): Uint8Array {
    const chunk = (type: string, body: Uint8Array) => {
      const out = Buffer.alloc(12 + body.length);
      out.writeUInt32BE(body.length, 0);
      out.write(type, 4, 'latin1');
      out.set(body, 8);
      out.writeUInt32BE(crc32(out.subarray(4, 8 + body.length)), 8 + body.length);
      return out;
    };
    const ihdr = Buffer.alloc(13);
    ihdr.writeUInt32BE(w, 0);
    ihdr.writeUInt32BE(h, 4);
    ihdr.set([8, 2, 0, 0, 0], 8); // 8-bit RGB
    const sig = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    return Buffer.concat([sig, chunk('IHDR', ihdr), chunk('IDAT', deflateSync(Buffer.alloc((h <= 16 ? h : 1) * (1 + 3 * w)))), chunk('IEND', new Uint8Array(0))]);
  }

  it('an SVG saved as .png is refused by content, and cannot pull in a neighbouring file', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'secret.txt'), 'secret');
    await writeFile(join(dir, 'n.png'), await encodePng(gradient(4, 4)));
    const svgs = [
      `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="8" height="8"><image href="n.png" width="8" height="8"/></svg>`,
      `<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" xmlns:xi="http://www.w3.org/2001/XInclude" width="8" height="8"><text><xi:include href="secret.txt" parse="text"/></text></svg>`,
      `\n  <svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"/>`,
    ];
    for (const [i, svg] of svgs.entries()) {
      const path = join(dir, `evil${i}.png`);
      await writeFile(path, svg);
      await expect(decodeImage(path)).rejects.toThrow(new RegExp(`cannot read image .*evil${i}\\.png: not a PNG, JPEG, WebP or GIF file by content`));
      await expect(decodeImage(new TextEncoder().encode(svg))).rejects.toThrow(ImageError);
    }
  });

  it('refuses other non-raster formats (TIFF) and accepts WebP, JPEG and the first GIF frame', async () => {
    const raw = { raw: { width: 2, height: 2, channels: 3 as const } };
    const px = Buffer.from(gradient(2, 2).data);
    await expect(decodeImage(await sharp(px, raw).tiff().toBuffer())).rejects.toThrow(/not a PNG, JPEG, WebP or GIF file by content \(starts with bytes 49 49 2a 00/);
    for (const encoded of [await sharp(px, raw).webp({ lossless: true }).toBuffer(), await sharp(px, raw).jpeg().toBuffer(), await sharp(px, raw).gif().toBuffer()]) {
      const img = await decodeImage(encoded);
      expect([img.width, img.height, img.data.length]).toEqual([2, 2, 12]);
    }
  });

  it('a 16383x16383 PNG header is refused before decoding', async () => {
    const bytes = pngHeader(16383, 16383);
    expect(bytes.length).toBeLessThan(100_000);
    const before = process.memoryUsage().rss;
    const t0 = Date.now();
    await expect(decodeImage(bytes)).rejects.toThrow(/16383x16383 is 268402689 pixels \(limit 40000000\)/);
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(process.memoryUsage().rss - before).toBeLessThan(200 * 2 ** 20);
    // The bound is an option; under it the same kind of header decodes.
    expect((await decodeImage(pngHeader(4, 3), { maxPixels: 12 })).width).toBe(4);
    await expect(decodeImage(pngHeader(4, 4), { maxPixels: 12 })).rejects.toThrow(/4x4 is 16 pixels \(limit 12\)/);
  });
});
