// Separable resampling along one axis (resample.ts resampleAxis): x viewed as [outer, in_len, inner] ->
// y [outer, out_len, inner], y[o, j, i] = sum_t w[j, t] * x[o, idx[j, t], i] in f32. Taps with idx < 0
// read the zero padding. The host builds (idx, w) per method (nearest, bilinear, bicubic, antialiased
// cubic). One thread per output element.
// Defines:
//   T = `f32` -- f32 | f16: element type of x and y
// Bindings (group 0):
//   @binding(0) x: array<T>, read -- input [outer, in_len, inner]
//   @binding(1) idx: array<i32>, read -- tap indices [out_len, taps] (< 0: zero padding)
//   @binding(2) w: array<f32>, read -- tap weights [out_len, taps]
//   @binding(3) y: array<T>, read_write -- output [outer, out_len, inner]
//   @binding(4) p: Params, uniform
// Params:
//   outer: u32 -- product of the dims before the axis
//   in_len: u32 -- input length of the axis
//   out_len: u32 -- output length of the axis
//   inner: u32 -- product of the dims after the axis
//   taps: u32 -- taps per output position
//   total: u32 -- output elements: outer * out_len * inner
//   _p0: u32 -- padding
//   _p1: u32 -- padding

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
