// Softmax / log-softmax along one axis of x viewed as [outer, len, inner]; f32 math for any T. Tiling as
// reduce.wgsl: TX rows (output columns) per workgroup, TY lanes along the axis. Each lane keeps an online
// (max, sum of exp(x - max)) pair, lanes merge in workgroup memory, then every lane writes its elements:
// 2 reads + 1 write per element. The running max starts at -FLT_MAX rather than -inf so no inf - inf
// arises; a zero sum then marks an all -inf row, which gives NaN (as torch).
// Defines:
//   T = `f32` -- f32 | f16: storage type of x and y
//   MODE = `softmax` -- softmax | log_softmax
//   TX = `1` -- rows per workgroup, TX * TY = 256 (reduce.ts reduceTile)
//   TY = `256` -- lanes along the axis, a power of two
// Bindings (group 0):
//   @binding(0) x: array<T>, read -- input, [outer, len, inner]
//   @binding(1) y: array<T>, read_write -- output, same shape
//   @binding(2) p: Params, uniform
// Params:
//   outer: u32 -- product of the dims before the axis
//   len: u32 -- axis length
//   inner: u32 -- product of the dims after the axis
//   nout: u32 -- rows: outer * inner
//   nblk: u32 -- workgroups doing work: ceil(nout / TX)
//   nan: f32 -- NaN, written for all -inf rows (WGSL has no NaN constant)
//   _p0: u32 -- padding
//   _p1: u32 -- padding

struct Params {
  outer: u32, len: u32, inner: u32, nout: u32,
  nblk: u32, nan: f32, _p0: u32, _p1: u32,
}

@group(0) @binding(0) var<storage, read> x: array<{{T}}>;
@group(0) @binding(1) var<storage, read_write> y: array<{{T}}>;
@group(0) @binding(2) var<uniform> p: Params;

const TX = {{TX}}u;
const TY = {{TY}}u;
const LOWEST = -0x1.fffffep+127f; // -FLT_MAX
var<workgroup> sh: array<vec2f, 256>;

fn push(st: vec2f, v: f32) -> vec2f {
  if (v > st.x) { return vec2f(v, st.y * exp(st.x - v) + 1.0); }
  return vec2f(st.x, st.y + exp(v - st.x));
}

fn merge(a: vec2f, b: vec2f) -> vec2f {
  let m = max(a.x, b.x);
  return vec2f(m, a.y * exp(a.x - m) + b.y * exp(b.x - m));
}

fn finish_softmax(v: f32, r: vec2f) -> f32 { return exp(v - r.x) / r.y; }
fn finish_log_softmax(v: f32, r: vec2f) -> f32 { return (v - r.x) - log(r.y); }

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) li: u32) {
  let w = wid.x + wid.y * nwg.x;
  if (w >= p.nblk) { return; }
  let tx = li % TX;
  let ty = li / TX;
  let m = w * TX + tx;
  let o = m / p.inner;
  let base = o * p.len * p.inner + (m - o * p.inner);
  var st = vec2f(LOWEST, 0.0);
  if (m < p.nout) {
    for (var k = ty; k < p.len; k += TY) { st = push(st, f32(x[base + k * p.inner])); }
  }
  sh[li] = st;
  workgroupBarrier();
  for (var s = TY / 2u; s > 0u; s >>= 1u) {
    if (ty < s) { sh[li] = merge(sh[li], sh[li + s * TX]); }
    workgroupBarrier();
  }
  let r = sh[tx];
  if (m >= p.nout) { return; }
  for (var k = ty; k < p.len; k += TY) {
    let i = base + k * p.inner;
    var out = p.nan;
    if (r.y > 0.0) { out = finish_{{MODE}}(f32(x[i]), r); }
    y[i] = {{T}}(out);
  }
}
