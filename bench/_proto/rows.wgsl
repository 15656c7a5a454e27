struct P { M: u32, N: u32, K: u32, B: u32 }
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> c: array<f32>;
@group(0) @binding(3) var<uniform> p: P;
const R = {{R}}u;
@compute @workgroup_size({{WG}})
fn main(@builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u) {
  let n0 = (wid.x * {{WG}}u + lid.x) * 4u;
  let m0 = wid.y * R;
  var acc: array<vec4<f32>, R>;
  let nc = min(n0, p.N - 4u);
  for (var k = 0u; k < p.K; k++) {
    let bo = k * p.N + nc;
    let bv = vec4<f32>(b[bo], b[bo + 1u], b[bo + 2u], b[bo + 3u]);
    for (var r = 0u; r < R; r++) {
      let m = min(m0 + r, p.M - 1u);
      acc[r] += a[m * p.K + k] * bv;
    }
  }
  for (var r = 0u; r < R; r++) {
    let m = m0 + r;
    if (m < p.M && n0 < p.N) {
      let o = m * p.N + n0;
      c[o] = acc[r].x; c[o + 1u] = acc[r].y; c[o + 2u] = acc[r].z; c[o + 3u] = acc[r].w;
    }
  }
}
