// y[i] = start + i * step in compute type C: fill (step 0, start kept bit-exact) and arange. Values come
// from the uniforms, so nothing is uploaded.
// Defines:
//   T = `f32` -- f32 | f16 | i32: storage type of y
//   C = `f32` -- f32 for f32/f16 storage, i32 for i32: type of start, step and the ramp
// Bindings (group 0):
//   @binding(0) y_out: array<T>, read_write -- output, one element per invocation
//   @binding(1) p: Params, uniform
// Params:
//   n: u32 -- elements
//   start: C -- value at i = 0
//   step: C -- increment (0 for fill)

struct Params { n: u32, start: {{C}}, step: {{C}} }

@group(0) @binding(0) var<storage, read_write> y_out: array<{{T}}>;
@group(0) @binding(1) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= p.n) { return; }
  // step 0 leaves start untouched (keeps -0 and non-finite fill values exact).
  var v = p.start;
  if (p.step != {{C}}(0)) { v += {{C}}(i) * p.step; }
  y_out[i] = {{T}}(v);
}
