// Register-blocked matmul without workgroup memory (matmul.ts variant 'subgroup', the CPU-driver
// default): one workgroup = one subgroup of SG lanes computing an (RA*SG) x (G*SG*4) tile of c =
// act(alpha * op(a) @ op(b) + bias). Each lane loads one element per A row-group and one 4-column vector
// per B group, then A values reach the other lanes by subgroupShuffle (lib_subgroup_gemm), so every
// loaded B vector feeds RA*SG rows. Fast where memory loads are per lane but shuffles are cheap (CPU SIMD
// drivers such as lavapipe); needs a fixed subgroup size equal to SG (the op checks).
// Grid (util.ts foldedGrid): x = column tile, y + z * num_workgroups.y = row tile + tiles_m * matrix.
// Defines:
//   SG = `32` -- subgroup size, fixed: must equal the adapter's (subgroupMinSize == subgroupMaxSize;
//     util.ts fixedSubgroupSize, 4..32: 8 on lavapipe)
//   RA = `1` -- row groups per lane, >= 1 (matmul.ts: 2 when SG <= 8 and M > SG, else 1)
//   G = `1` -- column groups of 4 per lane, 1..4 (about 32 / (RA * SG))
//   KS = `4` -- k values per step: 4 where a loader reads vec4s along k (K % 4 == 0), else 1
//   LOAD_A = `load_a_k4` -- load_a_k4 (row-major, vec4 along k) | load_a_rm | load_a_t (transposed)
//   LOAD_B = `load_b_k4` -- load_b_n4 (row-major, N % 4 == 0) | load_b_rm | load_b_k4 (transposed,
//     K % 4 == 0) | load_b_t (transposed)
//   AT = `vec4<{{T}}>` -- a element: vec4<T> with load_a_k4, else T
//   BT = `vec4<{{T}}>` -- b element: vec4<T> with load_b_n4 / load_b_k4, else T
//   T = `f32` -- f32 | f16: element type of a, b, bias and c
//   HAS_BIAS = `false` -- true | false: add bias[n] after alpha (false: binding 2 is b again, never read)
//   ACT = `none` -- none | relu | gelu | gelu_tanh | quick_gelu | silu: act_ACT from lib_activations
//   CT = `vec4<{{T}}>` -- c element: vec4<T> with C_VEC, else T
//   C_VEC = `true` -- true | false: c stored as vectors (N % 4 == 0)
//   C_PICK = `` -- empty with C_VEC, `.x` otherwise (so both store paths type-check)
// Bindings (group 0):
//   @binding(0) a: array<AT>, read -- A [..., M, K] ([..., K, M] when transposed)
//   @binding(1) b: array<BT>, read -- B [..., K, N] ([..., N, K] when transposed: Linear weights)
//   @binding(2) bias: array<T>, read -- bias [N]
//   @binding(3) c: array<CT>, read_write -- C [..., M, N]
//   @binding(4) p: MatmulParams, uniform
// Params:
//   M: u32 -- rows of C (batch folded in where B is shared)
//   N: u32 -- columns of C
//   K: u32 -- inner dim
//   tiles_m: u32 -- row tiles per matrix: ceil(M / tile rows)
//   batch: u32 -- matrices (product of the batch dims)
//   batch_rank: u32 -- batch dims after collapsing, 0..8
//   alpha: f32 -- scale of the product (before bias)
//   _pad: u32 -- padding
//   out_shape: array<vec4<u32>, 2> -- batch dims of C (8, zero-padded)
//   a_strides: array<vec4<u32>, 2> -- element strides of A along them (0 = broadcast)
//   b_strides: array<vec4<u32>, 2> -- element strides of B along them (0 = broadcast)
enable subgroups;
//!include lib_matmul
//!include lib_subgroup_gemm

const SG = {{SG}}u;
const RA = {{RA}}u;
const G = {{G}}u;
// k values per step: 4 where a loader reads vec4s along k (K % 4 == 0), else 1.
const KS = {{KS}}u;

// A[row, k0 .. k0+KS-1] as the first KS components.
fn load_a_k4(off: u32, row: u32, k0: u32) -> vec4<f32> { return a_vec((off + row * p.K + k0) / 4u); }
fn load_a_rm(off: u32, row: u32, k0: u32) -> vec4<f32> {
  var v = vec4<f32>(0.0);
  for (var kk = 0u; kk < KS; kk++) { v[kk] = a_at(off + row * p.K + k0 + kk); }
  return v;
}
fn load_a_t(off: u32, row: u32, k0: u32) -> vec4<f32> {
  var v = vec4<f32>(0.0);
  for (var kk = 0u; kk < KS; kk++) { v[kk] = a_at(off + (k0 + kk) * p.M + row); }
  return v;
}

// B[k0 + kk, n .. n+3] for kk < KS (columns past N are clamped; their results are never stored).
fn load_b_n4(off: u32, n: u32, k0: u32) -> array<vec4<f32>, KS> {
  var r: array<vec4<f32>, KS>;
  let nc = min(n, p.N - 4u);
  for (var kk = 0u; kk < KS; kk++) { r[kk] = b_vec((off + (k0 + kk) * p.N + nc) / 4u); }
  return r;
}
fn load_b_rm(off: u32, n: u32, k0: u32) -> array<vec4<f32>, KS> {
  var r: array<vec4<f32>, KS>;
  for (var kk = 0u; kk < KS; kk++) {
    for (var j = 0u; j < 4u; j++) { r[kk][j] = b_at(off + (k0 + kk) * p.N + min(n + j, p.N - 1u)); }
  }
  return r;
}
fn load_b_k4(off: u32, n: u32, k0: u32) -> array<vec4<f32>, KS> {
  var r: array<vec4<f32>, KS>;
  for (var j = 0u; j < 4u; j++) {
    let v = b_vec((off + min(n + j, p.N - 1u) * p.K + k0) / 4u);
    for (var kk = 0u; kk < KS; kk++) { r[kk][j] = v[kk]; }
  }
  return r;
}
fn load_b_t(off: u32, n: u32, k0: u32) -> array<vec4<f32>, KS> {
  var r: array<vec4<f32>, KS>;
  for (var j = 0u; j < 4u; j++) {
    let col = off + min(n + j, p.N - 1u) * p.K + k0;
    for (var kk = 0u; kk < KS; kk++) { r[kk][j] = b_at(col + kk); }
  }
  return r;
}

@compute @workgroup_size(SG)
fn main(@builtin(subgroup_invocation_id) lane: u32, @builtin(workgroup_id) wid: vec3u,
        @builtin(num_workgroups) nwg: vec3u) {
  let o = wid.y + wid.z * nwg.y;
  if (o >= p.tiles_m * p.batch) { return; }
  let offs = mm_batch_offsets(o / p.tiles_m);
  let m0 = (o % p.tiles_m) * (RA * SG);
  let n0 = wid.x * (G * SG * 4u);
  var rows: array<u32, RA>;
  for (var i = 0u; i < RA; i++) { rows[i] = min(m0 + i * SG + lane, p.M - 1u); }
  var acc: array<array<vec4<f32>, G>, RA * SG>;
  for (var k0 = 0u; k0 < p.K; k0 += KS) {
    var av: array<vec4<f32>, RA>;
    for (var i = 0u; i < RA; i++) { av[i] = {{LOAD_A}}(offs.x, rows[i], k0); }
    var bv: array<array<vec4<f32>, KS>, G>;
    for (var g = 0u; g < G; g++) { bv[g] = {{LOAD_B}}(offs.y, n0 + (g * SG + lane) * 4u, k0); }
    accumulate_step(&acc, av, bv);
  }
  for (var i = 0u; i < RA * SG; i++) {
    let m = m0 + i;
    if (m < p.M) {
      for (var g = 0u; g < G; g++) { mm_store4(offs.z, m, n0 + (g * SG + lane) * 4u, acc[i][g]); }
    }
  }
}
