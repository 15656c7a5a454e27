// Fused activations picked by a runtime code (a uniform), so one pipeline serves every activation: the
// conv kernels' epilogue. Codes match ACT_CODES in packages/tensor/src/ops/conv2d.ts.
//!include lib_activations

fn activate_code(code: u32, v: f32) -> f32 {
  switch (code) {
    case 1u: { return act_relu(v); }
    case 2u: { return act_silu(v); }
    case 3u: { return act_gelu(v); }
    case 4u: { return act_gelu_tanh(v); }
    case 5u: { return act_quick_gelu(v); }
    case 6u: { return act_sigmoid(v); }
    case 7u: { return act_tanh(v); }
    default: { return v; }
  }
}
