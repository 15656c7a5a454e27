// out = a (op) b elementwise with NumPy broadcasting; the scalar fallback of binary_vec4. EXPR combines
// x (from a) and y (from b) in compute type C, rounded to T once at the store. Strides are element
// strides of a and b over the collapsed output shape (binary.ts broadcastLayout), 0 on broadcast dims.
// Defines:
//   T = `f32` -- f32 | f16 | i32: storage type of a, b and out
//   C = `f32` -- f32 for f32/f16 storage, i32 for i32: compute type of x, y and EXPR
//   EXPR = `x + y` -- WGSL expression over x, y of type C: binary.ts FLOAT_EXPR (x + y, x - y, x * y, x / y,
//     bin_pow / bin_max / bin_min from lib_binary) or INT_EXPR (i32: + - *, max, min)
//   BCAST = `true` -- true | false: false is the equal-shape fast path (every operand read at the output index)
//   R4 = `2` -- vec4 words per shape/stride array: MAX_RANK / 4 = 2
// Bindings (group 0):
//   @binding(0) a_in: array<T>, read -- left operand a
//   @binding(1) b_in: array<T>, read -- right operand b
//   @binding(2) out: array<T>, read_write -- result, one element per invocation
//   @binding(3) p: Params, uniform
// Params:
//   n: u32 -- output elements
//   rank: u32 -- dims of the collapsed shape (0..8)
//   shape: array<vec4<u32>, R4> -- collapsed output shape, 4 dims per vec4
//   sa: array<vec4<u32>, R4> -- element strides of a over shape (0 = broadcast)
//   sb: array<vec4<u32>, R4> -- element strides of b over shape
//!include lib_binary

const BCAST: bool = {{BCAST}};

struct Params {
  n: u32,
  rank: u32,
  shape: array<vec4<u32>, {{R4}}>,
  sa: array<vec4<u32>, {{R4}}>,
  sb: array<vec4<u32>, {{R4}}>,
}

@group(0) @binding(0) var<storage, read> a_in: array<{{T}}>;
@group(0) @binding(1) var<storage, read> b_in: array<{{T}}>;
@group(0) @binding(2) var<storage, read_write> out: array<{{T}}>;
@group(0) @binding(3) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= p.n) { return; }
  var ia = i;
  var ib = i;
  if (BCAST) {
    ia = 0u;
    ib = 0u;
    var rem = i;
    // Innermost dims first; dim 0 needs no division since i < n.
    for (var k = p.rank; k > 1u; k--) {
      let d = k - 1u;
      let size = p.shape[d >> 2u][d & 3u];
      let c = rem % size;
      rem = rem / size;
      ia += c * p.sa[d >> 2u][d & 3u];
      ib += c * p.sb[d >> 2u][d & 3u];
    }
    if (p.rank > 0u) {
      ia += rem * p.sa[0].x;
      ib += rem * p.sb[0].x;
    }
  }
  let x = {{C}}(a_in[ia]);
  let y = {{C}}(b_in[ib]);
  out[i] = {{T}}({{EXPR}});
}
