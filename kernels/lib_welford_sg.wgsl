// lib_welford_sg: Welford statistics for the subgroup normalisation kernels (one workgroup = one
// subgroup). A lane keeps four Welford accumulators, one per vec4 component, sharing one count (one
// division per vector), then the four and the subgroup's lanes combine with the parallel formula
// n = sum n_i, mean = sum n_i mean_i / n, M2 = sum (M2_i + n_i (mean_i - mean)^2) over subgroupAdd.
// Callers shift values by a slice element first, so means stay small and no digits cancel.
// Included by: group_norm_stats_sg, group_norm_sg, layer_norm_sg.
// Defines: none. Needs from the includer: `enable subgroups;`.
// Declares: struct WelfordV4 and functions.

struct WelfordV4 { n: f32, mean: vec4<f32>, m2: vec4<f32> }

fn wv4_push(a: ptr<function, WelfordV4>, v: vec4<f32>) {
  (*a).n += 1.0;
  let d = v - (*a).mean;
  (*a).mean += d * (1.0 / (*a).n);
  (*a).m2 += d * (v - (*a).mean);
}

// (count, mean, M2) of the four component accumulators of one lane.
fn wv4_collapse(a: WelfordV4) -> vec3<f32> {
  let mean = dot(a.mean, vec4<f32>(0.25));
  let dm = a.mean - mean;
  return vec3<f32>(4.0 * a.n, mean, dot(a.m2, vec4<f32>(1.0)) + a.n * dot(dm, dm));
}

// Chan et al.'s pairwise merge of two (count, mean, M2) triples.
fn welford_merge_sg(a: vec3<f32>, b: vec3<f32>) -> vec3<f32> {
  let n = a.x + b.x;
  if (n == 0.0) { return vec3<f32>(0.0); }
  let d = b.y - a.y;
  let fb = b.x / n;
  return vec3<f32>(n, a.y + d * fb, a.z + b.z + d * d * a.x * fb);
}

// Subgroup total of every lane's (count, mean, M2); uniform control flow only, every lane gets it.
fn welford_subgroup_total(a: vec3<f32>) -> vec3<f32> {
  let n = subgroupAdd(a.x);
  let mean = subgroupAdd(a.x * a.y) / max(n, 1.0);
  let dm = a.y - mean;
  return vec3<f32>(n, mean, subgroupAdd(a.z + a.x * dm * dm));
}
