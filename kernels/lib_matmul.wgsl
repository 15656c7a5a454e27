// lib_matmul: bindings, uniforms, batch decoding, element access and the fused epilogue of the matmul
// kernels: c = act(alpha * op(a) @ op(b) + bias), op = optional transpose. Shapes, strides and alpha
// are uniforms; defines pick the element type T, the storage views AT / BT / CT (T or vec4<T>), the
// epilogue and the loaders.
// Included by: matmul, matmul_sg, matmul_gemv, matmul_gemv_sg.
// Defines: ACT, AT, BT, CT, C_PICK, C_VEC, HAS_BIAS, T (values: the including kernel's header).
// Needs from the includer: nothing.
// Declares: bindings 0..4 and struct MatmulParams (documented in each including kernel's header).
//!include lib_activations

struct MatmulParams {
  M: u32,
  N: u32,
  K: u32,
  // Row tiles per matrix; workgroup (y, z) enumerates tiles_m * batch (row tile fastest).
  tiles_m: u32,
  batch: u32,
  batch_rank: u32,
  alpha: f32,
  _pad: u32,
  // Output batch dims and the element strides of a and b along them (0 where broadcast).
  out_shape: array<vec4<u32>, 2>,
  a_strides: array<vec4<u32>, 2>,
  b_strides: array<vec4<u32>, 2>,
}

@group(0) @binding(0) var<storage, read> a: array<{{AT}}>;
@group(0) @binding(1) var<storage, read> b: array<{{BT}}>;
// Without a bias the op binds b here again; HAS_BIAS keeps it unread.
@group(0) @binding(2) var<storage, read> bias: array<{{T}}>;
@group(0) @binding(3) var<storage, read_write> c: array<{{CT}}>;
@group(0) @binding(4) var<uniform> p: MatmulParams;

const HAS_BIAS = {{HAS_BIAS}};
// c holds vec4<T> (N % 4 == 0); C_PICK is '' then, '.x' otherwise, so both store paths type-check.
const C_VEC = {{C_VEC}};

// Element access that type-checks whether the array holds T or vec4<T> (vec4<T>(x) splats a scalar and
// is the identity on a vector), so every loader below compiles under either storage view.
fn a_at(i: u32) -> f32 { return f32(vec4<{{T}}>(a[i]).x); }
fn a_vec(i: u32) -> vec4<f32> { return vec4<f32>(vec4<{{T}}>(a[i])); }
fn b_at(i: u32) -> f32 { return f32(vec4<{{T}}>(b[i]).x); }
fn b_vec(i: u32) -> vec4<f32> { return vec4<f32>(vec4<{{T}}>(b[i])); }

// Element offsets (a, b, c) of output matrix z, decoding z over the broadcast batch dims.
fn mm_batch_offsets(z: u32) -> vec3<u32> {
  var rem = z;
  var ao = 0u;
  var bo = 0u;
  for (var d = i32(p.batch_rank) - 1; d >= 0; d--) {
    let du = u32(d);
    let size = p.out_shape[du / 4u][du % 4u];
    let idx = rem % size;
    rem = rem / size;
    ao += idx * p.a_strides[du / 4u][du % 4u];
    bo += idx * p.b_strides[du / 4u][du % 4u];
  }
  return vec3<u32>(ao, bo, z * p.M * p.N);
}

fn mm_epilogue(v: f32, n: u32) -> f32 {
  var x = v * p.alpha;
  if (HAS_BIAS) { x += f32(bias[n]); }
  return act_{{ACT}}(x);
}

// Stores columns n..n+3 of row m (those below N) through the epilogue.
fn mm_store4(c_off: u32, m: u32, n: u32, v: vec4<f32>) {
  let row = c_off + m * p.N;
  if (C_VEC) {
    // N % 4 == 0 and n % 4 == 0: the four columns are all in range or all out.
    if (n < p.N) {
      let e = vec4<f32>(mm_epilogue(v.x, n), mm_epilogue(v.y, n + 1u), mm_epilogue(v.z, n + 2u), mm_epilogue(v.w, n + 3u));
      c[(row + n) / 4u] = {{CT}}(vec4<{{T}}>(e){{C_PICK}});
    }
  } else {
    for (var j = 0u; j < 4u; j++) {
      if (n + j < p.N) { c[row + n + j] = {{CT}}({{T}}(mm_epilogue(v[j], n + j))); }
    }
  }
}
