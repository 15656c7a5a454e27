// GroupNorm pass 2, subgroup variant for CPU drivers (group_norm is the portable one): one workgroup =
// one subgroup merges its slice's chunk statistics (from group_norm_stats_sg, same grid), then normalises
// its chunk as 4-vectors, y = act(((x - shift) - mean) * (rstd * w[c]) + b[c]), walking the chunk channel
// by channel so the affine terms are loaded once per channel and no index needs a division per element.
// The op requires spatial % 4 == 0 (a vector never straddles two channels).
// Defines:
//   T = `f32` -- f32 | f16: element type of x and y
//   TW = `{{T}}` -- f32 | f16: element type of weight and bias (x's when both are absent)
//   SG = `32` -- subgroup size, fixed: must equal the adapter's (subgroupMinSize == subgroupMaxSize;
//     util.ts fixedSubgroupSize, 4..32: 8 on lavapipe)
//   HAS_W = `true` -- true | false: scale by w_in (false: the binding is a dummy, never read)
//   HAS_B = `true` -- true | false: add b_in (false: dummy binding)
//   ACT = `act_none` -- act_none | act_silu (lib_activations): fused activation
// Bindings (group 0):
//   @binding(0) x_in: array<vec4<T>>, read -- input [N, C, ...spatial] as vectors
//   @binding(1) partial: array<vec4<f32>>, read -- chunk statistics from group_norm_stats_sg
//   @binding(2) w_in: array<TW>, read -- weight [C]
//   @binding(3) b_in: array<TW>, read -- bias [C]
//   @binding(4) y_out: array<vec4<T>>, read_write -- output as vectors
//   @binding(5) p: Params, uniform
// Params:
//   len4: u32 -- vectors per (n, group) slice: C/G * spatial / 4
//   chunk4: u32 -- vectors per chunk
//   chunks: u32 -- chunks per slice
//   total_wg: u32 -- workgroups doing work: N * G * chunks (grid1d may add idle ones)
//   sp4: u32 -- vectors per channel: spatial / 4
//   groups: u32 -- G
//   cg: u32 -- channels per group, C / G
//   eps: f32 -- added to the variance
enable subgroups;
//!include lib_welford_sg
//!include lib_activations

const SG = {{SG}}u;

struct Params {
  len4: u32, chunk4: u32, chunks: u32, total_wg: u32,
  sp4: u32, groups: u32, cg: u32, eps: f32,
}

@group(0) @binding(0) var<storage, read> x_in: array<vec4<{{T}}>>;
@group(0) @binding(1) var<storage, read> partial: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> w_in: array<{{TW}}>;
@group(0) @binding(3) var<storage, read> b_in: array<{{TW}}>;
@group(0) @binding(4) var<storage, read_write> y_out: array<vec4<{{T}}>>;
@group(0) @binding(5) var<uniform> p: Params;

const HAS_W: bool = {{HAS_W}};
const HAS_B: bool = {{HAS_B}};

fn act4(v: vec4<f32>) -> vec4<f32> { return vec4<f32>({{ACT}}(v.x), {{ACT}}(v.y), {{ACT}}(v.z), {{ACT}}(v.w)); }

@compute @workgroup_size(SG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(subgroup_invocation_id) lane: u32) {
  let w = wid.x + wid.y * nwg.x;
  if (w >= p.total_wg) { return; }
  let gi = w / p.chunks;
  var acc = vec3<f32>(0.0);
  for (var j = lane; j < p.chunks; j += SG) { acc = welford_merge_sg(acc, partial[gi * p.chunks + j].xyz); }
  let tot = welford_subgroup_total(acc);
  let mean = tot.y;
  let rstd = 1.0 / sqrt(tot.z / tot.x + p.eps);
  let base = gi * p.len4;
  let shift = f32(x_in[base].x);
  let c0 = (gi % p.groups) * p.cg;
  let end = min((w % p.chunks + 1u) * p.chunk4, p.len4);
  var i0 = (w % p.chunks) * p.chunk4;
  var cl = i0 / p.sp4; // channel within the group
  while (i0 < end) {
    let i1 = min(end, (cl + 1u) * p.sp4);
    var scale = rstd;
    var bias = 0.0;
    if (HAS_W) { scale *= f32(w_in[c0 + cl]); }
    if (HAS_B) { bias = f32(b_in[c0 + cl]); }
    for (var i = base + i0 + lane; i < base + i1; i += SG) {
      y_out[i] = vec4<{{T}}>(act4((vec4<f32>(x_in[i]) - shift - mean) * scale + bias));
    }
    i0 = i1;
    cl++;
  }
}
