// GroupNorm pass 1, subgroup variant for CPU drivers (group_norm_stats is the portable one): one
// workgroup = one subgroup of SG lanes computes the Welford (count, mean, M2) of one chunk of one
// (n, group) slice, read as 4-vectors (the op requires the slice length to be a multiple of 4). Values are
// shifted by the slice's first element. Workgroup w handles slice w / chunks, chunk w % chunks.
// Defines:
//   T = `f32` -- f32 | f16: element type of x
//   SG = `32` -- subgroup size, fixed: must equal the adapter's (subgroupMinSize == subgroupMaxSize;
//     util.ts fixedSubgroupSize, 4..32: 8 on lavapipe)
// Bindings (group 0):
//   @binding(0) x_in: array<vec4<T>>, read -- input [N, C, ...spatial] as vectors
//   @binding(1) partial: array<vec4<f32>>, read_write -- per workgroup (count, mean, M2, 0) of its chunk
//   @binding(2) p: Params, uniform
// Params:
//   len4: u32 -- vectors per (n, group) slice: C/G * spatial / 4
//   chunk4: u32 -- vectors per chunk
//   chunks: u32 -- chunks per slice
//   total_wg: u32 -- workgroups doing work: N * G * chunks (grid1d may add idle ones)
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
