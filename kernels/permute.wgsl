// Generic strided copy, shared by permute / transpose / expand / slice / concat / contiguousCopy:
// for every coordinate c of the iteration shape, y_out[dst_base + c.dst_strides] = x_in[src_base + c.src_strides].
// Strides are element counts in two's complement (negative for reversed slices, 0 for broadcast dims);
// u32 arithmetic wraps mod 2^32, so the final indices are exact whenever they are in range.
// The host merges mergeable dims first, so rank is usually small (1..3) and the loop short.

struct Params {
  n: u32,
  rank: u32,
  src_base: u32,
  dst_base: u32,
  shape: array<vec4<u32>, 2>,
  src_strides: array<vec4<u32>, 2>,
  dst_strides: array<vec4<u32>, 2>,
}

@group(0) @binding(0) var<storage, read> x_in: array<{{T}}>;
@group(0) @binding(1) var<storage, read_write> y_out: array<{{T}}>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= p.n) { return; }
  var rem = i;
  var src = p.src_base;
  var dst = p.dst_base;
  for (var d = p.rank; d > 0u; d--) {
    let k = d - 1u;
    let size = p.shape[k / 4u][k % 4u];
    let c = rem % size;
    rem = rem / size;
    src += c * p.src_strides[k / 4u][k % 4u];
    dst += c * p.dst_strides[k / 4u][k % 4u];
  }
  y_out[dst] = x_in[src];
}
