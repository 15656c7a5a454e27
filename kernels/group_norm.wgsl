// GroupNorm pass 2 (norm.ts groupNorm): each workgroup (256 invocations) merges its slice's chunk
// statistics (from group_norm_stats, same grid), then normalises its chunk:
// y = act(((x - shift) - mean) * rstd * w[c] + b[c]), rstd = 1 / sqrt(M2 / count + eps).
// Defines:
//   T = `f32` -- f32 | f16: element type of x and y
//   TW = `{{T}}` -- f32 | f16: element type of weight and bias (x's when both are absent)
//   HAS_W = `true` -- true | false: scale by w_in (false: the binding is a dummy, never read)
//   HAS_B = `true` -- true | false: add b_in (false: dummy binding)
//   ACT = `act_none` -- act_none | act_silu (lib_activations): fused activation (GroupNorm -> SiLU)
// Bindings (group 0):
//   @binding(0) x_in: array<T>, read -- input [N, C, ...spatial]
//   @binding(1) partial: array<vec4<f32>>, read -- chunk statistics from group_norm_stats
//   @binding(2) w_in: array<TW>, read -- weight [C]
//   @binding(3) b_in: array<TW>, read -- bias [C]
//   @binding(4) y_out: array<T>, read_write -- output, shape of x
//   @binding(5) p: Params, uniform
// Params:
//   len: u32 -- elements per (n, group) slice: C/G * spatial
//   chunk_len: u32 -- elements per chunk
//   chunks: u32 -- chunks per slice
//   total_wg: u32 -- workgroups doing work: N * G * chunks (grid1d may add idle ones)
//   spatial: u32 -- elements per channel
//   groups: u32 -- G
//   cg: u32 -- channels per group, C / G
//   eps: f32 -- added to the variance (torch default 1e-5)
//!include lib_welford
//!include lib_activations

const WG = 256u;

struct Params {
  len: u32, chunk_len: u32, chunks: u32, total_wg: u32,
  spatial: u32, groups: u32, cg: u32, eps: f32,
}

@group(0) @binding(0) var<storage, read> x_in: array<{{T}}>;
@group(0) @binding(1) var<storage, read> partial: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> w_in: array<{{TW}}>;
@group(0) @binding(3) var<storage, read> b_in: array<{{TW}}>;
@group(0) @binding(4) var<storage, read_write> y_out: array<{{T}}>;
@group(0) @binding(5) var<uniform> p: Params;

const HAS_W: bool = {{HAS_W}};
const HAS_B: bool = {{HAS_B}};

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) tid: u32) {
  let w = wid.x + wid.y * nwg.x;
  if (w >= p.total_wg) { return; }
  let gi = w / p.chunks;
  var acc = vec3f(0.0);
  for (var j = tid; j < p.chunks; j += WG) {
    acc = welford_merge(acc, partial[gi * p.chunks + j].xyz);
  }
  let tot = welford_wg_reduce(acc, tid);
  let mean = tot.y;
  let rstd = 1.0 / sqrt(tot.z / tot.x + p.eps);
  let base = gi * p.len;
  let shift = f32(x_in[base]);
  let c0 = (gi % p.groups) * p.cg;
  let start = (w % p.chunks) * p.chunk_len;
  let end = min(start + p.chunk_len, p.len);
  for (var i = start + tid; i < end; i += WG) {
    var v = (f32(x_in[base + i]) - shift - mean) * rstd;
    let c = c0 + i / p.spatial;
    if (HAS_W) { v = v * f32(w_in[c]); }
    if (HAS_B) { v = v + f32(b_in[c]); }
    y_out[base + i] = {{T}}({{ACT}}(v));
  }
}
