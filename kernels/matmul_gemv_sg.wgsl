// Skinny matmul on one subgroup per workgroup (batch-1/2 Linear layers on CPU drivers such as lavapipe):
// a workgroup of SG lanes computes MR rows x NC columns. The lanes split K (lane l reads k = k0 + l*KS,
// so one subgroup-wide step reads SG*KS consecutive values of each row: contiguous for row-major A and
// transposed B, i.e. Linear weights), keep vec4 partial sums in registers and add them across the
// subgroup once at the end: no workgroup memory, no barriers.
// Defines: SG (subgroup size), MR (rows per tile, 1..4), NC (columns per tile), KS (4 for vec4 loads along
// k, else 1), TRANS_A, TRANS_B, LOAD_A / LOAD_B (lib_gemv_loaders), plus lib_matmul's.
enable subgroups;
//!include lib_matmul

const SG = {{SG}}u;
const NC = {{NC}}u;
const MR = {{MR}}u;
const KS = {{KS}}u;
const TRANS_A = {{TRANS_A}};
const TRANS_B = {{TRANS_B}};
//!include lib_gemv_loaders

@compute @workgroup_size(SG)
fn main(@builtin(subgroup_invocation_id) lane: u32, @builtin(workgroup_id) wid: vec3u,
        @builtin(num_workgroups) nwg: vec3u) {
  let o = wid.y + wid.z * nwg.y;
  if (o >= p.tiles_m * p.batch) { return; }
  let offs = mm_batch_offsets(o / p.tiles_m);
  let m0 = (o % p.tiles_m) * MR;
  let n0 = wid.x * NC;
  var abase: array<u32, MR>;
  for (var r = 0u; r < MR; r++) { abase[r] = offs.x + min(m0 + r, p.M - 1u) * select(p.K, 1u, TRANS_A); }
  var bbase: array<u32, NC>;
  for (var cc = 0u; cc < NC; cc++) { bbase[cc] = offs.y + min(n0 + cc, p.N - 1u) * select(1u, p.K, TRANS_B); }
  // acc[cc * MR + r]: KS partial sums of row m0 + r, column n0 + cc.
  var acc: array<vec4<f32>, NC * MR>;
  // A subgroup-uniform loop (every lane the same trip count, so CPU drivers run it unmasked): lanes past K
  // in the last step read a valid k and weigh it 0.
  for (var kb = 0u; kb < p.K; kb += SG * KS) {
    let k = kb + lane * KS;
    let live = k < p.K;
    let k0 = select(0u, k, live);
    var bv: array<vec4<f32>, NC>;
    for (var cc = 0u; cc < NC; cc++) { bv[cc] = {{LOAD_B}}(bbase[cc], k0); }
    for (var r = 0u; r < MR; r++) {
      let av = select(vec4<f32>(0.0), {{LOAD_A}}(abase[r], k0), live);
      for (var cc = 0u; cc < NC; cc++) { acc[cc * MR + r] = fma(av, bv[cc], acc[cc * MR + r]); }
    }
  }
  for (var cc = 0u; cc < NC; cc++) {
    for (var r = 0u; r < MR; r++) {
      let s = subgroupAdd(dot(acc[cc * MR + r], vec4<f32>(1.0)));
      let m = m0 + r;
      let n = n0 + cc;
      if (lane == 0u && m < p.M && n < p.N) { c[offs.z + m * p.N + n] = {{CT}}({{T}}(mm_epilogue(s, n))); }
    }
  }
}
