// lib_attention: the flags, uniforms, bindings, q/k/v element access and online-softmax block update
// of the fused attention kernels. q/k (resp. v) bound as vec4 arrays need D (resp. Dv) % 4 == 0.
// Included by: attention, attention_sg.
// Defines: BT, CAUSAL, HAS_BIAS, HAS_MASK, QKT, T, VQK, VT, VV (values: the including kernel's header).
// Needs from the includer: const KB (keys per block) and R (rows per invocation), and the private
// running max / sum per row, m_run / l_run: array<f32, R>.
// Declares: bindings 0..6 and struct Params (documented in each including kernel's header).
const VQK: bool = {{VQK}};
const VV: bool = {{VV}};
const CAUSAL: bool = {{CAUSAL}};
const HAS_MASK: bool = {{HAS_MASK}};
const HAS_BIAS: bool = {{HAS_BIAS}};
// -torch.finfo(float32).max: the fill for masked logits and the running max's start value.
const NEG: f32 = -0x1.fffffep+127f;

struct Params {
  H: u32, Hk: u32, Lq: u32, Lk: u32,
  D: u32, Dv: u32, groups: u32, q_blocks: u32,
  total_wg: u32, causal_off: i32, scale: f32, _pad: u32,
  // Element strides of the bias over [B, H, Lq, Lk] (0 on broadcast dims).
  sb: u32, sh: u32, si: u32, sj: u32,
}

@group(0) @binding(0) var<storage, read> q_in: array<{{QKT}}>;
@group(0) @binding(1) var<storage, read> k_in: array<{{QKT}}>;
@group(0) @binding(2) var<storage, read> v_in: array<{{VT}}>;
@group(0) @binding(3) var<storage, read> mask_in: array<i32>;
@group(0) @binding(4) var<storage, read> bias_in: array<{{BT}}>;
@group(0) @binding(5) var<storage, read_write> out: array<{{T}}>;
@group(0) @binding(6) var<uniform> p: Params;

// Storage elements are T, or vec4<T> when VQK / VV: widening through vec4<T> splats a scalar and converts
// a vector, so both layouts type-check and the constant flag picks the live branch below.
fn wide_qk(x: {{QKT}}) -> vec4<f32> { return vec4<f32>(vec4<{{T}}>(x)); }
fn wide_v(x: {{VT}}) -> vec4<f32> { return vec4<f32>(vec4<{{T}}>(x)); }

// Elements [e, e + 4) of q / k / v as f32 (e % 4 == 0 on the vec4 layouts). Callers mask lanes past a row.
fn q4(e: u32) -> vec4<f32> {
  if (VQK) { return wide_qk(q_in[e >> 2u]); }
  return vec4<f32>(wide_qk(q_in[e]).x, wide_qk(q_in[e + 1u]).x, wide_qk(q_in[e + 2u]).x, wide_qk(q_in[e + 3u]).x);
}

fn k4(e: u32) -> vec4<f32> {
  if (VQK) { return wide_qk(k_in[e >> 2u]); }
  return vec4<f32>(wide_qk(k_in[e]).x, wide_qk(k_in[e + 1u]).x, wide_qk(k_in[e + 2u]).x, wide_qk(k_in[e + 3u]).x);
}

fn v4(e: u32) -> vec4<f32> {
  if (VV) { return wide_v(v_in[e >> 2u]); }
  return vec4<f32>(wide_v(v_in[e]).x, wide_v(v_in[e + 1u]).x, wide_v(v_in[e + 2u]).x, wide_v(v_in[e + 3u]).x);
}

// Element indices of the four lanes of head-dim chunk d.
fn lanes(d: u32) -> vec4<u32> { return vec4<u32>(d * 4u) + vec4<u32>(0u, 1u, 2u, 3u); }

// Logit of row i, key j after the additive bias and the masks (j < Lk; i may be a clamped duplicate row).
// Masked logits are *filled* with NEG after the bias, as DALLE2-pytorch does; a -inf bias must not make
// inf - inf = NaN later, hence the max.
fn fix_logit(x0: f32, i: u32, j: u32, bbase: u32, mrow: u32) -> f32 {
  var x = x0;
  if (HAS_BIAS) { x += f32(bias_in[bbase + min(i, p.Lq - 1u) * p.si + j * p.sj]); }
  x = max(x, NEG);
  if (HAS_MASK) { x = select(x, NEG, mask_in[mrow + j] == 0); }
  if (CAUSAL) { x = select(x, NEG, i32(j) > i32(i) + p.causal_off); }
  return x;
}

// Keys past the last one visible to rows [r0, r0 + rows) are masked for all of them (causal), so a
// block's key loop may stop there.
fn key_stop(r0: u32, rows: u32) -> u32 {
  if (!CAUSAL) { return p.Lk; }
  return u32(clamp(i32(min(r0 + rows, p.Lq)) + p.causal_off, 0, i32(p.Lk)));
}

// One row's logits for keys j0 .. j0 + KB - 1 turned into softmax weights (keys past Lk weigh 0), and the
// factor its accumulators must be scaled by (the running max may have grown).
struct SoftmaxBlock { w: array<f32, KB>, alpha: f32 }

// Online-softmax step of row r (query i) over a block of KB logits: bias and masks, then the running max
// and sum. exp(NEG - real) underflows to exactly 0: an all-masked prefix is dropped once a real logit
// shows up, while an all-masked row keeps weight exp(NEG - NEG) = 1 per key (torch's uniform softmax).
fn softmax_block(logits: array<f32, KB>, r: u32, i: u32, j0: u32, bbase: u32, mrow: u32) -> SoftmaxBlock {
  var b: SoftmaxBlock;
  var gmax = NEG;
  for (var g = 0u; g < KB; g++) {
    let x = fix_logit(logits[g], i, min(j0 + g, p.Lk - 1u), bbase, mrow);
    b.w[g] = x;
    if (j0 + g < p.Lk) { gmax = max(gmax, x); }
  }
  let m_new = max(m_run[r], gmax);
  b.alpha = exp(m_run[r] - m_new);
  m_run[r] = m_new;
  var l = l_run[r] * b.alpha;
  for (var g = 0u; g < KB; g++) {
    let w = select(0.0, exp(b.w[g] - m_new), j0 + g < p.Lk);
    b.w[g] = w;
    l += w;
  }
  l_run[r] = l;
  return b;
}
