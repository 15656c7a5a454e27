// Separable resampling along one axis: x viewed as [outer, in_len, inner] -> y [outer, out_len, inner],
// y[o, j, i] = sum_t w[j, t] * x[o, idx[j, t], i]. Taps with idx < 0 read the zero padding.
// The host builds (idx, w) per method (nearest, bilinear, bicubic, antialiased cubic).

struct Params { outer: u32, in_len: u32, out_len: u32, inner: u32, taps: u32, total: u32, _p0: u32, _p1: u32 }

@group(0) @binding(0) var<storage, read> x: array<{{T}}>;
@group(0) @binding(1) var<storage, read> idx: array<i32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<{{T}}>;
@group(0) @binding(4) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let k = gid.x + gid.y * nwg.x * 256u;
  if (k >= p.total) { return; }
  let i = k % p.inner;
  let j = (k / p.inner) % p.out_len;
  let o = k / (p.inner * p.out_len);
  let base = o * p.in_len * p.inner + i;
  var acc = 0.0;
  for (var t = 0u; t < p.taps; t++) {
    let src = idx[j * p.taps + t];
    if (src >= 0) { acc += w[j * p.taps + t] * f32(x[base + u32(src) * p.inner]); }
  }
  y[k] = {{T}}(acc);
}
