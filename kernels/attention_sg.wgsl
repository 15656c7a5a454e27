// Fused attention on one subgroup per workgroup (attention.ts variant 'subgroup', the CPU-driver default):
// the same math and masking as attention.wgsl (see there), laid out like matmul_sg. A workgroup of SG
// lanes owns SG * R query rows of one (batch, head): lane l owns rows r0 + l + r * SG. Keys go in blocks
// of SG: lane l loads the K and V chunks of key j0 + l (every lane a different key, so each load is
// useful), and the chunks reach the other lanes by subgroupShuffle, each feeding the R rows of every lane.
// Logits, the online softmax and the accumulators are lane-local. Head-dim loops run to the constant
// capacities DK4 / DV4 over arrays of exactly that length, so they unroll and every register index is a
// constant. Workgroup w (wid.x + wid.y * num_workgroups.x) handles (batch, head) w / q_blocks, block
// w % q_blocks.
// Defines:
//   SG = `32` -- subgroup size, fixed: must equal the adapter's (subgroupMinSize == subgroupMaxSize;
//     util.ts fixedSubgroupSize, 4..32: 8 on lavapipe)
//   R = `2` -- query rows per lane (attention.ts SG_ROWS = 2)
//   DK4 = `16` -- q/k head dim in vec4s, exactly ceil(D / 4)
//   DV4 = `16` -- v head dim in vec4s, exactly ceil(Dv / 4)
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
enable subgroups;

const SG: u32 = {{SG}}u;
const R: u32 = {{R}}u;
const DK4: u32 = {{DK4}}u;
const DV4: u32 = {{DV4}}u;
const KB: u32 = SG;  // keys per online-softmax block (lib_attention)
//!include lib_attention

// [d][r]: head-dim chunk d of row r (scaled q; unnormalised output).
var<private> qv: array<array<vec4<f32>, R>, DK4>;
var<private> acc: array<array<vec4<f32>, R>, DV4>;
var<private> m_run: array<f32, R>;
var<private> l_run: array<f32, R>;

// Online-softmax step over keys [j0, j0 + SG) for this lane's rows i0 + r * SG; keys past Lk weigh 0.
fn key_block(j0: u32, i0: u32, lane: u32, kb: u32, vb: u32, bbase: u32, mrow: u32) {
  let kj = min(j0 + lane, p.Lk - 1u); // this lane's key (clamped: loads stay in bounds)
  var s: array<array<f32, SG>, R>;
  for (var d = 0u; d < DK4; d++) {
    var kc = vec4<f32>(0.0);
    if (d * 4u < p.D) { kc = select(vec4<f32>(0.0), k4(kb + kj * p.D + d * 4u), lanes(d) < vec4<u32>(p.D)); }
    for (var jj = 0u; jj < SG; jj++) {
      let kx = subgroupShuffle(kc, jj);
      for (var r = 0u; r < R; r++) { s[r][jj] += dot(qv[d][r], kx); }
    }
  }
  var alpha: array<f32, R>;
  for (var r = 0u; r < R; r++) {
    let blk = softmax_block(s[r], r, i0 + r * SG, j0, bbase, mrow);
    s[r] = blk.w;
    alpha[r] = blk.alpha;
  }
  for (var d = 0u; d < DV4; d++) {
    var vc = vec4<f32>(0.0);
    if (d * 4u < p.Dv) { vc = v4(vb + kj * p.Dv + d * 4u); } // lanes past Dv: junk, never stored
    var a: array<vec4<f32>, R>;
    for (var r = 0u; r < R; r++) { a[r] = acc[d][r] * alpha[r]; }
    for (var jj = 0u; jj < SG; jj++) {
      let vx = subgroupShuffle(vc, jj);
      for (var r = 0u; r < R; r++) { a[r] = fma(vec4<f32>(s[r][jj]), vx, a[r]); }
    }
    for (var r = 0u; r < R; r++) { acc[d][r] = a[r]; }
  }
}

@compute @workgroup_size(SG)
fn main(@builtin(subgroup_invocation_id) lane: u32, @builtin(workgroup_id) wg: vec3u,
        @builtin(num_workgroups) nwg: vec3u) {
  let wid = wg.x + wg.y * nwg.x; // folded grid
  if (wid >= p.total_wg) { return; }
  let bh = wid / p.q_blocks;
  let r0 = (wid - bh * p.q_blocks) * SG * R;
  let b = bh / p.H;
  let h = bh - b * p.H;
  let kvh = b * p.Hk + h / p.groups; // multi-query / grouped: `groups` query heads share a K/V head
  // Rows past Lq compute a clamped duplicate and never store: the key loop stays uniform for the shuffles.
  let i0 = r0 + lane;
  for (var r = 0u; r < R; r++) {
    let qoff = (bh * p.Lq + min(i0 + r * SG, p.Lq - 1u)) * p.D;
    for (var d = 0u; d < DK4; d++) {
      var qc = vec4<f32>(0.0);
      if (d * 4u < p.D) { qc = select(vec4<f32>(0.0), q4(qoff + d * 4u) * p.scale, lanes(d) < vec4<u32>(p.D)); }
      qv[d][r] = qc;
    }
    for (var d = 0u; d < DV4; d++) { acc[d][r] = vec4<f32>(0.0); }
    m_run[r] = NEG;
    l_run[r] = 0.0;
  }
  let kb = kvh * p.Lk * p.D;
  let vb = kvh * p.Lk * p.Dv;
  let bbase = b * p.sb + h * p.sh;
  let mrow = b * p.Lk;
  let j_stop = key_stop(r0, SG * R);
  var j0 = 0u;
  for (; j0 < j_stop; j0 += SG) { key_block(j0, i0, lane, kb, vb, bbase, mrow); }
  for (var r = 0u; r < R; r++) {
    let i = i0 + r * SG;
    // Still fully masked past the block's last visible key: every remaining key joins torch's uniform
    // softmax with weight exp(NEG - NEG) = 1 (the rare causal Lq > Lk case).
    if (CAUSAL && m_run[r] == NEG) {
      for (var j = j0; j < p.Lk; j++) {
        for (var d = 0u; d < DV4; d++) {
          if (d * 4u < p.Dv) { acc[d][r] += v4(vb + j * p.Dv + d * 4u); }
        }
        l_run[r] += 1.0;
      }
    }
    if (i < p.Lq) {
      let inv = 1.0 / l_run[r]; // l_run >= 1: the row max contributes exp(0)
      let ob = (bh * p.Lq + i) * p.Dv;
      for (var d = 0u; d < DV4; d++) {
        for (var e = 0u; e < 4u; e++) {
          if (d * 4u + e < p.Dv) { out[ob + d * 4u + e] = {{T}}(acc[d][r][e] * inv); }
        }
      }
    }
  }
}
