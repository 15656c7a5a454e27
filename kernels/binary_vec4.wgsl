// out = a (op) b with broadcasting, over 4-vectors of the innermost dim (binary.wgsl is the scalar
// fallback). The host collapses the index space to RANK dims (shape, element strides sa / sb) whose
// innermost dim has inner4 vectors (a multiple of 4 elements, or a single dim whose tail vector runs into
// the bindings' padding). Each operand is either read as vectors (innermost stride 1, every stride a
// multiple of 4) or broadcast along the innermost dim (stride 0: one scalar splatted per run). Each
// invocation handles a run of V consecutive vectors of one row, so the coordinate decode (divisions) is
// paid once per run; RANK is a define so the decode loop unrolls with constant uniform indices.
// Defines:
//   T = `f32` -- f32 | f16 | i32: storage type of out (and of a, b)
//   C = `f32` -- f32 for f32/f16 storage, i32 for i32: compute type of EXPR
//   EXPR = `x + y` -- WGSL expression over x, y of type C, as binary's
//   WG = `256` -- invocations per workgroup: vec.ts elementwiseLayout (8 on CPU drivers, 256 on GPUs)
//   V = `1` -- vectors per invocation (elementwiseLayout: 64 on CPU drivers, 1 on GPUs)
//   RANK = `1` -- dims of the collapsed shape, 1..8
//   R4 = `2` -- vec4 words per shape/stride array: MAX_RANK / 4 = 2
//   TA = `vec4<{{T}}>` -- a_in element: vec4<T> when a is read as vectors, T when broadcast
//   TB = `vec4<{{T}}>` -- b_in element, as TA
//   LOAD_A = `vec4<{{C}}>(a_in[ia / 4u + j])` -- vec4<C> load of vector j of a's run at element offset ia:
//     vec4<C>(a_in[ia / 4u + j]) (vectors) or vec4<C>(C(a_in[ia])) (broadcast scalar)
//   LOAD_B = `vec4<{{C}}>(b_in[ib / 4u + j])` -- the same for b (b_in, ib)
// Bindings (group 0):
//   @binding(0) a_in: array<TA>, read -- left operand a
//   @binding(1) b_in: array<TB>, read -- right operand b
//   @binding(2) out: array<vec4<T>>, read_write -- result as vectors (binding widened to whole vectors)
//   @binding(3) p: Params, uniform
// Params:
//   runs: u32 -- runs of V vectors in all (rows * runs_per_row)
//   runs_per_row: u32 -- ceil(inner4 / V)
//   inner4: u32 -- vectors per innermost row
//   _pad: u32 -- 0 (aligns the arrays)
//   shape: array<vec4<u32>, R4> -- collapsed output shape
//   sa: array<vec4<u32>, R4> -- element strides of a over shape (0 = broadcast)
//   sb: array<vec4<u32>, R4> -- element strides of b over shape
//!include lib_binary

struct Params {
  runs: u32,
  runs_per_row: u32,
  inner4: u32,
  _pad: u32,
  shape: array<vec4<u32>, {{R4}}>,
  sa: array<vec4<u32>, {{R4}}>,
  sb: array<vec4<u32>, {{R4}}>,
}

@group(0) @binding(0) var<storage, read> a_in: array<{{TA}}>;
@group(0) @binding(1) var<storage, read> b_in: array<{{TB}}>;
@group(0) @binding(2) var<storage, read_write> out: array<vec4<{{T}}>>;
@group(0) @binding(3) var<uniform> p: Params;

const WG = {{WG}}u;
const V = {{V}}u;
const RANK = {{RANK}}u;

fn f(x: {{C}}, y: {{C}}) -> {{C}} { return {{EXPR}}; }

// Operand rows: a vector operand at element offset ia reads vector ia / 4 + j; a broadcast one splats a_in[ia].
fn load_a(ia: u32, j: u32) -> vec4<{{C}}> { return {{LOAD_A}}; }
fn load_b(ib: u32, j: u32) -> vec4<{{C}}> { return {{LOAD_B}}; }

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let t = gid.x + gid.y * nwg.x * WG;
  if (t >= p.runs) { return; }
  let row = t / p.runs_per_row;
  let j0 = (t - row * p.runs_per_row) * V;
  var ia = 0u;
  var ib = 0u;
  var rem = row;
  // Outer dims, innermost first; dim 0 needs no division since row < rows.
  for (var d = RANK - 1u; d > 1u; d--) {
    let k = d - 1u;
    let size = p.shape[k / 4u][k % 4u];
    let c = rem % size;
    rem = rem / size;
    ia += c * p.sa[k / 4u][k % 4u];
    ib += c * p.sb[k / 4u][k % 4u];
  }
  if (RANK > 1u) {
    ia += rem * p.sa[0].x;
    ib += rem * p.sb[0].x;
  }
  let last = RANK - 1u;
  ia += j0 * 4u * p.sa[last / 4u][last % 4u];
  ib += j0 * 4u * p.sb[last / 4u][last % 4u];
  let o = row * p.inner4 + j0;
  for (var j = 0u; j < V; j++) {
    if (j0 + j < p.inner4) {
      let x = load_a(ia, j);
      let y = load_b(ib, j);
      out[o + j] = vec4<{{T}}>(vec4<{{C}}>(f(x.x, y.x), f(x.y, y.y), f(x.z, y.z), f(x.w, y.w)));
    }
  }
}
