// Tiled matmul for GPUs (matmul.ts variant 'tiled'): c = act(alpha * op(a) @ op(b) + bias) with broadcast
// batch dims. A workgroup of (BN/TN) x (BM/TM) threads computes a BM x BN tile of c, staging BK-deep
// slices of A and B in workgroup memory (k-major, so the inner loop reads vec4s) and keeping a TM x TN
// block per thread in registers. Fill functions (FILL_A / FILL_B) use vec4 global loads along the
// contiguous dim when it is a multiple of 4; out-of-range elements load as 0 so ragged M/N/K work.
// Grid (util.ts foldedGrid): x = column tile, y + z * num_workgroups.y = row tile + tiles_m * matrix.
// Defines:
//   BM = `64` -- tile rows (matmul.ts tiledKernel: 128 | 64 | 32), a multiple of TM
//   BN = `64` -- tile columns (128 | 64 | 32), a multiple of TN
//   BK = `16` -- k slice staged per step (16)
//   TM = `4` -- rows per thread (8 with 128 tiles, else 4), a multiple of 4
//   TN = `4` -- columns per thread (as TM)
//   FILL_A = `fill_a_k4` -- A loader: fill_a_k4 (row-major, K % 4 == 0) | fill_a_rm (row-major) |
//     fill_a_t4 (transposed, M % 4 == 0) | fill_a_t (transposed)
//   FILL_B = `fill_b_k4` -- B loader: fill_b_n4 (row-major, N % 4 == 0) | fill_b_rm | fill_b_k4
//     (transposed [N, K], K % 4 == 0) | fill_b_t (transposed)
//   AT = `vec4<{{T}}>` -- a element: vec4<T> for the *4 loaders, else T
//   BT = `vec4<{{T}}>` -- b element: vec4<T> for the *4 loaders, else T
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
