// GroupNorm pass 2: each workgroup merges its slice's chunk statistics (from group_norm_stats), then
// normalises its chunk: y = act(((x - shift) - mean) * rstd * w[c] + b[c]).
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
