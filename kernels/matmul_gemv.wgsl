// Skinny matmul (matmul.ts variant 'gemv': M <= 4 rows per tile, e.g. batch-1 transformer layers): a
// workgroup computes 4 rows x NC columns of c = act(alpha * op(a) @ op(b) + bias), its WG threads
// splitting K (consecutive threads read consecutive k, coalesced for row-major A and transposed B = Linear
// weights), then summing the partial sums through workgroup memory. Threads store single columns (never
// vector stores: C_VEC false).
// Grid (util.ts foldedGrid): x = column tile, y + z * num_workgroups.y = row tile + tiles_m * matrix.
// Defines:
//   WG = `128` -- threads per workgroup, a multiple of 16 (NC * 4), at most 128 and the device limits
//   NC = `4` -- columns per workgroup (4)
//   KS = `4` -- k values per step: 4 where B is read as vec4s along k (transposed B, K % 4 == 0), else 1
//   LOAD_A = `load_a_k4` -- lib_gemv_loaders: load_a_k4 (row-major, with KS 4) | load_a_rm | load_a_t (transposed)
//   LOAD_B = `load_bc_k4` -- lib_gemv_loaders: load_bc_k4 (transposed, K % 4 == 0) | load_bc_t
//     (transposed) | load_bc_rm (row-major)
//   AT = `vec4<{{T}}>` -- a element: vec4<T> with load_a_k4, else T
//   BT = `vec4<{{T}}>` -- b element: vec4<T> with load_bc_k4, else T
//   TRANS_A = `false` -- true | false: A stored [K, M]
//   TRANS_B = `true` -- true | false: B stored [N, K]
//   T = `f32` -- f32 | f16: element type of a, b, bias and c
//   HAS_BIAS = `false` -- true | false: add bias[n] after alpha (false: binding 2 is b again, never read)
//   ACT = `none` -- none | relu | gelu | gelu_tanh | quick_gelu | silu: act_ACT from lib_activations
//   CT = `{{T}}` -- c element: T (gemv stores scalars)
//   C_VEC = `false` -- false (lib_matmul's vector store path is unused here)
//   C_PICK = `.x` -- .x (with C_VEC false)
// Bindings (group 0):
//   @binding(0) a: array<AT>, read -- A [..., M, K] ([..., K, M] when transposed)
//   @binding(1) b: array<BT>, read -- B [..., K, N] ([..., N, K] when transposed: Linear weights)
//   @binding(2) bias: array<T>, read -- bias [N]
//   @binding(3) c: array<CT>, read_write -- C [..., M, N]
//   @binding(4) p: MatmulParams, uniform
// Params:
//   M: u32 -- rows of C (batch folded in where B is shared)
//   N: u32 -- columns of C
//   K: u32 -- inner dim
//   tiles_m: u32 -- row tiles per matrix: ceil(M / tile rows)
//   batch: u32 -- matrices (product of the batch dims)
//   batch_rank: u32 -- batch dims after collapsing, 0..8
//   alpha: f32 -- scale of the product (before bias)
//   _pad: u32 -- padding
//   out_shape: array<vec4<u32>, 2> -- batch dims of C (8, zero-padded)
//   a_strides: array<vec4<u32>, 2> -- element strides of A along them (0 = broadcast)
//   b_strides: array<vec4<u32>, 2> -- element strides of B along them (0 = broadcast)
//!include lib_matmul

const WG = {{WG}}u;
const NC = {{NC}}u;
const MR = 4u;
// k values per step: 4 where B is read as vec4s along k (transposed B, K % 4 == 0), else 1.
const KS = {{KS}}u;
const TRANS_A = {{TRANS_A}};
const TRANS_B = {{TRANS_B}};

// Outputs per workgroup, and the chunks of threads whose partial sums the first reduction stage adds.
const Q = NC * MR;
const H = WG / Q;

var<workgroup> red: array<vec4<f32>, WG * NC>;
var<workgroup> red2: array<f32, WG>;

//!include lib_gemv_loaders

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u,
        @builtin(num_workgroups) nwg: vec3u) {
  let o = wid.y + wid.z * nwg.y;
  if (o >= p.tiles_m * p.batch) { return; }
  let offs = mm_batch_offsets(o / p.tiles_m);
  let m0 = (o % p.tiles_m) * MR;
  let n0 = wid.x * NC;
  // acc[c][r]: row m0 + r, column n0 + c.
  var acc: array<vec4<f32>, NC>;
  var bbase: array<u32, NC>;
  for (var cc = 0u; cc < NC; cc++) { bbase[cc] = offs.y + min(n0 + cc, p.N - 1u) * select(1u, p.K, TRANS_B); }
  for (var k0 = lid.x * KS; k0 < p.K; k0 += WG * KS) {
    var bv: array<vec4<f32>, NC>;
    for (var cc = 0u; cc < NC; cc++) { bv[cc] = {{LOAD_B}}(bbase[cc], k0); }
    for (var r = 0u; r < MR; r++) {
      if (m0 + r < p.M) {
        let av = {{LOAD_A}}(offs.x + (m0 + r) * select(p.K, 1u, TRANS_A), k0);
        for (var cc = 0u; cc < NC; cc++) { acc[cc][r] += dot(av, bv[cc]); }
      }
    }
  }
  for (var cc = 0u; cc < NC; cc++) { red[lid.x * NC + cc] = acc[cc]; }
  // Two short stages instead of a log-step tree: each barrier is costly on CPU drivers, and serial sums
  // of Q then H values keep GPU threads busy for a few steps only.
  workgroupBarrier();
  let q = lid.x % Q;
  let cq = q / MR;
  let rq = q % MR;
  var s = 0.0;
  for (var t = 0u; t < Q; t++) { s += red[((lid.x / Q) * Q + t) * NC + cq][rq]; }
  red2[lid.x] = s;
  workgroupBarrier();
  if (lid.x < Q) {
    var total = 0.0;
    for (var h = 0u; h < H; h++) { total += red2[h * Q + lid.x]; }
    let m = m0 + rq;
    let n = n0 + cq;
    if (m < p.M && n < p.N) { c[offs.z + m * p.N + n] = {{CT}}({{T}}(mm_epilogue(total, n))); }
  }
}
