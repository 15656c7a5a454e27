// y = f(x) elementwise; f is the expression EXPR over x (f32 math) and the scalars p.a, p.b.
// Entry points: `main`, one element per invocation (any binding); `main_vec4_8` / `main_vec4_256` read
// and write 4-vectors, each invocation p.v vectors WG apart (neighbouring invocations touch neighbouring
// vectors), p.n then counting vectors. On CPU drivers (lavapipe) every load/store instruction costs a
// per-lane loop, so vec4 accesses and several per invocation (WG = 8, the subgroup size) pay off. The op
// widens the vector bindings to whole vectors (the tail vector's padding lanes are junk).
// Defines:
//   T = `f32` -- f32 | f16: storage type of x and y
//   EXPR = `act_silu(x)` -- WGSL f32 expression over x, p.a, p.b: unary.ts EXPR (e.g. exp(x), act_gelu(x)
//     from lib_activations, min(max(x, p.a), p.b) for clamp, x * p.a + p.b for affine)
// Bindings (group 0):
//   @binding(0) x_in: array<T>, read -- input (entry point main)
//   @binding(1) y_out: array<T>, read_write -- output (main)
//   @binding(0) x4_in: array<vec4<T>>, read -- the input as vectors (main_vec4_*)
//   @binding(1) y4_out: array<vec4<T>>, read_write -- the output as vectors (main_vec4_*)
//   @binding(2) p: Params, uniform
// Params:
//   n: u32 -- elements (main) or vectors (main_vec4_*)
//   a: f32 -- first scalar of EXPR (clamp min, affine scale)
//   b: f32 -- second scalar (clamp max, affine shift)
//   v: u32 -- vectors per invocation (main_vec4_*; elementwiseLayout: 64 on CPU drivers, 1 on GPUs)
//!include lib_activations

struct Params { n: u32, a: f32, b: f32, v: u32 }

@group(0) @binding(0) var<storage, read> x_in: array<{{T}}>;
@group(0) @binding(1) var<storage, read_write> y_out: array<{{T}}>;
// The same bindings seen as vectors, used only by the vec4 entry points.
@group(0) @binding(0) var<storage, read> x4_in: array<vec4<{{T}}>>;
@group(0) @binding(1) var<storage, read_write> y4_out: array<vec4<{{T}}>>;
@group(0) @binding(2) var<uniform> p: Params;

fn f(x: f32) -> f32 { return {{EXPR}}; }

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= p.n) { return; }
  let x = f32(x_in[i]);
  y_out[i] = {{T}}({{EXPR}});
}

fn vec4_run(group: u32, wg: u32, lid: u32) {
  let base = group * wg * p.v + lid;
  for (var k = 0u; k < p.v; k++) {
    let i = base + k * wg;
    if (i < p.n) {
      let x = vec4<f32>(x4_in[i]);
      y4_out[i] = vec4<{{T}}>(vec4<f32>(f(x.x), f(x.y), f(x.z), f(x.w)));
    }
  }
}

@compute @workgroup_size(8)
fn main_vec4_8(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
               @builtin(local_invocation_index) lid: u32) {
  vec4_run(wid.x + wid.y * nwg.x, 8u, lid);
}

@compute @workgroup_size(256)
fn main_vec4_256(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                 @builtin(local_invocation_index) lid: u32) {
  vec4_run(wid.x + wid.y * nwg.x, 256u, lid);
}
