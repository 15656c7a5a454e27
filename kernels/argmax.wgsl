// Index (i32) of the maximum along one axis of x viewed as [outer, len, inner], the first index on ties
// (as torch). Same tiling as reduce.wgsl: TX outputs per workgroup, TY lanes along the axis, tree merge
// in workgroup memory. Values compare as A (f32 for float inputs, i32 for ints so large ids stay exact).
// Defines:
//   T = `f32` -- f32 | f16 | i32: x element
//   A = `f32` -- f32 for f32/f16, i32 for i32: comparison type (reduce.ts ARGMAX_VALUE)
//   TX = `1` -- outputs per workgroup, TX * TY = 256 (reduce.ts reduceTile)
//   TY = `256` -- lanes along the axis, a power of two
// Bindings (group 0):
//   @binding(0) x: array<T>, read -- input, [outer, len, inner]
//   @binding(1) y: array<i32>, read_write -- indices, [outer, inner]
//   @binding(2) p: Params, uniform
// Params:
//   outer: u32 -- product of the dims before the axis
//   len: u32 -- axis length
//   inner: u32 -- product of the dims after the axis
//   nout: u32 -- outer * inner
//   nblk: u32 -- ceil(nout / TX)
//   groups: u32 -- workgroups doing work (nblk)
//   chunk: u32 -- unused (len; reduce.ts shares the packing with reduce)
//   nchunk: u32 -- unused (1)
//   div: f32 -- unused (1)
//   _p0: u32 -- padding
//   _p1: u32 -- padding
//   _p2: u32 -- padding

struct Params {
  outer: u32, len: u32, inner: u32, nout: u32,
  nblk: u32, groups: u32, chunk: u32, nchunk: u32,
  div: f32, _p0: u32, _p1: u32, _p2: u32,
}

@group(0) @binding(0) var<storage, read> x: array<{{T}}>;
@group(0) @binding(1) var<storage, read_write> y: array<i32>;
@group(0) @binding(2) var<uniform> p: Params;

const TX = {{TX}}u;
const TY = {{TY}}u;
const NONE = 0xffffffffu; // "no element seen": loses against anything, so all -inf rows still give an index
var<workgroup> shv: array<{{A}}, 256>;
var<workgroup> shi: array<u32, 256>;

fn better(v: {{A}}, i: u32, bv: {{A}}, bi: u32) -> bool {
  return i != NONE && (bi == NONE || v > bv || (v == bv && i < bi));
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) li: u32) {
  let w = wid.x + wid.y * nwg.x;
  if (w >= p.groups) { return; }
  let tx = li % TX;
  let ty = li / TX;
  let m = w * TX + tx;
  var bv = {{A}}(0);
  var bi = NONE;
  if (m < p.nout) {
    let o = m / p.inner;
    let base = o * p.len * p.inner + (m - o * p.inner);
    // Ascending k with a strict '>' keeps the first index within a lane.
    for (var k = ty; k < p.len; k += TY) {
      let v = {{A}}(x[base + k * p.inner]);
      if (bi == NONE || v > bv) { bv = v; bi = k; }
    }
  }
  shv[li] = bv;
  shi[li] = bi;
  workgroupBarrier();
  for (var s = TY / 2u; s > 0u; s >>= 1u) {
    if (ty < s) {
      let q = li + s * TX;
      if (better(shv[q], shi[q], shv[li], shi[li])) { shv[li] = shv[q]; shi[li] = shi[q]; }
    }
    workgroupBarrier();
  }
  if (ty == 0u && m < p.nout) { y[m] = i32(shi[tx]); }
}
