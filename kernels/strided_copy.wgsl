// Generic strided copy (permute.ts stridedCopyInto), behind permute / transpose / expand / slice / concat
// / contiguousCopy: for every coordinate c of the iteration shape,
//   y_out[dst_base + c . dst_strides] = x_in[src_base + c . src_strides].
// Strides are element counts in two's complement (negative for reversed slices, 0 for broadcast dims);
// u32 arithmetic wraps mod 2^32, so the final indices are exact whenever they are in range. The host
// merges mergeable dims first, so RANK is usually small (1..3). Each invocation copies a run of up to E
// consecutive elements of the innermost dim: the coordinate decode (divisions) is paid once per run. RANK
// is a define so the decode loop unrolls with constant uniform indices (CPU drivers such as lavapipe
// otherwise gather each uniform per lane).
// Defines:
//   T = `f32` -- f32 | f16 | i32: element type of x_in and y_out
//   RANK = `1` -- dims of the merged iteration shape, 1..8
//   E = `1` -- run length 1..32: 1 on GPUs keeps neighbouring threads on neighbouring elements, 8 on CPU drivers
// Bindings (group 0):
//   @binding(0) x_in: array<T>, read -- source
//   @binding(1) y_out: array<T>, read_write -- destination (may be a view of a larger tensor)
//   @binding(2) p: Params, uniform
// Params:
//   runs: u32 -- runs in all: (elements / innermost size) * runs_per_row
//   runs_per_row: u32 -- ceil(innermost size / E)
//   src_base: u32 -- element offset of the first source element
//   dst_base: u32 -- element offset of the first destination element
//   shape: array<vec4<u32>, 2> -- iteration shape (8 dims, zero-padded)
//   src_strides: array<vec4<u32>, 2> -- source element strides (two's complement)
//   dst_strides: array<vec4<u32>, 2> -- destination element strides (two's complement)

struct Params {
  runs: u32,       // number of runs = (n / inner) * runs_per_row
  runs_per_row: u32,
  src_base: u32,
  dst_base: u32,
  shape: array<vec4<u32>, 2>,
  src_strides: array<vec4<u32>, 2>,
  dst_strides: array<vec4<u32>, 2>,
}

@group(0) @binding(0) var<storage, read> x_in: array<{{T}}>;
@group(0) @binding(1) var<storage, read_write> y_out: array<{{T}}>;
@group(0) @binding(2) var<uniform> p: Params;

const RANK = {{RANK}}u;
const E = {{E}}u;
const LAST = RANK - 1u;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let t = gid.x + gid.y * nwg.x * 256u;
  if (t >= p.runs) { return; }
  let row = t / p.runs_per_row;
  let j0 = (t - row * p.runs_per_row) * E;
  let inner = p.shape[LAST / 4u][LAST % 4u];
  let s_in = p.src_strides[LAST / 4u][LAST % 4u];
  let d_in = p.dst_strides[LAST / 4u][LAST % 4u];
  var rem = row;
  var src = p.src_base + j0 * s_in;
  var dst = p.dst_base + j0 * d_in;
  for (var d = LAST; d > 0u; d--) {
    let k = d - 1u;
    let size = p.shape[k / 4u][k % 4u];
    let c = rem % size;
    rem = rem / size;
    src += c * p.src_strides[k / 4u][k % 4u];
    dst += c * p.dst_strides[k / 4u][k % 4u];
  }
  for (var j = 0u; j < E; j++) {
    if (j0 + j < inner) { y_out[dst + j * d_in] = x_in[src + j * s_in]; }
  }
}
