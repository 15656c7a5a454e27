// torch.nn.PixelShuffle / PixelUnshuffle as a gather, one thread per output element:
//   shuffle:   out[b, c, h*r + i, w*r + j] = in[b, c*r*r + i*r + j, h, w]
//   unshuffle: out[b, c*r*r + i*r + j, h, w] = in[b, c, h*r + i, w*r + j]
// Defines:
//   T = `f32` -- f32 | f16 | i32: element type
//   UNSHUFFLE = `false` -- false (pixelShuffle) | true (pixelUnshuffle)
// Bindings (group 0):
//   @binding(0) x_in: array<T>, read -- input [..., c_in, h_in, w_in]
//   @binding(1) y_out: array<T>, read_write -- output [..., c_out, h_out, w_out]
//   @binding(2) p: Params, uniform
// Params:
//   n: u32 -- output elements
//   r: u32 -- factor
//   c_out: u32 -- output channels
//   h_out: u32 -- output height
//   w_out: u32 -- output width
//   c_in: u32 -- input channels
//   h_in: u32 -- input height
//   w_in: u32 -- input width

struct Params { n: u32, r: u32, c_out: u32, h_out: u32, w_out: u32, c_in: u32, h_in: u32, w_in: u32 }

@group(0) @binding(0) var<storage, read> x_in: array<{{T}}>;
@group(0) @binding(1) var<storage, read_write> y_out: array<{{T}}>;
@group(0) @binding(2) var<uniform> p: Params;

const UNSHUFFLE: bool = {{UNSHUFFLE}};

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let o = gid.x + gid.y * nwg.x * 256u;
  if (o >= p.n) { return; }
  let ow = o % p.w_out;
  let t = o / p.w_out;
  let oh = t % p.h_out;
  let t2 = t / p.h_out;
  let oc = t2 % p.c_out;
  let b = t2 / p.c_out;
  let r = p.r;
  var src: u32;
  if (UNSHUFFLE) {
    let c = oc / (r * r);
    let i = (oc / r) % r;
    let j = oc % r;
    src = ((b * p.c_in + c) * p.h_in + oh * r + i) * p.w_in + ow * r + j;
  } else {
    let ic = oc * r * r + (oh % r) * r + (ow % r);
    src = ((b * p.c_in + ic) * p.h_in + oh / r) * p.w_in + ow / r;
  }
  y_out[o] = x_in[src];
}
