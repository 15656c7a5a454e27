// lib_subgroup_gemm: the register block of the subgroup GEMM kernels: SG lanes, each holding RA row
// values (av: KS k values per row) and G column groups of 4 (bv: KS k values each). Row values reach
// every lane by subgroupShuffle, so each loaded column vector feeds RA * SG rows.
// Included by: matmul_sg, conv2d_sg.
// Defines: none. Needs from the includer: `enable subgroups;`, const SG, RA, G and KS.
// Declares: functions only.

// k-slice kk of the block: acc[i * SG + r][g] += row (i, lane r) x this lane's column group g.
fn accumulate(acc: ptr<function, array<array<vec4<f32>, G>, RA * SG>>, av: array<vec4<f32>, RA>,
              bv: array<array<vec4<f32>, KS>, G>, kk: u32) {
  for (var i = 0u; i < RA; i++) {
    for (var r = 0u; r < SG; r++) {
      let x = vec4<f32>(subgroupShuffle(av[i][kk], r));
      for (var g = 0u; g < G; g++) { (*acc)[i * SG + r][g] = fma(x, bv[g][kk], (*acc)[i * SG + r][g]); }
    }
  }
}

// Every k-slice of one step, one call per k with a literal index: after inlining every array index is a
// constant, so the accumulators stay in registers however large the unrolled block (a loop over k would
// be left rolled by the driver's unroll limit and index the arrays dynamically, e.g. lavapipe's per-lane
// gathers).
fn accumulate_step(acc: ptr<function, array<array<vec4<f32>, G>, RA * SG>>, av: array<vec4<f32>, RA>,
                   bv: array<array<vec4<f32>, KS>, G>) {
  accumulate(acc, av, bv, 0u);
  if (KS == 4u) {
    accumulate(acc, av, bv, 1u);
    accumulate(acc, av, bv, 2u);
    accumulate(acc, av, bv, 3u);
  }
}
