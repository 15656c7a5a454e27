// N-d padding (torch F.pad): y_out[c] = x_in[src(c)] where src(c)[d] = c[d] - before[d], resolved per
// mode when outside the input: MODE 0 constant (writes the pad value), 1 replicate (clamp), 2 reflect
// (mirror without repeating the edge, as torch). Negative `before` crops. One thread per output element.
// Defines:
//   T = `f32` -- f32 | f16 | i32: element type
//   MODE = `0` -- 0 constant | 1 replicate | 2 reflect (pad.ts MODE_ID)
//   VALUE = `{{T}}(bitcast<f32>(p.value))` -- the pad value as a T from p.value's bits (pad.ts VALUE_EXPR:
//     f16(bitcast<f32>(p.value)) for f16, bitcast<i32>(p.value) for i32)
// Bindings (group 0):
//   @binding(0) x_in: array<T>, read -- input, dense
//   @binding(1) y_out: array<T>, read_write -- output, one element per invocation
//   @binding(2) p: Params, uniform
// Params:
//   n: u32 -- output elements
//   rank: u32 -- dims, 0..8
//   value: u32 -- pad value as raw bits of an f32 (f32/f16 tensors) or i32
//   _pad: u32 -- padding
//   out_shape: array<vec4<u32>, 2> -- output shape (8 dims, zero-padded)
//   in_shape: array<vec4<u32>, 2> -- input shape
//   before: array<vec4<i32>, 2> -- padding before each dim (negative crops)

struct Params {
  n: u32,
  rank: u32,
  value: u32, // pad value as raw bits of f32 (f32/f16 tensors) or i32
  _pad: u32,
  out_shape: array<vec4<u32>, 2>,
  in_shape: array<vec4<u32>, 2>,
  before: array<vec4<i32>, 2>,
}

@group(0) @binding(0) var<storage, read> x_in: array<{{T}}>;
@group(0) @binding(1) var<storage, read_write> y_out: array<{{T}}>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= p.n) { return; }
  var rem = i;
  var src = 0u;
  var stride = 1u;
  var inside = true;
  for (var d = p.rank; d > 0u; d--) {
    let k = d - 1u;
    let osize = p.out_shape[k / 4u][k % 4u];
    let isize = i32(p.in_shape[k / 4u][k % 4u]);
    var s = i32(rem % osize) - p.before[k / 4u][k % 4u];
    rem = rem / osize;
    if (s < 0 || s >= isize) {
      if ({{MODE}} == 0) {
        inside = false;
      } else if ({{MODE}} == 1) {
        s = clamp(s, 0, isize - 1);
      } else {
        s = select(2 * (isize - 1) - s, -s, s < 0);
      }
    }
    src += u32(s) * stride;
    stride *= u32(isize);
  }
  if (inside) {
    y_out[i] = x_in[src];
  } else {
    y_out[i] = {{VALUE}};
  }
}
