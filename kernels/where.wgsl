// out = cond != 0 ? a : b elementwise, with all three broadcast to the collapsed output shape
// (binary.ts broadcastLayout); strides are element strides, 0 on broadcast dims. Only the selected
// operand is read.
// Defines:
//   T = `f32` -- f32 | f16 | i32: storage type of a, b and out
//   BCAST = `true` -- true | false: false is the equal-shape fast path (no index math)
//   R4 = `2` -- vec4 words per shape/stride array: MAX_RANK / 4 = 2
// Bindings (group 0):
//   @binding(0) cond: array<i32>, read -- condition (nonzero = true; there is no bool dtype)
//   @binding(1) a_in: array<T>, read -- taken where cond != 0
//   @binding(2) b_in: array<T>, read -- taken elsewhere
//   @binding(3) out: array<T>, read_write -- result, one element per invocation
//   @binding(4) p: Params, uniform
// Params:
//   n: u32 -- output elements
//   rank: u32 -- dims of the collapsed shape (0..8)
//   shape: array<vec4<u32>, R4> -- collapsed output shape
//   sc: array<vec4<u32>, R4> -- element strides of cond over shape (0 = broadcast)
//   sa: array<vec4<u32>, R4> -- element strides of a
//   sb: array<vec4<u32>, R4> -- element strides of b

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
