// Skinny matmul on one subgroup per workgroup (matmul.ts variant 'gemv_sg': batch-1/2 Linear layers on
// CPU drivers such as lavapipe): a workgroup of SG lanes computes MR rows x NC columns of c = act(alpha *
// op(a) @ op(b) + bias). The lanes split K (lane l reads k = k0 + l*KS, so one subgroup-wide step reads
// SG*KS consecutive values of each row: contiguous for row-major A and transposed B, i.e. Linear
// weights), keep vec4 partial sums in registers and add them across the subgroup once at the end: no
// workgroup memory, no barriers.
// Grid (util.ts foldedGrid): x = column tile, y + z * num_workgroups.y = row tile + tiles_m * matrix.
// Defines:
//   SG = `32` -- subgroup size, fixed: must equal the adapter's (subgroupMinSize == subgroupMaxSize;
//     util.ts fixedSubgroupSize, 4..32: 8 on lavapipe)
//   MR = `1` -- rows per tile, 1..4 (matmul.ts: min(4, M))
//   NC = `4` -- columns per tile (4)
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
enable subgroups;
//!include lib_matmul

const SG = {{SG}}u;
const NC = {{NC}}u;
const MR = {{MR}}u;
const KS = {{KS}}u;
const TRANS_A = {{TRANS_A}};
const TRANS_B = {{TRANS_B}};
//!include lib_gemv_loaders

@compute @workgroup_size(SG)
fn main(@builtin(subgroup_invocation_id) lane: u32, @builtin(workgroup_id) wid: vec3u,
        @builtin(num_workgroups) nwg: vec3u) {
  let o = wid.y + wid.z * nwg.y;
  if (o >= p.tiles_m * p.batch) { return; }
  let offs = mm_batch_offsets(o / p.tiles_m);
  let m0 = (o % p.tiles_m) * MR;
  let n0 = wid.x * NC;
  var abase: array<u32, MR>;
  for (var r = 0u; r < MR; r++) { abase[r] = offs.x + min(m0 + r, p.M - 1u) * select(p.K, 1u, TRANS_A); }
  var bbase: array<u32, NC>;
  for (var cc = 0u; cc < NC; cc++) { bbase[cc] = offs.y + min(n0 + cc, p.N - 1u) * select(1u, p.K, TRANS_B); }
  // acc[cc * MR + r]: KS partial sums of row m0 + r, column n0 + cc.
  var acc: array<vec4<f32>, NC * MR>;
  // A subgroup-uniform loop (every lane the same trip count, so CPU drivers run it unmasked): lanes past K
  // in the last step read a valid k and weigh it 0.
  for (var kb = 0u; kb < p.K; kb += SG * KS) {
    let k = kb + lane * KS;
    let live = k < p.K;
    let k0 = select(0u, k, live);
    var bv: array<vec4<f32>, NC>;
    for (var cc = 0u; cc < NC; cc++) { bv[cc] = {{LOAD_B}}(bbase[cc], k0); }
    for (var r = 0u; r < MR; r++) {
      let av = select(vec4<f32>(0.0), {{LOAD_A}}(abase[r], k0), live);
      for (var cc = 0u; cc < NC; cc++) { acc[cc * MR + r] = fma(av, bv[cc], acc[cc * MR + r]); }
    }
  }
  for (var cc = 0u; cc < NC; cc++) {
    for (var r = 0u; r < MR; r++) {
      let s = subgroupAdd(dot(acc[cc * MR + r], vec4<f32>(1.0)));
      let m = m0 + r;
      let n = n0 + cc;
      if (lane == 0u && m < p.M && n < p.N) { c[offs.z + m * p.N + n] = {{CT}}({{T}}(mm_epilogue(s, n))); }
    }
  }
}
