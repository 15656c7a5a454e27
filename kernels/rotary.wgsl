// Rotary position embedding (rotary-embedding-torch, interleaved pairs) over x [rows = ... * seq, dim]:
// features [start, start + rot) become x * cos(f) + rotate_half(x) * sin(f), rotate_half(a, b) = (-b, a);
// the rest pass through. freqs is [seq, rot] (already repeated per pair). One thread per element; angles
// are range-reduced to [-pi, pi] first (Cody-Waite) so long sequences keep accurate sin / cos.
// Defines:
//   T = `f32` -- f32 | f16: element type of x and y
//   TF = `{{T}}` -- f32 | f16: element type of freqs
// Bindings (group 0):
//   @binding(0) x_in: array<T>, read -- input [..., seq, dim]
//   @binding(1) freqs: array<TF>, read -- angles [seq, rot]
//   @binding(2) y_out: array<T>, read_write -- output, same shape as x
//   @binding(3) p: Params, uniform
// Params:
//   n: u32 -- elements of x
//   dim: u32 -- last dim of x
//   seq: u32 -- sequence length (second-last dim)
//   rot: u32 -- rotated features (even)
//   start: u32 -- first rotated feature
//   _p0: u32 -- padding
//   _p1: u32 -- padding
//   _p2: u32 -- padding

struct Params { n: u32, dim: u32, seq: u32, rot: u32, start: u32, _p0: u32, _p1: u32, _p2: u32 }

@group(0) @binding(0) var<storage, read> x_in: array<{{T}}>;
@group(0) @binding(1) var<storage, read> freqs: array<{{TF}}>;
@group(0) @binding(2) var<storage, read_write> y_out: array<{{T}}>;
@group(0) @binding(3) var<uniform> p: Params;

// Cody-Waite reduction to [-pi, pi]: 2*pi = C1 + C2 with C1 exact in 9 bits, so k * C1 is exact for
// |k| < 2^15. Keeps sin/cos accurate for long sequences (drivers only promise accuracy in [-pi, pi]).
fn reduce_angle(a: f32) -> f32 {
  let k = round(a * 0.15915494309189535);
  return (a - k * 6.28125) - k * 0.0019353071795864769;
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= p.n) { return; }
  var v = f32(x_in[i]);
  let d = i % p.dim;
  let j = d - p.start; // wraps past rot when d < start
  if (d >= p.start && j < p.rot) {
    let s = (i / p.dim) % p.seq;
    let a = reduce_angle(f32(freqs[s * p.rot + j]));
    var r: f32;
    if ((j & 1u) == 1u) { r = f32(x_in[i - 1u]); } else { r = -f32(x_in[i + 1u]); }
    v = v * cos(a) + r * sin(a);
  }
  y_out[i] = {{T}}(v);
}
