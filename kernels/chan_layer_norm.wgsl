// ChanLayerNorm (norm.ts chanLayerNorm, DALLE2-pytorch): layer norm over dim 1 of [N, C, S] (S =
// flattened spatial), gamma only. A workgroup holds PX = 32 adjacent pixels x LANES = 8 channel lanes:
// lane l walks channels l, l + LANES, ... so each warp reads PX consecutive pixels of one channel
// (coalesced). Per-lane Welford over values shifted by channel 0 (a large mean costs no precision),
// merged across lanes in workgroup memory. STABLE divides by the per-pixel channel max (amax) first, as
// DALLE2-pytorch's stable flag. Workgroup w handles batch w / blocks, pixels [32 * (w % blocks), +32).
// Defines:
//   T = `f32` -- f32 | f16: element type of x and y
//   TW = `{{T}}` -- f32 | f16: element type of the weight (x's when absent)
//   HAS_W = `true` -- true | false: scale by w_in (false: the binding is a dummy, never read)
//   STABLE = `false` -- true | false: divide by the per-pixel channel amax first
// Bindings (group 0):
//   @binding(0) x_in: array<T>, read -- input [N, C, S]
//   @binding(1) w_in: array<TW>, read -- weight (gamma) [C]
//   @binding(2) y_out: array<T>, read_write -- output [N, C, S]
//   @binding(3) p: Params, uniform
// Params:
//   c: u32 -- channels C
//   spatial: u32 -- pixels S
//   blocks: u32 -- pixel blocks per batch: ceil(S / 32)
//   total_wg: u32 -- workgroups doing work: N * blocks
//   eps: f32 -- added to the variance
//   _p0: u32 -- padding
//   _p1: u32 -- padding
//   _p2: u32 -- padding
//!include lib_welford

struct Params { c: u32, spatial: u32, blocks: u32, total_wg: u32, eps: f32, _p0: u32, _p1: u32, _p2: u32 }

@group(0) @binding(0) var<storage, read> x_in: array<{{T}}>;
@group(0) @binding(1) var<storage, read> w_in: array<{{TW}}>;
@group(0) @binding(2) var<storage, read_write> y_out: array<{{T}}>;
@group(0) @binding(3) var<uniform> p: Params;

const PX = 32u;
const LANES = 8u;
const WG = 256u; // PX * LANES; sizes welford_sh, used here as [LANES][PX]
const HAS_W: bool = {{HAS_W}};
const STABLE: bool = {{STABLE}};
const LOWEST = -0x1.fffffep+127f; // -FLT_MAX

var<workgroup> red_max: array<f32, WG>;

// Maximum over the LANES values of pixel px; uniform control flow only.
fn lane_max(v: f32, px: u32, lane: u32) -> f32 {
  red_max[lane * PX + px] = v;
  workgroupBarrier();
  var r = LOWEST;
  for (var l = 0u; l < LANES; l++) { r = max(r, red_max[l * PX + px]); }
  return r;
}

fn load(i: u32, amax: f32) -> f32 {
  let v = f32(x_in[i]);
  if (STABLE) { return v / amax; }
  return v;
}

@compute @workgroup_size(32, 8)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_id) lid: vec3u) {
  let w = wid.x + wid.y * nwg.x;
  if (w >= p.total_wg) { return; }
  let px = lid.x;
  let lane = lid.y;
  let s = (w % p.blocks) * PX + px;
  // Pixels past the end still join every barrier, with no channels to visit.
  let c_end = select(0u, p.c, s < p.spatial);
  let base = (w / p.blocks) * p.c * p.spatial + s;
  var amax = 1.0;
  if (STABLE) {
    var m = LOWEST;
    for (var c = lane; c < c_end; c += LANES) { m = max(m, f32(x_in[base + c * p.spatial])); }
    amax = lane_max(m, px, lane);
  }
  var shift = 0.0;
  if (c_end > 0u) { shift = load(base, amax); }
  var acc = vec3f(0.0);
  for (var c = lane; c < c_end; c += LANES) { acc = welford_push(acc, load(base + c * p.spatial, amax) - shift); }
  welford_sh[lane * PX + px] = acc;
  workgroupBarrier();
  var tot = vec3f(0.0);
  for (var l = 0u; l < LANES; l++) { tot = welford_merge(tot, welford_sh[l * PX + px]); }
  let mean = tot.y;
  let rstd = 1.0 / sqrt(tot.z / tot.x + p.eps);
  for (var c = lane; c < c_end; c += LANES) {
    var v = (load(base + c * p.spatial, amax) - shift - mean) * rstd;
    if (HAS_W) { v = v * f32(w_in[c]); }
    y_out[base + c * p.spatial] = {{T}}(v);
  }
}
