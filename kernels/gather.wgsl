// Gather along an axis (embedding lookup, index_select): viewing the source as [outer, axis_len, inner]
// and ids as [k], y_out[o, j, i] = table[o, ids[j], i]. The table may be bound in row chunks (outer == 1):
// this dispatch sees rows [row_start, row_start + row_count) and writes only outputs whose id falls there.
// Ids outside [0, axis_len) give zeros, written by the dispatch of the first chunk (row_start == 0).

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
