// Sum / max over one axis of x viewed as [outer, len, inner] (reduce.ts: sum, mean, maxAxis). A
// workgroup of 256 = TX * TY threads handles TX consecutive outputs with TY lanes striding the axis, then
// tree-reduces the lanes in workgroup memory. Workgroups may also split the axis into nchunk chunks
// (two-pass reduction): pass 1 stores raw vec2f states into [outer, nchunk, inner], pass 2 merges them
// (LOAD / STORE pick scalar or state I/O). State: sum keeps (hi, lo) with an error-free TwoSum so long
// sums stay near float64 accuracy; max keeps (value, seen) so no infinity constant is needed.
// p.one is 1.0 at run time: multiplying by it hides `(a + b) - a` from compilers that would simplify it
// to `b` under real-number algebra (Mesa's NIR does), which would silently zero the TwoSum error.
// Defines:
//   OP = `sum` -- sum | max: the state functions init_OP / one_OP / merge_OP / final_OP
//   T = `f32` -- f32 | f16, or vec2f when reading pass-1 states: x element
//   U = `{{T}}` -- f32 | f16 (the output dtype), or vec2f when writing pass-1 states: y element
//   LOAD = `one_{{OP}}(f32(x[i]))` -- state of element i: one_OP(f32(x[i])), or x[i] for vec2f states
//   STORE = `{{U}}(final_{{OP}}(r) / p.div)` -- U written from state r: U(final_OP(r) / p.div), or r for states
//   TX = `1` -- outputs per workgroup, TX * TY = 256 (reduce.ts reduceTile)
//   TY = `256` -- lanes along the axis, a power of two
// Bindings (group 0):
//   @binding(0) x: array<T>, read -- input, [outer, len, inner]
//   @binding(1) y: array<U>, read_write -- output [outer, nchunk, inner] (nchunk = 1: the reduced tensor)
//   @binding(2) p: Params, uniform
// Params:
//   outer: u32 -- product of the dims before the axis
//   len: u32 -- axis length (pass 2: nchunk of pass 1)
//   inner: u32 -- product of the dims after the axis
//   nout: u32 -- outer * inner
//   nblk: u32 -- ceil(nout / TX)
//   groups: u32 -- workgroups doing work: nblk * nchunk (grid1d may add idle ones)
//   chunk: u32 -- axis elements per chunk (len when nchunk = 1)
//   nchunk: u32 -- axis chunks of this pass
//   div: f32 -- divisor applied at the store (len for mean, else 1)
//   one: f32 -- 1.0 (see above)
//   _p1: u32 -- padding
//   _p2: u32 -- padding

struct Params {
  outer: u32, len: u32, inner: u32, nout: u32,
  nblk: u32, groups: u32, chunk: u32, nchunk: u32,
  div: f32, one: f32, _p1: u32, _p2: u32,
}

@group(0) @binding(0) var<storage, read> x: array<{{T}}>;
@group(0) @binding(1) var<storage, read_write> y: array<{{U}}>;
@group(0) @binding(2) var<uniform> p: Params;

const TX = {{TX}}u;
const TY = {{TY}}u;
var<workgroup> sh: array<vec2f, 256>;

fn init_sum() -> vec2f { return vec2f(0.0, 0.0); }
fn one_sum(v: f32) -> vec2f { return vec2f(v, 0.0); }
fn merge_sum(a: vec2f, b: vec2f) -> vec2f {
  let s = (a.x + b.x) * p.one;
  let bp = s - a.x;
  let err = (a.x - (s - bp)) + (b.x - bp);
  return vec2f(s, a.y + b.y + err);
}
fn final_sum(a: vec2f) -> f32 { return a.x + a.y; }

fn init_max() -> vec2f { return vec2f(0.0, 0.0); }
fn one_max(v: f32) -> vec2f { return vec2f(v, 1.0); }
fn merge_max(a: vec2f, b: vec2f) -> vec2f {
  if (a.y == 0.0) { return b; }
  if (b.y == 0.0) { return a; }
  return vec2f(max(a.x, b.x), 1.0);
}
fn final_max(a: vec2f) -> f32 { return a.x; }

fn load(i: u32) -> vec2f { return {{LOAD}}; }
fn store(i: u32, r: vec2f) { y[i] = {{STORE}}; }

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) li: u32) {
  let w = wid.x + wid.y * nwg.x;
  if (w >= p.groups) { return; } // uniform: depends on workgroup ids and uniforms only
  let tx = li % TX;
  let ty = li / TX;
  let c = w / p.nblk;
  let m = (w - c * p.nblk) * TX + tx;
  let o = m / p.inner;
  let j = m - o * p.inner;
  let k1 = min(p.len, (c + 1u) * p.chunk);
  var st = init_{{OP}}();
  if (m < p.nout) {
    let base = o * p.len * p.inner + j;
    for (var k = c * p.chunk + ty; k < k1; k += TY) {
      st = merge_{{OP}}(st, load(base + k * p.inner));
    }
  }
  sh[li] = st;
  workgroupBarrier();
  for (var s = TY / 2u; s > 0u; s >>= 1u) {
    if (ty < s) { sh[li] = merge_{{OP}}(sh[li], sh[li + s * TX]); }
    workgroupBarrier();
  }
  if (ty == 0u && m < p.nout) {
    store((o * p.nchunk + c) * p.inner + j, sh[tx]);
  }
}
