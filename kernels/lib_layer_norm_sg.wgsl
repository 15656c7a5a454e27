// lib_layer_norm_sg: uniforms, vec4 bindings and flags of the subgroup LayerNorm kernels.
// Included by: layer_norm_sg, layer_norm_sg_reg.
// Defines: HAS_B, HAS_W, SG, STABLE, T, TW (values: the including kernel's header).
// Needs from the includer: `enable subgroups;`.
// Declares: bindings 0..4 and struct Params (documented in each including kernel's header).
struct Params { rows: u32, d4: u32, rows_per_wg: u32, eps: f32 }

@group(0) @binding(0) var<storage, read> x_in: array<vec4<{{T}}>>;
@group(0) @binding(1) var<storage, read> w_in: array<vec4<{{TW}}>>;
@group(0) @binding(2) var<storage, read> b_in: array<vec4<{{TW}}>>;
@group(0) @binding(3) var<storage, read_write> y_out: array<vec4<{{T}}>>;
@group(0) @binding(4) var<uniform> p: Params;

const SG = {{SG}}u;
const HAS_W: bool = {{HAS_W}};
const HAS_B: bool = {{HAS_B}};
const STABLE: bool = {{STABLE}};
