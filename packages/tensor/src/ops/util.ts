// Small helpers every op uses: uniform packing, dispatch grids, input checks.
import type { Runtime } from '../runtime.js';
import type { Tensor } from '../tensor.js';
import type { DType } from '../dtype.js';
import { shapeStr } from '../shape.js';

/** Packs 4-byte uniform fields in WGSL struct order (u32/i32/f32 scalars; vec4 arrays via `array`). */
export class Uniforms {
  private readonly words: number[] = [];
  private readonly kinds: ('u' | 'i' | 'f')[] = [];

  u32(...v: number[]): this {
    for (const x of v) this.push(x, 'u');
    return this;
  }

  i32(...v: number[]): this {
    for (const x of v) this.push(x, 'i');
    return this;
  }

  f32(...v: number[]): this {
    for (const x of v) this.push(x, 'f');
    return this;
  }

  /** Pads with zero words to a 16-byte boundary (before a vec4/array member). */
  align16(): this {
    while (this.words.length % 4) this.push(0, 'u');
    return this;
  }

  /** An `array<vec4<u32>, len/4>` member holding `values` zero-padded to `len` words. */
  u32Array(values: readonly number[], len: number): this {
    if (values.length > len) throw new Error(`Uniforms.u32Array: ${values.length} values exceed ${len}`);
    this.align16();
    for (let i = 0; i < len; i++) this.push(values[i] ?? 0, 'u');
    return this;
  }

  build(): ArrayBuffer {
    const n = Math.max(4, Math.ceil(this.words.length / 4) * 4);
    const buf = new ArrayBuffer(n * 4);
    const dv = new DataView(buf);
    this.words.forEach((w, i) => {
      const k = this.kinds[i];
      if (k === 'f') dv.setFloat32(i * 4, w, true);
      else if (k === 'i') dv.setInt32(i * 4, w, true);
      else dv.setUint32(i * 4, w, true);
    });
    return buf;
  }

  private push(x: number, k: 'u' | 'i' | 'f'): void {
    if (k !== 'f' && !Number.isInteger(x)) throw new Error(`Uniforms: non-integer ${x} for an integer field`);
    this.words.push(x);
    this.kinds.push(k);
  }
}

/** Threads per workgroup of the 1-D kernels (elementwise, copies). */
export const WG = 256;

/**
 * Workgroup grid covering `threads` invocations of `wg` threads, folded into y when x would exceed the
 * per-dimension limit. Kernels recover the linear id as `gid.x + gid.y * nwg.x * wg`.
 */
export function grid1d(rt: Runtime, threads: number, wg = WG): [number, number] {
  const groups = Math.ceil(threads / wg);
  const maxX = rt.limits.maxComputeWorkgroupsPerDimension;
  if (groups <= maxX) return [groups, 1];
  const y = Math.ceil(groups / maxX);
  return [Math.ceil(groups / y), y];
}

export function sameRuntime(op: string, ...ts: Tensor[]): Runtime {
  const rt = ts[0].rt;
  for (const t of ts) if (t.rt !== rt) throw new Error(`${op}: tensors live on different runtimes`);
  return rt;
}

export function expectDtype(op: string, t: Tensor, allowed: readonly DType[], name = 'input'): void {
  if (!allowed.includes(t.dtype)) throw new Error(`${op}: ${name} dtype ${t.dtype} not supported (expected ${allowed.join(' | ')})`);
}

export function expectSameDtype(op: string, a: Tensor, b: Tensor): void {
  if (a.dtype !== b.dtype) throw new Error(`${op}: dtype mismatch ${a.dtype} ${shapeStr(a.shape)} vs ${b.dtype} ${shapeStr(b.shape)}`);
}

export function expectRank(op: string, t: Tensor, rank: number | readonly number[], name = 'input'): void {
  const ok = typeof rank === 'number' ? t.rank === rank : rank.includes(t.rank);
  if (!ok) throw new Error(`${op}: ${name} must have rank ${rank}, got ${shapeStr(t.shape)}`);
}

/** Highest rank the strided kernels (broadcast, permute, ...) accept. */
export const MAX_RANK = 8;

export function expectMaxRank(op: string, shape: readonly number[]): void {
  if (shape.length > MAX_RANK) throw new Error(`${op}: rank ${shape.length} ${shapeStr(shape)} exceeds ${MAX_RANK}`);
}

/**
 * Grid of `x` column groups and `n` further workgroups folded over y and z (kernels decode y + z * ny), for
 * counts past maxComputeWorkgroupsPerDimension; throws naming the op (and `what`) when even that does not fit.
 */
export function foldedGrid(rt: Runtime, op: string, x: number, n: number, what?: () => string): [number, number, number] {
  const max = rt.limits.maxComputeWorkgroupsPerDimension;
  const y = Math.min(n, max);
  const z = Math.ceil(n / y);
  if (x > max || z > max) throw new Error(`${op}: grid [${x}, ${y}, ${z}] exceeds ${max} workgroups per dimension${what ? ` (${what()})` : ''}`);
  return [x, y, z];
}

/** The device's subgroup size when it is fixed (min == max) and 4..32, else undefined (subgroup-shuffle kernels need it). */
export function fixedSubgroupSize(rt: Runtime): number | undefined {
  if (!rt.device.features.has('subgroups')) return undefined;
  const lo = rt.info.subgroupMinSize;
  const hi = rt.info.subgroupMaxSize;
  return lo !== undefined && lo === hi && lo >= 4 && lo <= 32 ? lo : undefined;
}
