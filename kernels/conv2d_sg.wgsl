// conv2d (conv2d.ts variant 'subgroup'; NCHW, grouped, strided, padded, dilated) as an implicit GEMM on
// the subgroup register core of matmul_sg (lib_subgroup_gemm): one workgroup = one subgroup of SG lanes,
// no workgroup memory, no barriers.
//   Y[n, g*mg + co, p] = sum_k X_im2col[(n, p), k] * W[g*mg + co, k],  k = (ci*kH + kh)*kW + kw.
// Rows of the GEMM are output pixels (batch folded in), columns are output channels. A tile is RA*SG
// pixels x G*SG*4 channels: each lane gathers the im2col values of its RA pixels (k is uniform across the
// subgroup, so the (ci, kh, kw) walk and its bounds are shared) and reads 4 channels' weight rows per
// column group (contiguous along k: vec4 loads when kdim % 4 == 0); pixel values reach the other lanes by
// subgroupShuffle, so every weight vector loaded feeds RA*SG pixels. Fast where loads are per lane and
// shuffles are register moves (CPU drivers such as lavapipe). Bias and activation are fused; k advances
// by 4 per step, zero past kdim. Grid (util.ts foldedGrid): x = channel tile, y + z * num_workgroups.y =
// pixel tile + tiles_m * group.
// Defines:
//   T = `f32` -- f32 | f16: element type of x, bias and y
//   SG = `32` -- subgroup size, fixed: must equal the adapter's (subgroupMinSize == subgroupMaxSize;
//     util.ts fixedSubgroupSize, 4..32: 8 on lavapipe)
//   RA = `1` -- pixel groups per lane, >= 1 (conv2d.ts defaultSgTile: max(1, round(16 / SG)))
//   G = `2` -- channel groups of 4 per lane, >= 1 (2)
//   W_VEC = `true` -- true | false: kdim % 4 == 0, weight read as vectors
//   WT = `vec4<{{T}}>` -- weight element: vec4<T> with W_VEC, else T
// Bindings (group 0):
//   @binding(0) x: array<T>, read -- input [N, Cin, H, W]
//   @binding(1) wt: array<WT>, read -- weight [Cout, Cin/groups, kH, kW]
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
//   rows: u32 -- GEMM rows: N * npix
//   tiles_m: u32 -- pixel tiles: ceil(rows / (RA * SG))
//   has_bias: u32 -- 1: add bias
//   act: u32 -- fused activation code (lib_activation_codes; conv2d.ts ACT_CODES)
//   _pad: u32 -- padding
enable subgroups;
//!include lib_activation_codes
//!include lib_subgroup_gemm

struct Params {
  cin: u32, h: u32, w: u32, hw: u32,
  cout: u32, wo: u32, npix: u32, kdim: u32,
  cg: u32, mg: u32, groups: u32, kw: u32,
  sh: u32, sw: u32, pad_t: u32, pad_l: u32,
  dh: u32, dw: u32, kh: u32, rows: u32,     // rows = N * npix
  tiles_m: u32, has_bias: u32, act: u32, _pad: u32,
}

@group(0) @binding(0) var<storage, read> x: array<{{T}}>;
@group(0) @binding(1) var<storage, read> wt: array<{{WT}}>;
@group(0) @binding(2) var<storage, read> bias: array<{{T}}>;
@group(0) @binding(3) var<storage, read_write> y: array<{{T}}>;
@group(0) @binding(4) var<uniform> p: Params;

const SG = {{SG}}u;
const RA = {{RA}}u;
const G = {{G}}u;
const KS = 4u;
const W_VEC = {{W_VEC}};

// W as KS x 4 values: rows of 4 channels (offsets wrow, in elements), k0 .. k0+KS-1 along each row.
// W_VEC: one vec4 load per row (kdim % 4 == 0, W bound as vec4<T>); else KS scalar loads, zero past kdim.
fn load_w(wrow: vec4<u32>, k0: u32) -> array<vec4<f32>, KS> {
  var r: array<vec4<f32>, KS>;
  for (var j = 0u; j < 4u; j++) {
    if (W_VEC) {
      // vec4<T>(v) is the identity on a vector and splats a scalar, so this type-checks for either view.
      let v = vec4<f32>(vec4<{{T}}>(wt[(wrow[j] + k0) / 4u]));
      for (var kk = 0u; kk < KS; kk++) { r[kk][j] = v[kk]; }
    } else {
      for (var kk = 0u; kk < KS; kk++) {
        let k = k0 + kk;
        r[kk][j] = select(0.0, f32(vec4<{{T}}>(wt[wrow[j] + min(k, p.kdim - 1u)]).x), k < p.kdim);
      }
    }
  }
  return r;
}

// One output pixel row of the GEMM as this lane sees it: where its input window starts.
struct PixelRow { ok: bool, xb: u32, ih0: u32, iw0: u32, pix: u32 }

fn pixel_row(q: u32, g: u32) -> PixelRow {
  let qc = min(q, p.rows - 1u);
  let n = qc / p.npix;
  let pix = qc - n * p.npix;
  let oh = pix / p.wo;
  let ow = pix - oh * p.wo;
  // u32 wrap-around: rows/cols < 0 become huge and fail the < h / < w tests.
  return PixelRow(q < p.rows, (n * p.cin + g * p.cg) * p.hw, oh * p.sh - p.pad_t, ow * p.sw - p.pad_l, pix);
}

@compute @workgroup_size(SG)
fn main(@builtin(subgroup_invocation_id) lane: u32, @builtin(workgroup_id) wid: vec3u,
        @builtin(num_workgroups) nwg: vec3u) {
  let o = wid.y + wid.z * nwg.y;  // pixel tile fastest, then group
  if (o >= p.tiles_m * p.groups) { return; }
  let g = o / p.tiles_m;
  let m0 = (o - g * p.tiles_m) * (RA * SG);
  let n0 = wid.x * (G * SG * 4u);
  var rows: array<PixelRow, RA>;
  for (var i = 0u; i < RA; i++) { rows[i] = pixel_row(m0 + i * SG + lane, g); }
  var wrow: array<vec4<u32>, G>;
  for (var gg = 0u; gg < G; gg++) {
    let co = vec4<u32>(n0 + (gg * SG + lane) * 4u) + vec4<u32>(0u, 1u, 2u, 3u);
    wrow[gg] = (vec4<u32>(g * p.mg) + min(co, vec4<u32>(p.mg - 1u))) * p.kdim;
  }
  var acc: array<array<vec4<f32>, G>, RA * SG>;
  // (ci, kh, kw) of the next k, uniform across the subgroup: advanced without dividing.
  var ci = 0u;
  var kh = 0u;
  var kw = 0u;
  for (var k0 = 0u; k0 < p.kdim; k0 += KS) {
    var av: array<vec4<f32>, RA>;
    for (var kk = 0u; kk < KS; kk++) {
      // Past the end of k (kdim % 4 != 0) the walk leaves the group's channels: those values are zero.
      let kin = k0 + kk < p.kdim;
      let dr = kh * p.dh;
      let dc = kw * p.dw;
      let c = ci * p.hw;
      for (var i = 0u; i < RA; i++) {
        let ih = rows[i].ih0 + dr;
        let iw = rows[i].iw0 + dc;
        let inside = kin && rows[i].ok && ih < p.h && iw < p.w;
        let idx = select(0u, rows[i].xb + c + ih * p.w + iw, inside);
        av[i][kk] = select(0.0, f32(x[idx]), inside);
      }
      kw += 1u;
      if (kw == p.kw) {
        kw = 0u;
        kh += 1u;
        if (kh == p.kh) { kh = 0u; ci += 1u; }
      }
    }
    var bv: array<array<vec4<f32>, KS>, G>;
    for (var gg = 0u; gg < G; gg++) { bv[gg] = load_w(wrow[gg], k0); }
    accumulate_step(&acc, av, bv);
  }
  // Pixel m0 + i of the tile, this lane's 4 channels per column group: bias, activation, guarded stores.
  for (var i = 0u; i < RA * SG; i++) {
    let q = m0 + i;
    if (q >= p.rows) { break; }
    let n = q / p.npix;
    let yb = (n * p.cout + g * p.mg) * p.npix + (q - n * p.npix);
    for (var gg = 0u; gg < G; gg++) {
      for (var j = 0u; j < 4u; j++) {
        let co = n0 + (gg * SG + lane) * 4u + j;
        if (co < p.mg) {
          var v = acc[i][gg][j];
          if (p.has_bias != 0u) { v += f32(bias[g * p.mg + co]); }
          y[yb + co * p.npix] = {{T}}(activate_code(p.act, v));
        }
      }
    }
  }
}
