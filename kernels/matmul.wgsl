// Tiled matmul for GPUs: a workgroup of (BN/TN) x (BM/TM) threads computes a BM x BN tile of c, staging
// BK-deep slices of A and B in workgroup memory (k-major, so the inner loop reads vec4s) and keeping a
// TM x TN block per thread in registers. Fill functions (FILL_A/FILL_B defines) use vec4 global loads
// along the contiguous dim when it is a multiple of 4; out-of-range elements load as 0 so ragged M/N/K work.
//!include lib_matmul

const BM = {{BM}}u;
const BN = {{BN}}u;
const BK = {{BK}}u;
const TM = {{TM}}u;
const TN = {{TN}}u;
const WX = BN / TN;
const WY = BM / TM;
const NT = WX * WY;

var<workgroup> As: array<vec4<f32>, BK * BM / 4u>;
var<workgroup> Bs: array<vec4<f32>, BK * BN / 4u>;

fn put_a(k: u32, m: u32, v: f32) { As[k * (BM / 4u) + m / 4u][m % 4u] = v; }
fn put_b(k: u32, n: u32, v: f32) { Bs[k * (BN / 4u) + n / 4u][n % 4u] = v; }

// A row-major [M, K], K % 4 == 0: vec4 along k, transposed into As.
fn fill_a_k4(off: u32, m0: u32, k0: u32, tid: u32) {
  for (var e = tid; e < BM * BK / 4u; e += NT) {
    let r = e / (BK / 4u);
    let kq = (e % (BK / 4u)) * 4u;
    let m = m0 + r;
    let k = k0 + kq;
    var v = vec4<f32>(0.0);
    if (m < p.M && k < p.K) { v = a_vec((off + m * p.K + k) / 4u); }
    for (var j = 0u; j < 4u; j++) { put_a(kq + j, r, v[j]); }
  }
}
fn fill_a_rm(off: u32, m0: u32, k0: u32, tid: u32) {
  for (var e = tid; e < BM * BK; e += NT) {
    let r = e / BK;
    let kq = e % BK;
    let m = m0 + r;
    let k = k0 + kq;
    var v = 0.0;
    if (m < p.M && k < p.K) { v = a_at(off + m * p.K + k); }
    put_a(kq, r, v);
  }
}
// A stored transposed [K, M], M % 4 == 0: vec4 along m, copied straight into As.
fn fill_a_t4(off: u32, m0: u32, k0: u32, tid: u32) {
  for (var e = tid; e < BM * BK / 4u; e += NT) {
    let kq = e / (BM / 4u);
    let rq = e % (BM / 4u);
    let m = m0 + rq * 4u;
    let k = k0 + kq;
    var v = vec4<f32>(0.0);
    if (m < p.M && k < p.K) { v = a_vec((off + k * p.M + m) / 4u); }
    As[kq * (BM / 4u) + rq] = v;
  }
}
fn fill_a_t(off: u32, m0: u32, k0: u32, tid: u32) {
  for (var e = tid; e < BM * BK; e += NT) {
    let kq = e / BM;
    let r = e % BM;
    let m = m0 + r;
    let k = k0 + kq;
    var v = 0.0;
    if (m < p.M && k < p.K) { v = a_at(off + k * p.M + m); }
    put_a(kq, r, v);
  }
}

// B row-major [K, N], N % 4 == 0: vec4 along n, copied straight into Bs.
fn fill_b_n4(off: u32, n0: u32, k0: u32, tid: u32) {
  for (var e = tid; e < BN * BK / 4u; e += NT) {
    let kq = e / (BN / 4u);
    let cq = e % (BN / 4u);
    let n = n0 + cq * 4u;
    let k = k0 + kq;
    var v = vec4<f32>(0.0);
    if (n < p.N && k < p.K) { v = b_vec((off + k * p.N + n) / 4u); }
    Bs[kq * (BN / 4u) + cq] = v;
  }
}
fn fill_b_rm(off: u32, n0: u32, k0: u32, tid: u32) {
  for (var e = tid; e < BN * BK; e += NT) {
    let kq = e / BN;
    let cn = e % BN;
    let n = n0 + cn;
    let k = k0 + kq;
    var v = 0.0;
    if (n < p.N && k < p.K) { v = b_at(off + k * p.N + n); }
    put_b(kq, cn, v);
  }
}
// B stored transposed [N, K] (PyTorch Linear weight), K % 4 == 0: vec4 along k, transposed into Bs.
fn fill_b_k4(off: u32, n0: u32, k0: u32, tid: u32) {
  for (var e = tid; e < BN * BK / 4u; e += NT) {
    let cn = e / (BK / 4u);
    let kq = (e % (BK / 4u)) * 4u;
    let n = n0 + cn;
    let k = k0 + kq;
    var v = vec4<f32>(0.0);
    if (n < p.N && k < p.K) { v = b_vec((off + n * p.K + k) / 4u); }
    for (var j = 0u; j < 4u; j++) { put_b(kq + j, cn, v[j]); }
  }
}
fn fill_b_t(off: u32, n0: u32, k0: u32, tid: u32) {
  for (var e = tid; e < BN * BK; e += NT) {
    let cn = e / BK;
    let kq = e % BK;
    let n = n0 + cn;
    let k = k0 + kq;
    var v = 0.0;
    if (n < p.N && k < p.K) { v = b_at(off + n * p.K + k); }
    put_b(kq, cn, v);
  }
}

@compute @workgroup_size(WX, WY)
fn main(@builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u,
        @builtin(num_workgroups) nwg: vec3u) {
  let o = wid.y + wid.z * nwg.y;
  if (o >= p.tiles_m * p.batch) { return; }
  let offs = mm_batch_offsets(o / p.tiles_m);
  let m0 = (o % p.tiles_m) * BM;
  let n0 = wid.x * BN;
  let tid = lid.y * WX + lid.x;
  var acc: array<array<vec4<f32>, TN / 4u>, TM>;
  for (var k0 = 0u; k0 < p.K; k0 += BK) {
    {{FILL_A}}(offs.x, m0, k0, tid);
    {{FILL_B}}(offs.y, n0, k0, tid);
    workgroupBarrier();
    // Dynamic bound: skips the zero padding of the last slice (and keeps CPU drivers from unrolling it).
    for (var kk = 0u; kk < min(BK, p.K - k0); kk++) {
      var av: array<vec4<f32>, TM / 4u>;
      for (var i = 0u; i < TM / 4u; i++) { av[i] = As[kk * (BM / 4u) + lid.y * (TM / 4u) + i]; }
      var bv: array<vec4<f32>, TN / 4u>;
      for (var j = 0u; j < TN / 4u; j++) { bv[j] = Bs[kk * (BN / 4u) + lid.x * (TN / 4u) + j]; }
      for (var i = 0u; i < TM; i++) {
        let x = vec4<f32>(av[i / 4u][i % 4u]);
        for (var j = 0u; j < TN / 4u; j++) { acc[i][j] = fma(x, bv[j], acc[i][j]); }
      }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < TM; i++) {
    let m = m0 + lid.y * TM + i;
    if (m < p.M) {
      for (var j = 0u; j < TN / 4u; j++) { mm_store4(offs.z, m, n0 + lid.x * TN + j * 4u, acc[i][j]); }
    }
  }
}
