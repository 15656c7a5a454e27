// conv2d (NCHW, PyTorch semantics) as an implicit GEMM, two kernels: 'tiled' (kernels/conv2d.wgsl,
// workgroup-memory tiles: the GPU default) and 'subgroup' (kernels/conv2d_sg.wgsl, register tiles fed by
// subgroup shuffles, no workgroup memory: the default on CPU drivers such as lavapipe). One pipeline per
// dtype and tile config; shapes, conv parameters, the bias flag and the activation are uniforms.
import { Tensor } from '../tensor.js';
import type { Runtime } from '../runtime.js';
import { shapeStr, type Shape } from '../shape.js';
import { Uniforms, expectDtype, expectRank, expectSameDtype, fixedSubgroupSize, foldedGrid, sameRuntime } from './util.js';
import { registerTunable } from '../tuning.js';
import { fill } from './fill.js';
import type { DType } from '../dtype.js';

/** Activations the conv kernel can apply after the bias (lib_activations names). */
export type Conv2dActivation = 'none' | 'relu' | 'silu' | 'gelu' | 'gelu_tanh' | 'quick_gelu' | 'sigmoid' | 'tanh';

/** Activation codes of `activate_code()` in kernels/lib_activation_codes.wgsl (the conv kernels). */
const ACT_CODES: Record<Conv2dActivation, number> = {
  none: 0, relu: 1, silu: 2, gelu: 3, gelu_tanh: 4, quick_gelu: 5, sigmoid: 6, tanh: 7,
};

export interface Conv2dOptions {
  /** Stride: one value or [sh, sw] (default 1). */
  stride?: number | readonly [number, number];
  /** Zero padding: p, [ph, pw] or per side [top, bottom, left, right] (default 0). */
  padding?: number | readonly [number, number] | readonly [number, number, number, number];
  /** Dilation: one value or [dh, dw] (default 1). */
  dilation?: number | readonly [number, number];
  /** Channel groups; must divide both channel counts (groups = Cin is depthwise). Default 1. */
  groups?: number;
  /** Activation fused after the bias (default 'none'). */
  activation?: Conv2dActivation;
  /** Force a kernel (tests, benchmarks); default picks by device. */
  variant?: Conv2dVariant;
}

export type Conv2dVariant = 'tiled' | 'subgroup';

/** Resolved conv geometry: sizes, per-axis parameters and output extent. */
export interface Conv2dGeometry {
  n: number; cin: number; h: number; w: number;
  cout: number; kh: number; kw: number; ho: number; wo: number;
  sh: number; sw: number; dh: number; dw: number;
  padTop: number; padBottom: number; padLeft: number; padRight: number;
  groups: number;
  /** Input channels per group. */
  cg: number;
  /** Output channels per group. */
  mg: number;
}

function pair(op: string, name: string, v: number | readonly number[] | undefined, dflt: number, min: number): [number, number] {
  const arr = v === undefined ? [dflt, dflt] : typeof v === 'number' ? [v, v] : [...v];
  if (arr.length !== 2 || arr.some((d) => !Number.isInteger(d) || d < min)) {
    throw new Error(`${op}: ${name} ${JSON.stringify(v)} must be an integer >= ${min} or a pair of them`);
  }
  return [arr[0], arr[1]];
}

function padding4(op: string, v: Conv2dOptions['padding']): [number, number, number, number] {
  const arr = v === undefined ? [0] : typeof v === 'number' ? [v] : [...v];
  if (![1, 2, 4].includes(arr.length) || arr.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new Error(`${op}: padding ${JSON.stringify(v)} must be p, [ph, pw] or [top, bottom, left, right] of integers >= 0`);
  }
  if (arr.length === 1) return [arr[0], arr[0], arr[0], arr[0]];
  if (arr.length === 2) return [arr[0], arr[0], arr[1], arr[1]];
  return [arr[0], arr[1], arr[2], arr[3]];
}

/** Checks conv2d operand shapes and options; returns the geometry (throws naming both shapes on mismatch). */
export function conv2dGeometry(xShape: Shape, wShape: Shape, biasShape: Shape | undefined, opts: Conv2dOptions = {}): Conv2dGeometry {
  const op = 'conv2d';
  if (xShape.length !== 4) throw new Error(`${op}: x must be [N, Cin, H, W], got ${shapeStr(xShape)}`);
  if (wShape.length !== 4) throw new Error(`${op}: weight must be [Cout, Cin/groups, kH, kW], got ${shapeStr(wShape)}`);
  const [n, cin, h, w] = xShape;
  const [cout, cgw, kh, kw] = wShape;
  const groups = opts.groups ?? 1;
  if (!Number.isInteger(groups) || groups < 1) throw new Error(`${op}: groups ${groups} must be a positive integer`);
  if (cin % groups !== 0 || cout % groups !== 0) {
    throw new Error(`${op}: groups ${groups} must divide input channels ${cin} (x ${shapeStr(xShape)}) and output channels ${cout} (weight ${shapeStr(wShape)})`);
  }
  if (cgw * groups !== cin) {
    throw new Error(`${op}: x ${shapeStr(xShape)} has ${cin} input channels but weight ${shapeStr(wShape)} expects ${cgw} * groups ${groups} = ${cgw * groups}`);
  }
  if (biasShape && (biasShape.length !== 1 || biasShape[0] !== cout)) {
    throw new Error(`${op}: bias ${shapeStr(biasShape)} must be [${cout}] for weight ${shapeStr(wShape)}`);
  }
  const [sh, sw] = pair(op, 'stride', opts.stride, 1, 1);
  const [dh, dw] = pair(op, 'dilation', opts.dilation, 1, 1);
  const [padTop, padBottom, padLeft, padRight] = padding4(op, opts.padding);
  const ho = Math.floor((h + padTop + padBottom - dh * (kh - 1) - 1) / sh) + 1;
  const wo = Math.floor((w + padLeft + padRight - dw * (kw - 1) - 1) / sw) + 1;
  if (!(ho > 0 && wo > 0) || kh < 1 || kw < 1) {
    throw new Error(
      `${op}: output size ${ho}x${wo} <= 0 for x ${shapeStr(xShape)}, weight ${shapeStr(wShape)}, ` +
        `stride [${sh}, ${sw}], padding [${padTop}, ${padBottom}, ${padLeft}, ${padRight}], dilation [${dh}, ${dw}]`,
    );
  }
  return { n, cin, h, w, cout, kh, kw, ho, wo, sh, sw, dh, dw, padTop, padBottom, padLeft, padRight, groups, cg: cgw, mg: cout / groups };
}

/** Tile configuration of kernels/conv2d.wgsl (shape-independent, so it is safe in defines). */
export interface Conv2dTile {
  /** Threads along output channels / pixels (workgroup = wgm * wgn threads). */
  wgm: number;
  wgn: number;
  /** Register block per thread: channels x pixels (multiples of 4). */
  tm: number;
  tn: number;
  /** k-slice staged per barrier (multiple of 4 and of the X-staging rows per pass). */
  bk: number;
}

// Tile ladder, largest first: 64x128 (8x8 registers per thread) is the fastest per workgroup; smaller
// tiles trade efficiency for enough workgroups to fill a GPU on small images (16x16x640 and below).
const TILES: readonly Conv2dTile[] = [
  { wgm: 8, wgn: 16, tm: 8, tn: 8, bk: 16 },
  { wgm: 8, wgn: 8, tm: 8, tn: 8, bk: 16 },
  { wgm: 8, wgn: 8, tm: 4, tn: 4, bk: 16 },
];
/** Below this many workgroups a GPU has idle cores: use the next smaller tile. */
const MIN_WORKGROUPS = 256;
let forcedTile: Conv2dTile | undefined;

/** Forces one tile config for every conv2d (tests / tuning); undefined restores the automatic choice. */
export function conv2dSetTile(tile: Conv2dTile | undefined): void {
  forcedTile = tile && { ...tile };
}

/**
 * 2-D convolution, PyTorch `F.conv2d` semantics: x [N, Cin, H, W], weight [Cout, Cin/groups, kH, kW],
 * optional bias [Cout] -> [N, Cout, Ho, Wo]. f32 or f16 (f16 storage, f32 accumulation).
 */
export function conv2d(x: Tensor, weight: Tensor, bias?: Tensor, opts: Conv2dOptions = {}): Tensor {
  const op = 'conv2d';
  const rt = bias ? sameRuntime(op, x, weight, bias) : sameRuntime(op, x, weight);
  expectRank(op, x, 4, 'x');
  expectRank(op, weight, 4, 'weight');
  expectDtype(op, x, ['f32', 'f16'], 'x');
  expectSameDtype(op, x, weight);
  if (bias) expectSameDtype(op, x, bias);
  const g = conv2dGeometry(x.shape, weight.shape, bias?.shape, opts);
  const act = ACT_CODES[opts.activation ?? 'none'];
  if (act === undefined) throw new Error(`${op}: unknown activation ${String(opts.activation)}`);
  if (opts.variant !== undefined && opts.variant !== 'tiled' && opts.variant !== 'subgroup') {
    throw new Error(`${op}: unknown variant '${String(opts.variant)}' (expected tiled | subgroup)`);
  }
  const y = Tensor.empty(rt, [g.n, g.cout, g.ho, g.wo], x.dtype);
  if (y.size === 0) return y;
  const choice = chooseKernel(rt, g, opts, () => ({ dtype: x.dtype, x: x.shape, w: weight.shape, bias: bias !== undefined, opts: geometryOpts(g) }));
  dispatch({ rt, x, weight, bias, y, g, act }, choice);
  return y;
}

/** A kernel and its tiling: what tuning measures and stores per shape. */
export type Conv2dChoice = { variant: 'tiled'; tile: Conv2dTile } | { variant: 'subgroup'; tile: Conv2dSgTile };

function dispatch(args: ConvDispatch, c: Conv2dChoice): void {
  if (c.variant === 'subgroup') runSubgroup(args, c.tile);
  else runTiled(args, fitTile(args.rt.limits, { ...c.tile }));
}

/** Forced variant or tile (tests, benchmarks), else the tuned choice for this shape, else the built-in one. */
function chooseKernel(rt: Runtime, g: Conv2dGeometry, opts: Conv2dOptions, spec: () => TuneSpec): Conv2dChoice {
  const variant = opts.variant ?? (forcedTile ? 'tiled' : forcedSgTile ? 'subgroup' : undefined);
  if (variant === 'subgroup') return { variant, tile: forcedSgTile ?? defaultSgTile(rt) };
  if (variant === 'tiled') return { variant, tile: forcedTile ?? defaultTile(rt, g) };
  const s = spec();
  return rt.tuning.lookup<Conv2dChoice>('conv2d', tuneKey(s), s) ?? defaultChoice(rt, g);
}

function defaultChoice(rt: Runtime, g: Conv2dGeometry): Conv2dChoice {
  return rt.info.isSoftware && fixedSubgroupSize(rt) ? { variant: 'subgroup', tile: defaultSgTile(rt) } : { variant: 'tiled', tile: defaultTile(rt, g) };
}

/** Kernels usable on this runtime ('subgroup' needs a fixed subgroup size). */
export function conv2dVariants(rt: Runtime): Conv2dVariant[] {
  return fixedSubgroupSize(rt) ? ['tiled', 'subgroup'] : ['tiled'];
}

interface ConvDispatch {
  rt: Runtime;
  x: Tensor;
  weight: Tensor;
  bias: Tensor | undefined;
  y: Tensor;
  g: Conv2dGeometry;
  act: number;
}

function runTiled({ rt, x, weight, bias, y, g, act }: ConvDispatch, t: Conv2dTile): void {
  const npix = g.ho * g.wo;
  const tilesP = Math.ceil(npix / (t.wgn * t.tn));
  const tilesM = Math.ceil(g.mg / (t.wgm * t.tm));
  const total = tilesP * tilesM * g.n * g.groups;
  const [, gy, gz] = foldedGrid(rt, 'conv2d', 1, total, () => `x ${shapeStr(x.shape)}, weight ${shapeStr(weight.shape)}`);
  // BK as mixed-radix digits of (ci, kh, kw), so the kernel can advance k by BK without dividing.
  const khw = g.kh * g.kw;
  const pointwise = isPointwise(g);
  const stepCi = Math.floor(t.bk / khw);
  const uniforms = new Uniforms()
    .u32(g.cin, g.h, g.w, g.h * g.w)
    .u32(g.cout, g.wo, npix, g.cg * khw)
    .u32(g.cg, g.mg, g.groups, g.kw)
    .u32(g.sh, g.sw, g.padTop, g.padLeft)
    .u32(g.dh, g.dw, g.kh, tilesP)
    .u32(tilesM, total, t.bk % g.kw, Math.floor((t.bk % khw) / g.kw))
    .u32(stepCi * g.h * g.w, bias ? 1 : 0, pointwise ? 1 : 0, act)
    .build();
  rt.run({
    kernel: 'conv2d',
    defines: { T: x.dtype, WGM: t.wgm, WGN: t.wgn, TM: t.tm, TN: t.tn, BK: t.bk },
    inputs: [x, weight, bias ?? weight], // without bias the weight is bound as a never-read placeholder
    outputs: [y],
    uniforms,
    workgroups: [gy, gz],
  });
}

/** 1x1, stride 1, unpadded: the im2col matrix is X itself. */
function isPointwise(g: Conv2dGeometry): boolean {
  return g.kh * g.kw === 1 && g.sh === 1 && g.sw === 1 && g.padTop + g.padBottom + g.padLeft + g.padRight === 0;
}

/** Register blocking of kernels/conv2d_sg.wgsl: pixel groups (ra) and channel groups (g) of SG per lane. */
export interface Conv2dSgTile {
  ra: number;
  g: number;
}
let forcedSgTile: Conv2dSgTile | undefined;

/** Forces the subgroup kernel's blocking (tests / tuning); undefined restores the automatic choice. */
export function conv2dSetSgTile(tile: Conv2dSgTile | undefined): void {
  forcedSgTile = tile && { ...tile };
}

function defaultSgTile(rt: Runtime): Conv2dSgTile {
  // About 32 vec4 accumulators per lane in 2 channel groups. Lavapipe (SG 8, CPU time): 22-26 GFLOP/s
  // with 2x2 groups at 32x32x320 and 8x8x1280, 20-24 with 3 pixel groups x 1 channel group, 13-17 for
  // bigger blocks (register spills), 12-20 for smaller. One blocking for every shape keeps the number of
  // pipelines (and a cold start's compile time: ~6 s per variant there) down; tuning may pick others.
  const sg = fixedSubgroupSize(rt) ?? 8;
  return { ra: Math.max(1, Math.round(16 / sg)), g: 2 };
}

function runSubgroup({ rt, x, weight, bias, y, g, act }: ConvDispatch, t: Conv2dSgTile): void {
  const sg = fixedSubgroupSize(rt);
  if (!sg) throw new Error(`conv2d: variant 'subgroup' needs the subgroups feature with a fixed subgroup size (${rt.describe()})`);
  if (!(Number.isInteger(t.ra) && Number.isInteger(t.g) && t.ra >= 1 && t.g >= 1)) throw new Error(`conv2d: unusable subgroup tile ${JSON.stringify(t)}`);
  const npix = g.ho * g.wo;
  const kdim = g.cg * g.kh * g.kw;
  const wVec = kdim % 4 === 0;
  const rows = g.n * npix;
  const tilesM = Math.ceil(rows / (t.ra * sg));
  const tilesN = Math.ceil(g.mg / (t.g * sg * 4));
  const workgroups = foldedGrid(rt, 'conv2d', tilesN, tilesM * g.groups, () => `x ${shapeStr(x.shape)}, weight ${shapeStr(weight.shape)}`);
  const uniforms = new Uniforms()
    .u32(g.cin, g.h, g.w, g.h * g.w)
    .u32(g.cout, g.wo, npix, kdim)
    .u32(g.cg, g.mg, g.groups, g.kw)
    .u32(g.sh, g.sw, g.padTop, g.padLeft)
    .u32(g.dh, g.dw, g.kh, rows)
    .u32(tilesM, bias ? 1 : 0, act, 0)
    .build();
  rt.run({
    kernel: 'conv2d_sg',
    defines: {
      T: x.dtype, WT: wVec ? `vec4<${x.dtype}>` : x.dtype, SG: sg, RA: t.ra, G: t.g, W_VEC: wVec,
    },
    inputs: [x, weight, bias ?? weight],
    outputs: [y],
    uniforms,
    workgroups,
  });
}

function defaultTile(rt: Runtime, g: Conv2dGeometry): Conv2dTile {
  const count = (t: Conv2dTile) => Math.ceil((g.ho * g.wo) / (t.wgn * t.tn)) * Math.ceil(g.mg / (t.wgm * t.tm)) * g.n * g.groups;
  const cpu = rt.info.isSoftware /* few workgroups run at a time there: the biggest tile wins */;
  return TILES.find((c, i) => cpu || i === TILES.length - 1 || count(c) >= MIN_WORKGROUPS) ?? TILES[0];
}

/** Shrinks the k-slice until both staged tiles fit the adapter's workgroup memory; checks the tile shape. */
function fitTile(limits: Record<string, number>, t: Conv2dTile): Conv2dTile {
  const wg = t.wgm * t.wgn;
  const bn4 = (t.wgn * t.tn) / 4;
  const rows = wg / bn4;
  const bytes = (bk: number) => bk * (t.wgm * t.tm + t.wgn * t.tn) * 4;
  while (bytes(t.bk) > limits.maxComputeWorkgroupStorageSize && t.bk % 8 === 0 && (t.bk / 2) % rows === 0) t.bk /= 2;
  const ok = t.tm % 4 === 0 && t.tn % 4 === 0 && t.bk % 4 === 0 && Number.isInteger(rows) && t.bk % rows === 0;
  if (!ok || wg > limits.maxComputeInvocationsPerWorkgroup || bytes(t.bk) > limits.maxComputeWorkgroupStorageSize) {
    throw new Error(`conv2d: unusable tile config ${JSON.stringify(t)}`);
  }
  return t;
}

// ---------------------------------------------------------------- tuning

/** What tuning needs to rebuild a conv's inputs (JSON-safe). */
interface TuneSpec {
  dtype: DType;
  x: readonly number[];
  w: readonly number[];
  bias: boolean;
  opts: Pick<Conv2dOptions, 'stride' | 'padding' | 'dilation' | 'groups'>;
}

function geometryOpts(g: Conv2dGeometry): TuneSpec['opts'] {
  return { stride: [g.sh, g.sw], padding: [g.padTop, g.padBottom, g.padLeft, g.padRight], dilation: [g.dh, g.dw], groups: g.groups };
}

/** Shape identity for the tuning table: everything the kernels' speed depends on (not the data or activation). */
function tuneKey(s: TuneSpec): string {
  return `${s.dtype} x[${s.x}] w[${s.w}] ${JSON.stringify(s.opts)}${s.bias ? ' bias' : ''}`;
}

const isInt = (v: unknown, min: number) => typeof v === 'number' && Number.isInteger(v) && v >= min;

registerTunable('conv2d', {
  candidates(rt, spec) {
    const s = spec as TuneSpec;
    const g = conv2dGeometry(s.x, s.w, s.bias ? [s.w[0]] : undefined, s.opts);
    const out: Conv2dChoice[] = [defaultChoice(rt, g)];
    const add = (c: Conv2dChoice) => {
      if (!out.some((o) => JSON.stringify(o) === JSON.stringify(c))) out.push(c);
    };
    // A few candidates per kernel (each is a pipeline to compile): the ends of the tiled ladder, and the
    // subgroup blockings that measured within reach of the best on lavapipe.
    for (const tile of [TILES[0], TILES[TILES.length - 1]]) {
      try {
        add({ variant: 'tiled', tile: fitTile(rt.limits, { ...tile }) });
      } catch {
        // does not fit this adapter
      }
    }
    if (fixedSubgroupSize(rt)) for (const tile of [{ ra: 2, g: 2 }, { ra: 3, g: 1 }, { ra: 4, g: 1 }]) add({ variant: 'subgroup', tile });
    return out;
  },
  prepare(rt, spec) {
    const s = spec as TuneSpec;
    const x = fill(rt, s.x, 0.5, s.dtype);
    const w = fill(rt, s.w, 0.5, s.dtype);
    const b = s.bias ? fill(rt, [s.w[0]], 0.5, s.dtype) : undefined;
    const g = conv2dGeometry(s.x, s.w, b?.shape, s.opts);
    return {
      run: (choice) => {
        const y = Tensor.empty(rt, [g.n, g.cout, g.ho, g.wo], s.dtype);
        dispatch({ rt, x, weight: w, bias: b, y, g, act: 0 }, choice as Conv2dChoice);
        y.dispose();
      },
      dispose: () => {
        for (const t of [x, w, b]) t?.dispose();
      },
    };
  },
  valid(choice) {
    const c = choice as Partial<Conv2dChoice> | null;
    if (!c || typeof c.tile !== 'object' || c.tile === null) return false;
    if (c.variant === 'subgroup') return isInt(c.tile.ra, 1) && isInt(c.tile.g, 1);
    if (c.variant !== 'tiled') return false;
    const t = c.tile;
    return isInt(t.wgm, 1) && isInt(t.wgn, 1) && isInt(t.tm, 4) && isInt(t.tn, 4) && isInt(t.bk, 4);
  },
});
