// out = a (op) s elementwise with a scalar s from the uniforms (no tensor upload). EXPR combines x (from
// a) and y = s in compute type C, rounded to T once at the store.
// Defines:
//   T = `f32` -- f32 | f16 | i32: storage type of a and out
//   C = `f32` -- f32 for f32/f16 storage, i32 for i32: compute type of x, y, s and EXPR
//   EXPR = `x + y` -- WGSL expression over x, y of type C, as binary's; binaryScalar adds `y - x` (rsub)
// Bindings (group 0):
//   @binding(0) a_in: array<T>, read -- tensor operand a
//   @binding(1) out: array<T>, read_write -- result, one element per invocation
//   @binding(2) p: Params, uniform
// Params:
//   n: u32 -- elements
//   s: C -- the scalar operand
//!include lib_binary

struct Params { n: u32, s: {{C}} }

@group(0) @binding(0) var<storage, read> a_in: array<{{T}}>;
@group(0) @binding(1) var<storage, read_write> out: array<{{T}}>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= p.n) { return; }
  let x = {{C}}(a_in[i]);
  let y = p.s;
  out[i] = {{T}}({{EXPR}});
}
