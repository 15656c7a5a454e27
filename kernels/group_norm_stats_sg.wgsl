// GroupNorm pass 1, subgroup variant for CPU drivers (see group_norm_stats.wgsl for the portable one):
// one workgroup = one subgroup of SG lanes computes the Welford (count, mean, M2) of one chunk of one
// (n, group) slice, read as 4-vectors (the op requires the slice length to be a multiple of 4). Values
// are shifted by the slice's first element. Workgroup w handles slice w / chunks, chunk w % chunks.
enable subgroups;
//!include lib_welford_sg

const SG = {{SG}}u;

struct Params { len4: u32, chunk4: u32, chunks: u32, total_wg: u32 }

@group(0) @binding(0) var<storage, read> x_in: array<vec4<{{T}}>>;
@group(0) @binding(1) var<storage, read_write> partial: array<vec4<f32>>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(SG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(subgroup_invocation_id) lane: u32) {
  let w = wid.x + wid.y * nwg.x;
  if (w >= p.total_wg) { return; }
  let base = (w / p.chunks) * p.len4;
  let shift = f32(x_in[base].x);
  let start = base + (w % p.chunks) * p.chunk4;
  let end = min(start + p.chunk4, base + p.len4);
  var acc = WelfordV4(0.0, vec4<f32>(0.0), vec4<f32>(0.0));
  for (var i = start + lane; i < end; i += SG) { wv4_push(&acc, vec4<f32>(x_in[i]) - shift); }
  let tot = welford_subgroup_total(wv4_collapse(acc));
  if (lane == 0u) { partial[w] = vec4<f32>(tot, 0.0); }
}
