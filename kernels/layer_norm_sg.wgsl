// LayerNorm over the last dim, subgroup variant for CPU drivers (layer_norm is the portable one; rows
// of more than 12 * SG vectors, shorter ones take layer_norm_sg_reg): one workgroup = one subgroup of SG
// lanes normalises rows_per_wg consecutive rows one after the other (a few KB per workgroup), each row
// read as 4-vectors (the op requires d % 4 == 0). Per-lane Welford over values shifted by the row's first
// element, combined by subgroupAdd, then normalise.
// STABLE: DALLE2-pytorch's stable LayerNorm divides the row by its max (amax) before normalising.
// Defines:
//   T = `f32` -- f32 | f16: element type of x and y
//   TW = `{{T}}` -- f32 | f16: element type of weight and bias (x's when both are absent)
//   SG = `32` -- subgroup size, fixed: must equal the adapter's (subgroupMinSize == subgroupMaxSize;
//     util.ts fixedSubgroupSize, 4..32: 8 on lavapipe)
//   HAS_W = `true` -- true | false: scale by w_in (false: the binding is a dummy, never read)
//   HAS_B = `true` -- true | false: add b_in (false: dummy binding)
//   STABLE = `false` -- true | false: DALLE2-pytorch stable LayerNorm (row divided by its amax first)
// Bindings (group 0):
//   @binding(0) x_in: array<vec4<T>>, read -- input [rows, d] as vectors
//   @binding(1) w_in: array<vec4<TW>>, read -- weight [d] as vectors
//   @binding(2) b_in: array<vec4<TW>>, read -- bias [d] as vectors
//   @binding(3) y_out: array<vec4<T>>, read_write -- output as vectors
//   @binding(4) p: Params, uniform
// Params:
//   rows: u32 -- rows in all
//   d4: u32 -- vectors per row: d / 4
//   rows_per_wg: u32 -- consecutive rows per workgroup (norm.ts: about 4096 elements, at most 64 rows)
//   eps: f32 -- added to the variance
enable subgroups;
//!include lib_welford_sg

//!include lib_layer_norm_sg
const LOWEST = -0x1.fffffep+127f; // -FLT_MAX

fn load(i: u32, amax: f32) -> vec4<f32> {
  let v = vec4<f32>(x_in[i]);
  if (STABLE) { return v / amax; }
  return v;
}

@compute @workgroup_size(SG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(subgroup_invocation_id) lane: u32) {
  let r0 = (wid.x + wid.y * nwg.x) * p.rows_per_wg;
  let r1 = min(r0 + p.rows_per_wg, p.rows);
  for (var row = r0; row < r1; row++) {
    let base = row * p.d4;
    let end = base + p.d4;
    var amax = 1.0;
    if (STABLE) {
      var m = vec4<f32>(LOWEST);
      for (var i = base + lane; i < end; i += SG) { m = max(m, vec4<f32>(x_in[i])); }
      amax = subgroupMax(max(max(m.x, m.y), max(m.z, m.w)));
    }
    let shift = load(base, amax).x;
    var acc = WelfordV4(0.0, vec4<f32>(0.0), vec4<f32>(0.0));
    for (var i = base + lane; i < end; i += SG) { wv4_push(&acc, load(i, amax) - shift); }
    let tot = welford_subgroup_total(wv4_collapse(acc));
    let mean = tot.y;
    let rstd = 1.0 / sqrt(tot.z / tot.x + p.eps);
    for (var j = lane; j < p.d4; j += SG) {
      var v = (load(base + j, amax) - shift - mean) * rstd;
      if (HAS_W) { v = v * vec4<f32>(w_in[j]); }
      if (HAS_B) { v = v + vec4<f32>(b_in[j]); }
      y_out[base + j] = vec4<{{T}}>(v);
    }
  }
}
