// lib_activation_codes: activate_code(code, v), the activation picked by a runtime code (a uniform) so
// one pipeline serves every activation: the conv kernels' epilogue. Codes match ACT_CODES in
// packages/tensor/src/ops/conv2d.ts (0 none, 1 relu, 2 silu, 3 gelu, 4 gelu_tanh, 5 quick_gelu,
// 6 sigmoid, 7 tanh).
// Included by: conv2d, conv2d_sg.
// Defines: none. Needs from the includer: nothing. Declares: functions only.
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
