// lib_gemv_loaders: the loaders of the skinny-matmul kernels, KS values along k per call, picked by
// their LOAD_A / LOAD_B defines. Loaders take base offsets: off + row * (K, or 1 when A is transposed)
// and off + col * (1, or K when B is transposed).
// Included by: matmul_gemv, matmul_gemv_sg.
// Defines: none. Needs from the includer: lib_matmul (a_at / a_vec / b_at / b_vec, p), const KS,
// TRANS_A, TRANS_B. Declares: functions only.
fn load_a_k4(base: u32, k0: u32) -> vec4<f32> { return a_vec((base + k0) / 4u); }
fn load_a_rm(base: u32, k0: u32) -> vec4<f32> {
  var v = vec4<f32>(0.0);
  for (var kk = 0u; kk < KS; kk++) { v[kk] = a_at(base + k0 + kk); }
  return v;
}
fn load_a_t(base: u32, k0: u32) -> vec4<f32> {
  var v = vec4<f32>(0.0);
  for (var kk = 0u; kk < KS; kk++) { v[kk] = a_at(base + (k0 + kk) * p.M); }
  return v;
}

// B[k0 .. k0+KS-1, col] in the first KS components (zeros after).
fn load_bc_k4(base: u32, k0: u32) -> vec4<f32> { return b_vec((base + k0) / 4u); }
fn load_bc_t(base: u32, k0: u32) -> vec4<f32> {
  var v = vec4<f32>(0.0);
  for (var kk = 0u; kk < KS; kk++) { v[kk] = b_at(base + k0 + kk); }
  return v;
}
fn load_bc_rm(base: u32, k0: u32) -> vec4<f32> {
  var v = vec4<f32>(0.0);
  for (var kk = 0u; kk < KS; kk++) { v[kk] = b_at(base + (k0 + kk) * p.N); }
  return v;
}
