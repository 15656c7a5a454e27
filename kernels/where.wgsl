// out = cond != 0 ? a : b with all three broadcast to the (collapsed) output shape; strides are element
// strides, 0 on broadcast dims. BCAST=false is the equal-shape fast path (no index math).

const BCAST: bool = {{BCAST}};

struct Params {
  n: u32,
  rank: u32,
  shape: array<vec4<u32>, {{R4}}>,
  sc: array<vec4<u32>, {{R4}}>,
  sa: array<vec4<u32>, {{R4}}>,
  sb: array<vec4<u32>, {{R4}}>,
}

@group(0) @binding(0) var<storage, read> cond: array<i32>;
@group(0) @binding(1) var<storage, read> a_in: array<{{T}}>;
@group(0) @binding(2) var<storage, read> b_in: array<{{T}}>;
@group(0) @binding(3) var<storage, read_write> out: array<{{T}}>;
@group(0) @binding(4) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= p.n) { return; }
  var ic = i;
  var ia = i;
  var ib = i;
  if (BCAST) {
    ic = 0u;
    ia = 0u;
    ib = 0u;
    var rem = i;
    for (var k = p.rank; k > 1u; k--) {
      let d = k - 1u;
      let size = p.shape[d >> 2u][d & 3u];
      let c = rem % size;
      rem = rem / size;
      ic += c * p.sc[d >> 2u][d & 3u];
      ia += c * p.sa[d >> 2u][d & 3u];
      ib += c * p.sb[d >> 2u][d & 3u];
    }
    if (p.rank > 0u) {
      ic += rem * p.sc[0].x;
      ia += rem * p.sa[0].x;
      ib += rem * p.sb[0].x;
    }
  }
  // Only the selected operand is read.
  if (cond[ic] != 0) {
    out[i] = a_in[ia];
  } else {
    out[i] = b_in[ib];
  }
}
