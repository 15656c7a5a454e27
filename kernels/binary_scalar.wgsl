// out = a (op) s with a scalar s from the uniforms (no tensor upload). {{EXPR}} combines x (from a)
// and y = s in compute type {{C}} (f32 for f32/f16 storage, i32 for i32).
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
