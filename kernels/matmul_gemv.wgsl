// Skinny matmul (M <= 4 rows per tile, e.g. batch-1 transformer layers): a workgroup computes 4 rows x NC
// columns, its WG threads splitting K (consecutive threads read consecutive k, coalesced for row-major A
// and transposed B = Linear weights), then summing the partial sums through workgroup memory.
//!include lib_matmul

const WG = {{WG}}u;
const NC = {{NC}}u;
const MR = 4u;
// k values per step: 4 where B is read as vec4s along k (transposed B, K % 4 == 0), else 1.
const KS = {{KS}}u;
const TRANS_A = {{TRANS_A}};
const TRANS_B = {{TRANS_B}};

// Outputs per workgroup, and the chunks of threads whose partial sums the first reduction stage adds.
const Q = NC * MR;
const H = WG / Q;

var<workgroup> red: array<vec4<f32>, WG * NC>;
var<workgroup> red2: array<f32, WG>;

//!include lib_gemv_loaders

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u,
        @builtin(num_workgroups) nwg: vec3u) {
  let o = wid.y + wid.z * nwg.y;
  if (o >= p.tiles_m * p.batch) { return; }
  let offs = mm_batch_offsets(o / p.tiles_m);
  let m0 = (o % p.tiles_m) * MR;
  let n0 = wid.x * NC;
  // acc[c][r]: row m0 + r, column n0 + c.
  var acc: array<vec4<f32>, NC>;
  var bbase: array<u32, NC>;
  for (var cc = 0u; cc < NC; cc++) { bbase[cc] = offs.y + min(n0 + cc, p.N - 1u) * select(1u, p.K, TRANS_B); }
  for (var k0 = lid.x * KS; k0 < p.K; k0 += WG * KS) {
    var bv: array<vec4<f32>, NC>;
    for (var cc = 0u; cc < NC; cc++) { bv[cc] = {{LOAD_B}}(bbase[cc], k0); }
    for (var r = 0u; r < MR; r++) {
      if (m0 + r < p.M) {
        let av = {{LOAD_A}}(offs.x + (m0 + r) * select(p.K, 1u, TRANS_A), k0);
        for (var cc = 0u; cc < NC; cc++) { acc[cc][r] += dot(av, bv[cc]); }
      }
    }
  }
  for (var cc = 0u; cc < NC; cc++) { red[lid.x * NC + cc] = acc[cc]; }
  // Two short stages instead of a log-step tree: each barrier is costly on CPU drivers, and serial sums
  // of Q then H values keep GPU threads busy for a few steps only.
  workgroupBarrier();
  let q = lid.x % Q;
  let cq = q / MR;
  let rq = q % MR;
  var s = 0.0;
  for (var t = 0u; t < Q; t++) { s += red[((lid.x / Q) * Q + t) * NC + cq][rq]; }
  red2[lid.x] = s;
  workgroupBarrier();
  if (lid.x < Q) {
    var total = 0.0;
    for (var h = 0u; h < H; h++) { total += red2[h * Q + lid.x]; }
    let m = m0 + rq;
    let n = n0 + cq;
    if (m < p.M && n < p.N) { c[offs.z + m * p.N + n] = {{CT}}({{T}}(mm_epilogue(total, n))); }
  }
}
