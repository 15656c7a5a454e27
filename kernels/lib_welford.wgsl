// lib_welford: Welford statistics (count, mean, M2) as vec3f, merged with Chan et al.'s pairwise
// formula, plus a workgroup tree reduction over WG invocations.
// Included by: group_norm_stats, group_norm, layer_norm, chan_layer_norm.
// Defines: none. Needs from the includer: `const WG: u32`, a power of two.
// Declares: functions and var<workgroup> welford_sh.

var<workgroup> welford_sh: array<vec3<f32>, WG>;

fn welford_push(acc: vec3f, v: f32) -> vec3f {
  let n = acc.x + 1.0;
  let d = v - acc.y;
  let mean = acc.y + d / n;
  return vec3f(n, mean, acc.z + d * (v - mean));
}

fn welford_merge(a: vec3f, b: vec3f) -> vec3f {
  let n = a.x + b.x;
  if (n == 0.0) { return vec3f(0.0); }
  let d = b.y - a.y;
  let fb = b.x / n;
  return vec3f(n, a.y + d * fb, a.z + b.z + d * d * a.x * fb);
}

// Must be called once per kernel, in uniform control flow, by all WG invocations; all get the total.
fn welford_wg_reduce(acc: vec3f, tid: u32) -> vec3f {
  welford_sh[tid] = acc;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (tid < s) { welford_sh[tid] = welford_merge(welford_sh[tid], welford_sh[tid + s]); }
    workgroupBarrier();
  }
  return welford_sh[0];
}
