// out = mask != 0 ? value : x (torch masked_fill) with x and mask broadcast to the collapsed output
// shape (binary.ts broadcastLayout); value is a uniform in compute type C.
// Defines:
//   T = `f32` -- f32 | f16 | i32: storage type of x and out
//   C = `f32` -- f32 for f32/f16 storage, i32 for i32: type of the fill value
//   BCAST = `true` -- true | false: false is the equal-shape fast path (no index math)
//   R4 = `2` -- vec4 words per shape/stride array: MAX_RANK / 4 = 2
// Bindings (group 0):
//   @binding(0) x_in: array<T>, read -- input x
//   @binding(1) mask: array<i32>, read -- nonzero = fill
//   @binding(2) out: array<T>, read_write -- result, one element per invocation
//   @binding(3) p: Params, uniform
// Params:
//   n: u32 -- output elements
//   rank: u32 -- dims of the collapsed shape (0..8)
//   value: C -- the fill value (i32: truncated toward zero by the op)
//   shape: array<vec4<u32>, R4> -- collapsed output shape
//   sx: array<vec4<u32>, R4> -- element strides of x over shape (0 = broadcast)
//   sm: array<vec4<u32>, R4> -- element strides of mask

const BCAST: bool = {{BCAST}};

struct Params {
  n: u32,
  rank: u32,
  value: {{C}},
  shape: array<vec4<u32>, {{R4}}>,
  sx: array<vec4<u32>, {{R4}}>,
  sm: array<vec4<u32>, {{R4}}>,
}

@group(0) @binding(0) var<storage, read> x_in: array<{{T}}>;
@group(0) @binding(1) var<storage, read> mask: array<i32>;
@group(0) @binding(2) var<storage, read_write> out: array<{{T}}>;
@group(0) @binding(3) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= p.n) { return; }
  var ix = i;
  var im = i;
  if (BCAST) {
    ix = 0u;
    im = 0u;
    var rem = i;
    for (var k = p.rank; k > 1u; k--) {
      let d = k - 1u;
      let size = p.shape[d >> 2u][d & 3u];
      let c = rem % size;
      rem = rem / size;
      ix += c * p.sx[d >> 2u][d & 3u];
      im += c * p.sm[d >> 2u][d & 3u];
    }
    if (p.rank > 0u) {
      ix += rem * p.sx[0].x;
      im += rem * p.sm[0].x;
    }
  }
  if (mask[im] != 0) {
    out[i] = {{T}}(p.value);
  } else {
    out[i] = x_in[ix];
  }
}
