// Image inputs: small generated rasters (PNG, JPEG, WebP, GIF), byte mutations of them, header
// dimensions forged up to 65535^2, and non-raster content (SVG, XML, TIFF) under a raster name.
import { createRequire } from 'node:module';
import { crc32 } from 'node:zlib';
import { mutateBytes, truncate } from './bytes.js';
import type { Rng } from './rng.js';

// sharp is a dependency of packages/dalle2, not of bench: load it from there, typed as far as used here.
interface SharpChain {
  png(): SharpChain;
  jpeg(): SharpChain;
  webp(): SharpChain;
  gif(): SharpChain;
  tiff(): SharpChain;
  toBuffer(): Promise<Buffer>;
}
type Sharp = (input: Buffer, opts: { raw: { width: number; height: number; channels: 3 } }) => SharpChain;
const sharp = createRequire(new URL('../../packages/dalle2/package.json', import.meta.url))('sharp') as Sharp;

export interface ImageBases {
  png: Uint8Array;
  jpeg: Uint8Array;
  webp: Uint8Array;
  gif: Uint8Array;
  tiff: Uint8Array;
}

export async function imageBases(): Promise<ImageBases> {
  const w = 16;
  const px = Buffer.alloc(w * w * 3);
  for (let i = 0; i < w * w; i++) px.set([(i * 7) & 255, (i * 13) & 255, (i * 29) & 255], 3 * i);
  const img = () => sharp(px, { raw: { width: w, height: w, channels: 3 } });
  const u8 = (b: Buffer) => new Uint8Array(b.buffer, b.byteOffset, b.length);
  return {
    png: u8(await img().png().toBuffer()),
    jpeg: u8(await img().jpeg().toBuffer()),
    webp: u8(await img().webp().toBuffer()),
    gif: u8(await img().gif().toBuffer()),
    tiff: u8(await img().tiff().toBuffer()),
  };
}

const SVGS = [
  '<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"><image href="neighbour.png" width="64" height="64"/></svg>',
  '<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" xmlns:xi="http://www.w3.org/2001/XInclude" width="64" height="64"><text><xi:include href="neighbour.txt" parse="text"/></text></svg>',
  '<svg xmlns="http://www.w3.org/2000/svg" width="30000" height="30000"><rect width="30000" height="30000"/></svg>',
  '<!DOCTYPE svg [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><svg xmlns="http://www.w3.org/2000/svg"><text>&b;</text></svg>',
];

/** PNG IHDR width/height set to (w, h) with a valid chunk CRC. */
function forgePngSize(png: Uint8Array, w: number, h: number): Uint8Array {
  const out = png.slice();
  const v = new DataView(out.buffer);
  v.setUint32(16, w);
  v.setUint32(20, h);
  v.setUint32(29, crc32(out.subarray(12, 29)));
  return out;
}

/** A case: bytes and the extension they are saved under. */
export function imageCase(rng: Rng, bases: ImageBases): { kind: string; bytes: Uint8Array; ext: string } {
  const raster = rng.pick(['png', 'jpeg', 'webp', 'gif'] as const);
  const ext = rng.pick(['.png', '.jpg', '.webp', '.jpeg']);
  switch (rng.int(0, 6)) {
    case 0: return { kind: `mutated-${raster}`, bytes: mutateBytes(rng, bases[raster]), ext };
    case 1: return { kind: `mutated-header-${raster}`, bytes: mutateBytes(rng, bases[raster], 0, 64), ext };
    case 2: {
      const big = rng.pick([16383, 30000, 65535, 100_000]);
      return { kind: 'forged-png-size', bytes: forgePngSize(bases.png, big, rng.pick([big, 1, 64])), ext: '.png' };
    }
    case 3: return { kind: 'svg-as-raster', bytes: new TextEncoder().encode(rng.pick(SVGS)), ext };
    case 4: return { kind: 'tiff-as-raster', bytes: rng.chance(0.5) ? bases.tiff : mutateBytes(rng, bases.tiff), ext };
    default: return { kind: `truncated-${raster}`, bytes: truncate(rng, bases[raster]), ext };
  }
}
