// conv2d (conv2d.ts variant 'tiled'; NCHW, grouped, strided, padded, dilated) as an implicit GEMM per
// (batch, group): Y[co, p] = sum_k W[co, k] * X_im2col[k, p], p = oh*Wo + ow, k = (ci*kH + kh)*kW + kw
// (weight order). A workgroup of WGM x WGN threads computes a BM x BN tile of Y (BM = WGM*TM channels,
// BN = WGN*TN pixels). Per k-slice of BK it stages W[BM, BK] and the im2col slice X[BK, BN] in workgroup
// memory (as vec4 runs of 4 channels / 4 pixels), then each thread accumulates a TM x TN register block in
// f32: TM/4 + TN/4 vec4 reads feed TM*TN FMAs. Threads own 4-wide runs spaced WGM*4 / WGN*4 apart, so
// workgroup-memory reads are conflict-free and adjacent threads store adjacent pixels. Staging never
// divides in the loop: a thread keeps the same 4 pixels for every slice, and its rows' k -> (ci, kh, kw)
// decomposition advances by BK with precomputed mixed-radix steps. p.pointwise (1x1, stride 1, no
// padding): X_im2col is X itself (plain GEMM, only the pixel guard). Bias, pointwise and the fused
// activation are uniforms (workgroup-uniform branches), so one pipeline per dtype and tile serves every
// conv. Grid: workgroup wid.x + wid.y * num_workgroups.x enumerates total tiles (folded into y when large).
// Defines:
//   T = `f32` -- f32 | f16: element type of x, weight, bias and y
//   WGM = `8` -- threads along channels (conv2d.ts TILES: 8)
//   WGN = `8` -- threads along pixels (16 | 8)
//   TM = `4` -- channels per thread, a multiple of 4 (8 | 4)
//   TN = `4` -- pixels per thread, a multiple of 4 (8 | 4)
//   BK = `16` -- k slice staged per barrier: a multiple of 4 and of WGM*WGN / (WGN*TN/4) (conv2d.ts fitTile)
// Bindings (group 0):
//   @binding(0) x: array<T>, read -- input [N, Cin, H, W]
//   @binding(1) wt: array<T>, read -- weight [Cout, Cin/groups, kH, kW]
//   @binding(2) bias: array<T>, read -- bias [Cout] (the weight again when has_bias = 0, never read)
//   @binding(3) y: array<T>, read_write -- output [N, Cout, Ho, Wo]
//   @binding(4) p: Params, uniform
// Params:
//   cin: u32 -- input channels
//   h: u32 -- input height
//   w: u32 -- input width
//   hw: u32 -- h * w
//   cout: u32 -- output channels
//   wo: u32 -- output width
//   npix: u32 -- output pixels per image: ho * wo
//   kdim: u32 -- GEMM depth: cg * kh * kw
//   cg: u32 -- input channels per group
//   mg: u32 -- output channels per group
//   groups: u32 -- groups
//   kw: u32 -- kernel width
//   sh: u32 -- stride along h
//   sw: u32 -- stride along w
//   pad_t: u32 -- padding on top
//   pad_l: u32 -- padding on the left
//   dh: u32 -- dilation along h
//   dw: u32 -- dilation along w
//   kh: u32 -- kernel height
//   tiles_p: u32 -- pixel tiles: ceil(npix / BN)
//   tiles_m: u32 -- channel tiles per group: ceil(mg / BM)
//   total: u32 -- tiles in all: tiles_p * tiles_m * N * groups
//   step_kw: u32 -- BK as mixed-radix digits of (ci, kh, kw): BK % kw
//   step_kh: u32 -- (BK % (kh * kw)) / kw
//   step_c: u32 -- floor(BK / (kh * kw)) * h * w
//   has_bias: u32 -- 1: add bias
//   pointwise: u32 -- 1: 1x1, stride 1, no padding
//   act: u32 -- fused activation code (lib_activation_codes; conv2d.ts ACT_CODES)
//!include lib_activation_codes

struct Params {
  cin: u32, h: u32, w: u32, hw: u32,
  cout: u32, wo: u32, npix: u32, kdim: u32,
  cg: u32, mg: u32, groups: u32, kw: u32,
  sh: u32, sw: u32, pad_t: u32, pad_l: u32,
  dh: u32, dw: u32, kh: u32, tiles_p: u32,
  tiles_m: u32, total: u32, step_kw: u32, step_kh: u32,  // BK = (step_ci*kH + step_kh)*kW + step_kw
  step_c: u32, has_bias: u32, pointwise: u32, act: u32,  // step_c = step_ci * H * W; act: see activate_code()
}

@group(0) @binding(0) var<storage, read> x: array<{{T}}>;
@group(0) @binding(1) var<storage, read> wt: array<{{T}}>;
@group(0) @binding(2) var<storage, read> bias: array<{{T}}>;
@group(0) @binding(3) var<storage, read_write> y: array<{{T}}>;
@group(0) @binding(4) var<uniform> p: Params;

const WGM: u32 = {{WGM}}u;  // threads along channels
const WGN: u32 = {{WGN}}u;  // threads along pixels
const TM: u32 = {{TM}}u;    // channels per thread (multiple of 4)
const TN: u32 = {{TN}}u;    // pixels per thread (multiple of 4)
const BK: u32 = {{BK}}u;    // k-slice staged per barrier
const WG: u32 = WGM * WGN;
const BM: u32 = WGM * TM;
const BN: u32 = WGN * TN;
const BM4: u32 = BM / 4u;
const BN4: u32 = BN / 4u;
const B_ROWS: u32 = WG / BN4;       // rows of the X slice staged per pass (WG % BN4 == 0)
const B_PASSES: u32 = BK / B_ROWS;  // passes per slice (BK % B_ROWS == 0)

var<workgroup> a_s: array<vec4<f32>, BK * BM4>;  // [kk][m/4]: W slice, 4 channels per vec4
var<workgroup> b_s: array<vec4<f32>, BK * BN4>;  // [kk][n/4]: im2col slice, 4 pixels per vec4

// A staging row's position in the reduction: k, and its (kw, kh, ci*H*W) decomposition.
struct KPos { k: u32, kw: u32, kh: u32, c: u32 }

fn kpos_at(k: u32) -> KPos {
  let khw = p.kh * p.kw;
  let ci = k / khw;
  let r = k - ci * khw;
  let kh = r / p.kw;
  return KPos(k, r - kh * p.kw, kh, ci * p.hw);
}

// k + BK without dividing: add the precomputed digits with carries.
fn kpos_next(s: KPos) -> KPos {
  var kw = s.kw + p.step_kw;
  var kh = s.kh + p.step_kh;
  var c = s.c + p.step_c;
  if (kw >= p.kw) { kw -= p.kw; kh += 1u; }
  if (kh >= p.kh) { kh -= p.kh; c += p.hw; }
  return KPos(s.k + BK, kw, kh, c);
}

// One k of the register block: TM/4 + TN/4 vec4 reads of workgroup memory, TM*TN FMAs.
fn step(acc: ptr<function, array<vec4<f32>, TM * TN / 4u>>, kk: u32, tm_i: u32, tn_i: u32) {
  var b: array<vec4<f32>, TN / 4u>;
  for (var jq = 0u; jq < TN / 4u; jq++) { b[jq] = b_s[kk * BN4 + jq * WGN + tn_i]; }
  for (var iq = 0u; iq < TM / 4u; iq++) {
    let a = a_s[kk * BM4 + iq * WGM + tm_i];
    for (var c = 0u; c < 4u; c++) {
      for (var jq = 0u; jq < TN / 4u; jq++) {
        let ai = (iq * 4u + c) * (TN / 4u) + jq;
        (*acc)[ai] = fma(vec4<f32>(a[c]), b[jq], (*acc)[ai]);
      }
    }
  }
}

// Where a workgroup works: its flat id decoded as pixel tile (fastest), channel tile, then (n, group).
struct Tile { tp: u32, m0: u32, g: u32, n: u32, x_base: u32, w_base: u32 }

fn tile_of(wid: u32) -> Tile {
  let tp = wid % p.tiles_p;
  let m0 = ((wid / p.tiles_p) % p.tiles_m) * BM;
  let ng = wid / (p.tiles_p * p.tiles_m);
  let g = ng % p.groups;
  let n = ng / p.groups;
  return Tile(tp, m0, g, n, (n * p.cin + g * p.cg) * p.hw, (g * p.mg + m0) * p.kdim);
}

// W[m0 .. m0+BM, k0 .. k0+BK) -> a_s (zero outside); threads run along k, contiguous in W.
fn stage_w(t: Tile, k0: u32, lid: u32) {
  for (var e = lid; e < BK * BM4; e += WG) {
    let kk = e % BK;
    let mq = e / BK;
    var v = vec4<f32>(0.0);
    if (k0 + kk < p.kdim) {
      for (var c = 0u; c < 4u; c++) {
        let m = mq * 4u + c;
        if (t.m0 + m < p.mg) { v[c] = f32(wt[t.w_base + m * p.kdim + k0 + kk]); }
      }
    }
    a_s[kk * BM4 + mq] = v;
  }
}

// The 4 pixels a thread stages X for, fixed for the whole reduction. u32 wrap-around: rows/cols < 0
// become huge and fail the < h / < w tests.
struct XRun { pj: vec4<u32>, ok: vec4<bool>, ih0: vec4<u32>, iw0: vec4<u32>, xo: vec4<u32> }

fn xrun_of(t: Tile, pq: u32) -> XRun {
  let pj = vec4<u32>(t.tp * BN + pq * 4u) + vec4<u32>(0u, 1u, 2u, 3u);
  let oh = pj / p.wo;
  let ih0 = oh * p.sh - vec4<u32>(p.pad_t);
  let iw0 = (pj - oh * p.wo) * p.sw - vec4<u32>(p.pad_l);
  return XRun(pj, pj < vec4<u32>(p.npix), ih0, iw0, vec4<u32>(t.x_base) + ih0 * p.w + iw0);
}

// X_im2col[row s.k, run] as 4 pixel values, zero outside the image and past the end of k.
fn gather_x(t: Tile, r: XRun, s: KPos) -> vec4<f32> {
  var inside = r.ok & vec4<bool>(s.k < p.kdim);
  var idx: vec4<u32>;
  if (p.pointwise != 0u) {
    idx = vec4<u32>(t.x_base + s.c) + r.pj;
  } else {
    let dr = s.kh * p.dh;
    let dc = s.kw * p.dw;
    inside = inside & (r.ih0 + dr < vec4<u32>(p.h)) & (r.iw0 + dc < vec4<u32>(p.w));
    idx = r.xo + (s.c + dr * p.w + dc);
  }
  idx = select(vec4<u32>(0u), idx, inside);
  let v = vec4<f32>(f32(x[idx.x]), f32(x[idx.y]), f32(x[idx.z]), f32(x[idx.w]));
  return select(vec4<f32>(0.0), v, inside);
}

// Bias, activation, guarded stores: 4 consecutive pixels per run, adjacent threads on adjacent runs.
fn store_tile(acc: ptr<function, array<vec4<f32>, TM * TN / 4u>>, t: Tile, tm_i: u32, tn_i: u32) {
  let y_base = (t.n * p.cout + t.g * p.mg) * p.npix;
  for (var iq = 0u; iq < TM / 4u; iq++) {
    for (var c = 0u; c < 4u; c++) {
      let m = t.m0 + (iq * WGM + tm_i) * 4u + c;
      if (m >= p.mg) { continue; }
      var bv = 0.0;
      if (p.has_bias != 0u) { bv = f32(bias[t.g * p.mg + m]); }
      for (var jq = 0u; jq < TN / 4u; jq++) {
        let v = (*acc)[(iq * 4u + c) * (TN / 4u) + jq];
        let p0 = t.tp * BN + (jq * WGN + tn_i) * 4u;
        for (var e = 0u; e < 4u; e++) {
          if (p0 + e < p.npix) { y[y_base + m * p.npix + p0 + e] = {{T}}(activate_code(p.act, v[e] + bv)); }
        }
      }
    }
  }
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid3: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let wid = wid3.x + wid3.y * nwg.x;  // the grid is folded into y when large
  if (wid >= p.total) { return; }
  let t = tile_of(wid);
  // X staging: this thread's run of 4 pixels, rows r0 + i*B_ROWS of every slice.
  let r0 = lid / BN4;
  let run = xrun_of(t, lid % BN4);
  var kp: array<KPos, B_PASSES>;
  for (var i = 0u; i < B_PASSES; i++) { kp[i] = kpos_at(r0 + i * B_ROWS); }

  let tn_i = lid % WGN;
  let tm_i = lid / WGN;
  var acc: array<vec4<f32>, TM * TN / 4u>;  // [i][jq]: channel i, pixels 4*jq .. 4*jq+3 of the run
  for (var i = 0u; i < TM * TN / 4u; i++) { acc[i] = vec4<f32>(0.0); }

  for (var k0 = 0u; k0 < p.kdim; k0 += BK) {
    stage_w(t, k0, lid);
    for (var i = 0u; i < B_PASSES; i++) {
      b_s[(r0 + i * B_ROWS) * BN4 + lid % BN4] = gather_x(t, run, kp[i]);
      kp[i] = kpos_next(kp[i]);
    }
    workgroupBarrier();
    for (var kk = 0u; kk < BK; kk++) { step(&acc, kk, tm_i, tn_i); }
    workgroupBarrier();
  }
  store_tile(&acc, t, tm_i, tn_i);
}
