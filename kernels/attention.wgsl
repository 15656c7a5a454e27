// Fused attention (attention.ts variant 'online'), FlashAttention-style: out = softmax(q k^T * scale +
// bias, masked) v without ever forming the [Lq, Lk] logits. A workgroup owns BQ * R query rows of one
// (batch, head); invocation lid owns rows lid + r * BQ (r < R) and keeps their scaled q, running max / sum
// and Dv accumulators in f32. All invocations read the same K/V element at the same time (a broadcast load
// on GPUs, one scalar load per SIMD chunk on CPU rasterisers such as lavapipe), and each element loaded
// feeds R rows. Keys are consumed in groups of KG = 4: KG logits per row, one online-softmax rescale, then
// the weighted sum of V. No workgroup memory or barriers: K/V come straight from (cached) storage.
// Workgroup w (wid.x + wid.y * num_workgroups.x) handles (batch, head) w / q_blocks, block w % q_blocks.
//
// Head-dim loops: with UNROLL they run to the constant capacities DK4 / DV4 (zero-padded), so GPU
// compilers can unroll them and keep q / acc in registers instead of local memory; without it they stop at
// ceil(D / 4) at run time, since fully unrolled 128-wide loops take LLVM (lavapipe) tens of seconds.
//
// Masking follows DALLE2-pytorch: masked logits are *filled* with -FLT_MAX after the bias is added, so a
// fully masked row is the uniform average over all Lk keys (as torch computes it; never NaN). Causal masks
// key j for row i when j > i + (Lk - Lq) (torch ones(Lq, Lk).triu_(Lk - Lq + 1)); a workgroup stops after
// the last key its rows can see, and rows still fully masked there finish with a V-only sum.
// Defines:
//   BQ = `64` -- invocations per workgroup: 16 | 32 | 64 (attention.ts attentionTiling: 16 on CPU drivers, 64 on GPUs)
//   R = `1` -- query rows per invocation: 1 | 2 | 4 (4 on CPU drivers, 1 on GPUs)
//   UNROLL = `true` -- true | false: head-dim loops to the capacities (GPUs) or to ceil(D / 4) (CPU drivers)
//   DK4 = `16` -- q/k head-dim capacity in vec4s: a power of two >= 2, >= ceil(D / 4) (attention.ts headCap / 4)
//   DV4 = `16` -- v head-dim capacity in vec4s, as DK4 for Dv
//   T = `f32` -- f32 | f16: element type of q, k, v and out
//   QKT = `vec4<{{T}}>` -- q / k element: vec4<T> with VQK, else T
//   VT = `vec4<{{T}}>` -- v element: vec4<T> with VV, else T
//   BT = `f32` -- f32 | f16: element type of the bias (f32 when absent)
//   VQK = `true` -- true | false: q and k bound as vectors (D % 4 == 0, vector-aligned bindings)
//   VV = `true` -- true | false: v bound as vectors (Dv % 4 == 0, vector-aligned binding)
//   CAUSAL = `false` -- true | false: mask key j for row i when j > i + causal_off
//   HAS_MASK = `false` -- true | false: key padding mask (false: binding 3 is q again, never read)
//   HAS_BIAS = `false` -- true | false: add the bias to the scaled logits (false: binding 4 is q again)
// Bindings (group 0):
//   @binding(0) q_in: array<QKT>, read -- q [B, H, Lq, D]
//   @binding(1) k_in: array<QKT>, read -- k [B, Hk, Lk, D] (Hk divides H: grouped K/V)
//   @binding(2) v_in: array<VT>, read -- v [B, Hk, Lk, Dv]
//   @binding(3) mask_in: array<i32>, read -- key padding mask [B, Lk], nonzero = keep
//   @binding(4) bias_in: array<BT>, read -- bias broadcast to [B, H, Lq, Lk] by the strides sb..sj
//   @binding(5) out: array<T>, read_write -- out [B, H, Lq, Dv]
//   @binding(6) p: Params, uniform
// Params:
//   H: u32 -- query heads
//   Hk: u32 -- key / value heads
//   Lq: u32 -- query length
//   Lk: u32 -- key length (>= 1)
//   D: u32 -- q / k head dim, 1..128
//   Dv: u32 -- v head dim, 1..128
//   groups: u32 -- query heads per key head: H / Hk
//   q_blocks: u32 -- query-row blocks per (batch, head): ceil(Lq / rows per workgroup)
//   total_wg: u32 -- workgroups doing work: B * H * q_blocks (grid1d may add idle ones)
//   causal_off: i32 -- Lk - Lq
//   scale: f32 -- logit scale (default 1 / sqrt(D))
//   _pad: u32 -- padding
//   sb: u32 -- bias element stride along B (0 = broadcast)
//   sh: u32 -- bias stride along H
//   si: u32 -- bias stride along Lq
//   sj: u32 -- bias stride along Lk

const BQ: u32 = {{BQ}}u;
const KG: u32 = 4u;
const KB: u32 = KG;  // keys per online-softmax block (lib_attention)
const R: u32 = {{R}}u;
const DK4: u32 = {{DK4}}u;
const DV4: u32 = {{DV4}}u;
const UNROLL: bool = {{UNROLL}};
//!include lib_attention

// Per-invocation state for its R query rows: entry [d][r] holds head-dim chunk d of row r. Nested with the
// chunk outermost, so a loop over d indexes an array of exactly its trip count (compilers such as NIR then
// unroll it whatever its size, and every index becomes a constant: no per-lane gathers on CPU drivers).
var<private> qv: array<array<vec4<f32>, R>, DK4>;
var<private> acc: array<array<vec4<f32>, R>, DV4>;
var<private> m_run: array<f32, R>;
var<private> l_run: array<f32, R>;

// Head-dim chunks the loops visit for q/k (D) and v (Dv).
fn chunks_qk() -> u32 { return select((p.D + 3u) / 4u, DK4, UNROLL); }
fn chunks_v() -> u32 { return select((p.Dv + 3u) / 4u, DV4, UNROLL); }

// Online-softmax step for the invocation's rows i0 + r * BQ over keys [j0, j0 + KG): keys past Lk get
// weight 0. Each K/V chunk loaded feeds all R rows.
fn key_group(j0: u32, i0: u32, kb: u32, vb: u32, bbase: u32, mrow: u32) {
  var s: array<array<f32, KG>, R>;  // [r][g]: logits, then weights
  var kj: array<u32, KG>;
  for (var g = 0u; g < KG; g++) { kj[g] = min(j0 + g, p.Lk - 1u); } // clamped: loads stay in bounds
  let nd = chunks_qk();
  for (var d = 0u; d < nd; d++) {
    let in_row = lanes(d) < vec4<u32>(p.D);
    for (var g = 0u; g < KG; g++) {
      var kk = k4(kb + kj[g] * p.D + d * 4u);
      // Lanes past D hold the next key row (or clamped reads): zero them, as 0 * NaN would still be NaN.
      if (!VQK || UNROLL) { kk = select(vec4<f32>(0.0), kk, in_row); }
      for (var r = 0u; r < R; r++) { s[r][g] += dot(qv[d][r], kk); }
    }
  }
  var alpha: array<f32, R>;
  for (var r = 0u; r < R; r++) {
    let blk = softmax_block(s[r], r, i0 + r * BQ, j0, bbase, mrow);
    s[r] = blk.w;
    alpha[r] = blk.alpha;
  }
  let nv = chunks_v(); // lanes past Dv accumulate junk that is never stored
  for (var d = 0u; d < nv; d++) {
    var a: array<vec4<f32>, R>;
    for (var r = 0u; r < R; r++) { a[r] = acc[d][r] * alpha[r]; }
    for (var g = 0u; g < KG; g++) {
      let vv = v4(vb + kj[g] * p.Dv + d * 4u);
      for (var r = 0u; r < R; r++) { a[r] = fma(vec4<f32>(s[r][g]), vv, a[r]); }
    }
    for (var r = 0u; r < R; r++) { acc[d][r] = a[r]; }
  }
}

// Output stays a scalar array: one strided row store per row is negligible next to the key loop.
fn store_row(r: u32, ob: u32) {
  let inv = 1.0 / l_run[r]; // l_run >= 1: the row max contributes exp(0)
  for (var c = 0u; c < p.Dv; c++) { out[ob + c] = {{T}}(acc[c >> 2u][r][c & 3u] * inv); }
}

// Tail of row r when still fully masked past the block's last visible key: every remaining logit is
// -FLT_MAX as well, so each key joins torch's uniform softmax with weight exp(0) = 1.
fn masked_tail(r: u32, j_from: u32, vb: u32) {
  for (var j = j_from; j < p.Lk; j++) {
    for (var d = 0u; d < chunks_v(); d++) { acc[d][r] += v4(vb + j * p.Dv + d * 4u); }
    l_run[r] += 1.0;
  }
}

@compute @workgroup_size(BQ)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let wid = wg.x + wg.y * nwg.x; // folded grid
  if (wid >= p.total_wg) { return; }
  let bh = wid / p.q_blocks;
  let r0 = (wid - bh * p.q_blocks) * BQ * R; // first row of this workgroup's block of BQ * R rows
  let b = bh / p.H;
  let h = bh - b * p.H;
  let kvh = b * p.Hk + h / p.groups; // multi-query / grouped: `groups` query heads share a K/V head
  // Row r of this invocation is r0 + lid + r * BQ. Rows past Lq compute a clamped duplicate and never
  // store: no divergent exit, so the key loop stays uniform and K/V addresses are the same for all.
  let i0 = r0 + lid;
  for (var r = 0u; r < R; r++) {
    let qoff = (bh * p.Lq + min(i0 + r * BQ, p.Lq - 1u)) * p.D;
    for (var d = 0u; d < chunks_qk(); d++) {
      qv[d][r] = select(vec4<f32>(0.0), q4(qoff + d * 4u) * p.scale, lanes(d) < vec4<u32>(p.D));
    }
    for (var d = 0u; d < chunks_v(); d++) { acc[d][r] = vec4<f32>(0.0); }
    m_run[r] = NEG;
    l_run[r] = 0.0;
  }

  let kb = kvh * p.Lk * p.D;
  let vb = kvh * p.Lk * p.Dv;
  let bbase = b * p.sb + h * p.sh;
  let mrow = b * p.Lk;
  let j_stop = key_stop(r0, BQ * R);
  var j0 = 0u;
  for (; j0 < j_stop; j0 += KG) { key_group(j0, i0, kb, vb, bbase, mrow); }
  for (var r = 0u; r < R; r++) {
    let i = i0 + r * BQ;
    if (CAUSAL && m_run[r] == NEG) { masked_tail(r, j0, vb); }
    if (i < p.Lq) { store_row(r, (bh * p.Lq + i) * p.Dv); }
  }
}
