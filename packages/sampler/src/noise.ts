// Noise sources: where a sampler's torch.randn / torch.randn_like draws come from. Samplers take a
// NoiseSource argument, so runs are reproducible (SeededNoise) or replay recorded upstream draws
// exactly (ReplayNoise over a fixture's noise_000, noise_001, ... tensors).
import { Tensor, type Runtime, type SafetensorsFile } from '@dalle2/tensor';

/** A stream of standard-normal draws; each call returns numel(shape) values in row-major order. */
export interface NoiseSource {
  next(shape: readonly number[]): Float32Array;
}

function numel(shape: readonly number[]): number {
  return shape.reduce((p, d) => p * d, 1);
}

function shapeStr(shape: readonly number[] | undefined): string {
  return shape ? `[${shape.join(', ')}]` : '[?]';
}

/** Draws a noise tensor of `shape` from `source` (torch.randn(shape) / randn_like). */
export function drawNoise(rt: Runtime, source: NoiseSource, shape: readonly number[]): Tensor {
  return Tensor.from(rt, source.next(shape), shape);
}

/**
 * Seeded standard normals: xoshiro128** (seeded through splitmix32) for uniforms, Box-Muller for the
 * normals (both outputs of each pair used, 53-bit uniforms so tails reach about 8.5 sigma). A draw
 * depends only on the seed and the sizes of earlier draws; it does not match torch's generator.
 */
export class SeededNoise implements NoiseSource {
  private readonly s = new Uint32Array(4);

  constructor(readonly seed: number) {
    if (!Number.isSafeInteger(seed)) throw new Error(`SeededNoise: seed ${seed} must be a safe integer`);
    // splitmix32 over both 32-bit halves of the seed fills the 128-bit state (never all zero)
    let x = (seed >>> 0) ^ Math.imul(Math.floor(seed / 2 ** 32) >>> 0, 0x9e3779b9);
    for (let i = 0; i < 4; i++) {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      this.s[i] = (z ^ (z >>> 16)) >>> 0;
    }
  }

  /** Next 32-bit output of xoshiro128**. */
  private nextU32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1], 5), 7), 9) >>> 0;
    const t = s[1] << 9;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** Uniform in (0, 1] with 53 random bits. */
  private uniform(): number {
    const hi = this.nextU32() >>> 5; // 27 bits
    const lo = this.nextU32() >>> 6; // 26 bits
    return (hi * 67108864 + lo + 1) / 9007199254740992;
  }

  next(shape: readonly number[]): Float32Array {
    const n = numel(shape);
    const out = new Float32Array(n);
    for (let i = 0; i < n; i += 2) {
      const r = Math.sqrt(-2 * Math.log(this.uniform()));
      const theta = 2 * Math.PI * this.uniform();
      out[i] = r * Math.cos(theta);
      if (i + 1 < n) out[i + 1] = r * Math.sin(theta);
    }
    return out;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** One recorded draw: values and, when known, the shape torch drew it with. */
export interface RecordedDraw {
  data: Float32Array;
  shape?: readonly number[];
  /** Name for error messages (e.g. the safetensors tensor name). */
  name?: string;
}

/** Replays recorded draws in order; throws on a shape mismatch or when the recording runs out. */
export class ReplayNoise implements NoiseSource {
  private readonly draws: RecordedDraw[];
  private index = 0;

  constructor(draws: readonly (Float32Array | RecordedDraw)[]) {
    this.draws = draws.map((d, i) => (d instanceof Float32Array ? { data: d, name: `draw ${i}` } : d));
  }

  /**
   * The draws `<prefix>noise_000`, `<prefix>noise_001`, ... of a safetensors file, in index order
   * (e.g. prefix 'unet0.' for decoder/p_sample.safetensors). Numbering must be contiguous from 000.
   */
  static async fromSafetensors(file: SafetensorsFile, prefix = ''): Promise<ReplayNoise> {
    const re = new RegExp(`^${prefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}noise_(\\d+)$`);
    const found = file
      .keys()
      .map((k) => ({ k, m: re.exec(k) }))
      .filter((e): e is { k: string; m: RegExpExecArray } => e.m !== null)
      .map(({ k, m }) => ({ k, i: Number(m[1]) }))
      .sort((a, b) => a.i - b.i);
    found.forEach(({ k, i }, pos) => {
      if (i !== pos) throw new Error(`ReplayNoise.fromSafetensors: ${k} found where draw ${pos} was expected (numbering has a gap)`);
    });
    const draws = await Promise.all(found.map(async ({ k }) => ({ data: await file.readFloat32(k), shape: file.info(k).shape, name: k })));
    return new ReplayNoise(draws);
  }

  /** Draws handed out so far. */
  get consumed(): number {
    return this.index;
  }

  /** Draws left. */
  get remaining(): number {
    return this.draws.length - this.index;
  }

  next(shape: readonly number[]): Float32Array {
    const i = this.index;
    const d = this.draws[i];
    if (!d) {
      throw new Error(`ReplayNoise: draw ${i} asks for shape ${shapeStr(shape)} but only ${this.draws.length} draws were recorded`);
    }
    const shapeOk = d.shape ? d.shape.length === shape.length && d.shape.every((v, k) => v === shape[k]) : true;
    if (!shapeOk || d.data.length !== numel(shape)) {
      const recorded = d.shape ? shapeStr(d.shape) : `${d.data.length} values`;
      throw new Error(`ReplayNoise: draw ${i} asks for shape ${shapeStr(shape)} but recording ${d.name} has ${recorded}`);
    }
    this.index++;
    return d.data.slice(); // callers may write into their draw
  }
}

/**
 * One stream per batch row group: a draw of shape [R, ...] with R a multiple of `streams.length`
 * gives rows [i * R/n, (i + 1) * R/n) to stream i. Each image keeps its own stream whatever batch it
 * runs in (rows of one image are contiguous: the prior's candidates are repeated row-wise), so
 * batching and the other inputs never change an image.
 */
export class RowNoise implements NoiseSource {
  constructor(readonly streams: readonly NoiseSource[]) {
    if (streams.length === 0) throw new Error('RowNoise: no streams');
  }

  next(shape: readonly number[]): Float32Array {
    const n = this.streams.length;
    const rows = shape[0];
    if (shape.length === 0 || rows % n !== 0) {
      throw new Error(`RowNoise: draw of shape ${shapeStr(shape)} does not split into ${n} row groups`);
    }
    const per = [rows / n, ...shape.slice(1)];
    const size = numel(per);
    const out = new Float32Array(size * n);
    this.streams.forEach((s, i) => out.set(s.next(per), i * size));
    return out;
  }
}

/** The seed of image `sample` of a run with seed `seed` (image k of seed s is image 0 of seed s + k). */
export function imageSeed(seed: number, sample: number): number {
  const s = seed + sample;
  if (!Number.isSafeInteger(s)) throw new Error(`seed ${seed} + image ${sample} is not a safe integer`);
  return s;
}
