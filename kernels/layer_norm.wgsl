// LayerNorm over the last dim (norm.ts layerNorm, portable variant): one workgroup of WG invocations per
// row of length d. Per-invocation Welford over values shifted by the row's first element (a large mean
// costs no precision), one workgroup merge, then normalise: y = (x - mean) * rstd * w + b.
// STABLE: DALLE2-pytorch's stable LayerNorm divides the row by its max (amax) before normalising.
// Defines:
//   T = `f32` -- f32 | f16: element type of x and y
//   TW = `{{T}}` -- f32 | f16: element type of weight and bias (x's when both are absent)
//   WG = `256` -- 64 | 128 | 256 (a power of two): invocations per row; the op picks 64 for d <= 64, 128 for d <= 128
//   HAS_W = `true` -- true | false: scale by w_in (false: the binding is a dummy, never read)
//   HAS_B = `true` -- true | false: add b_in (false: dummy binding)
//   STABLE = `false` -- true | false: DALLE2-pytorch stable LayerNorm (row divided by its amax first)
// Bindings (group 0):
//   @binding(0) x_in: array<T>, read -- input [rows, d]
//   @binding(1) w_in: array<TW>, read -- weight [d]
//   @binding(2) b_in: array<TW>, read -- bias [d]
//   @binding(3) y_out: array<T>, read_write -- output [rows, d]
//   @binding(4) p: Params, uniform
// Params:
//   rows: u32 -- rows (one workgroup each)
//   d: u32 -- row length
//   eps: f32 -- added to the variance (default 1e-5)
//   _pad: u32 -- padding
//!include lib_welford

struct Params { rows: u32, d: u32, eps: f32, _pad: u32 }

@group(0) @binding(0) var<storage, read> x_in: array<{{T}}>;
@group(0) @binding(1) var<storage, read> w_in: array<{{TW}}>;
@group(0) @binding(2) var<storage, read> b_in: array<{{TW}}>;
@group(0) @binding(3) var<storage, read_write> y_out: array<{{T}}>;
@group(0) @binding(4) var<uniform> p: Params;

const WG = {{WG}}u;
const HAS_W: bool = {{HAS_W}};
const HAS_B: bool = {{HAS_B}};
const STABLE: bool = {{STABLE}};
const LOWEST = -0x1.fffffep+127f; // -FLT_MAX

var<workgroup> red_max: array<f32, WG>;

// Uniform control flow only; every invocation gets the maximum.
fn wg_max(v: f32, tid: u32) -> f32 {
  red_max[tid] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (tid < s) { red_max[tid] = max(red_max[tid], red_max[tid + s]); }
    workgroupBarrier();
  }
  return red_max[0];
}

fn load(i: u32, amax: f32) -> f32 {
  let v = f32(x_in[i]);
  if (STABLE) { return v / amax; }
  return v;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) tid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.rows) { return; }
  let base = row * p.d;
  var amax = 1.0;
  if (STABLE) {
    var m = LOWEST;
    for (var i = tid; i < p.d; i += WG) { m = max(m, f32(x_in[base + i])); }
    amax = wg_max(m, tid);
  }
  let shift = load(base, amax);
  var acc = vec3f(0.0);
  for (var i = tid; i < p.d; i += WG) { acc = welford_push(acc, load(base + i, amax) - shift); }
  let tot = welford_wg_reduce(acc, tid);
  let mean = tot.y;
  let rstd = 1.0 / sqrt(tot.z / tot.x + p.eps);
  for (var i = tid; i < p.d; i += WG) {
    var v = (load(base + i, amax) - shift - mean) * rstd;
    if (HAS_W) { v = v * f32(w_in[i]); }
    if (HAS_B) { v = v + f32(b_in[i]); }
    y_out[base + i] = {{T}}(v);
  }
}
