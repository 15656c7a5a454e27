// y = x converted from S to D through CONV, an expression over x. WGSL semantics: f->i truncates toward
// zero and clamps to [-2^31, 2^31 - 128]; f32->f16 rounds to nearest on our targets.
// Defines:
//   S = `f32` -- f32 | f16 | i32: source type
//   D = `i32` -- f32 | f16 | i32: destination type
//   CONV = `{{D}}(x)` -- WGSL expression over x giving a D: cast.ts conversion (`x` when S = D, `f16(f32(x))`
//     for i32 -> f16, else `D(x)`)
// Bindings (group 0):
//   @binding(0) x_in: array<S>, read -- input
//   @binding(1) y_out: array<D>, read_write -- output, one element per invocation
//   @binding(2) p: Params, uniform
// Params:
//   n: u32 -- elements

struct Params { n: u32 }

@group(0) @binding(0) var<storage, read> x_in: array<{{S}}>;
@group(0) @binding(1) var<storage, read_write> y_out: array<{{D}}>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= p.n) { return; }
  let x = x_in[i];
  y_out[i] = {{CONV}};
}
