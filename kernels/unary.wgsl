// y = f(x) elementwise; f is the specialised expression {{EXPR}} over x (f32) and the scalars p.a, p.b.
//!include lib_activations

struct Params { n: u32, a: f32, b: f32, _pad: u32 }

@group(0) @binding(0) var<storage, read> x_in: array<{{T}}>;
@group(0) @binding(1) var<storage, read_write> y_out: array<{{T}}>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= p.n) { return; }
  let x = f32(x_in[i]);
  y_out[i] = {{T}}({{EXPR}});
}
