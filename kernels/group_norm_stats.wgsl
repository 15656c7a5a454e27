// GroupNorm pass 1 (norm.ts groupNorm): Welford (count, mean, M2) of one chunk of one (n, group) slice.
// The slice is contiguous (C/G channels x spatial). Values are shifted by the slice's first element so a
// large mean costs no precision. Workgroup w (256 invocations) handles slice w / chunks, chunk w % chunks.
// Defines:
//   T = `f32` -- f32 | f16: element type of x
// Bindings (group 0):
//   @binding(0) x_in: array<T>, read -- input [N, C, ...spatial]
//   @binding(1) partial: array<vec4<f32>>, read_write -- per workgroup (count, mean, M2, 0) of its chunk
//   @binding(2) p: Params, uniform
// Params:
//   len: u32 -- elements per (n, group) slice: C/G * spatial
//   chunk_len: u32 -- elements per chunk
//   chunks: u32 -- chunks per slice
//   total_wg: u32 -- workgroups doing work: N * G * chunks (grid1d may add idle ones)
//!include lib_welford

const WG = 256u;

struct Params { len: u32, chunk_len: u32, chunks: u32, total_wg: u32 }

@group(0) @binding(0) var<storage, read> x_in: array<{{T}}>;
@group(0) @binding(1) var<storage, read_write> partial: array<vec4<f32>>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) tid: u32) {
  let w = wid.x + wid.y * nwg.x;
  if (w >= p.total_wg) { return; }
  let base = (w / p.chunks) * p.len;
  let shift = f32(x_in[base]);
  let start = (w % p.chunks) * p.chunk_len;
  let end = min(start + p.chunk_len, p.len);
  var acc = vec3f(0.0);
  for (var i = start + tid; i < end; i += WG) {
    acc = welford_push(acc, f32(x_in[base + i]) - shift);
  }
  let tot = welford_wg_reduce(acc, tid);
  if (tid == 0u) { partial[w] = vec4f(tot, 0.0); }
}
