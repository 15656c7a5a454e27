// Gather along an axis (embedding lookup, index_select): viewing the source as [outer, axis_len, inner]
// and ids as [k], y_out[o, j, i] = table[o, ids[j], i]. The table may be bound in row chunks (outer ==
// 1): this dispatch sees rows [row_start, row_start + row_count) and writes only outputs whose id falls
// there. Ids outside [0, axis_len) give zeros, written by the dispatch of the first chunk (row_start == 0).
// Defines:
//   T = `f32` -- f32 | f16 | i32: element type of table and y_out
// Bindings (group 0):
//   @binding(0) table: array<T>, read -- source rows [row_start, row_start + row_count)
//   @binding(1) ids: array<i32>, read -- indices along the axis, [k]
//   @binding(2) y_out: array<T>, read_write -- output [outer, k, inner], one element per invocation
//   @binding(3) p: Params, uniform
// Params:
//   n: u32 -- output elements: outer * k * inner
//   inner: u32 -- product of the dims after the axis
//   k: u32 -- number of ids
//   axis_len: u32 -- source length of the axis
//   row_start: u32 -- first source row this binding holds
//   row_count: u32 -- source rows this binding holds
//   _pad0: u32 -- padding
//   _pad1: u32 -- padding

struct Params {
  n: u32,
  inner: u32,
  k: u32,
  axis_len: u32,
  row_start: u32,
  row_count: u32,
  _pad0: u32,
  _pad1: u32,
}

@group(0) @binding(0) var<storage, read> table: array<{{T}}>;
@group(0) @binding(1) var<storage, read> ids: array<i32>;
@group(0) @binding(2) var<storage, read_write> y_out: array<{{T}}>;
@group(0) @binding(3) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= p.n) { return; }
  let col = i % p.inner;
  let row = i / p.inner;
  let j = row % p.k;
  let o = row / p.k;
  let id = ids[j];
  if (id >= 0 && u32(id) < p.axis_len) {
    let r = u32(id) - p.row_start; // wraps to a huge value below the chunk
    if (r < p.row_count) {
      y_out[i] = table[(o * p.axis_len + r) * p.inner + col];
    }
  } else if (p.row_start == 0u) {
    y_out[i] = {{T}}(0);
  }
}
