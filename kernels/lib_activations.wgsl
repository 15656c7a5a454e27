// lib_activations: activation functions in f32 math (act_tanh, act_erf, act_sigmoid, act_gelu,
// act_gelu_tanh, act_quick_gelu, act_silu, act_relu, act_none), finite for any finite input.
// Included by: unary, group_norm, group_norm_sg, lib_matmul, lib_activation_codes.
// Defines: none. Needs from the includer: nothing. Declares: functions only.

// tanh that stays finite for large |x| (exp overflow would give inf/inf = NaN).
fn act_tanh(x: f32) -> f32 {
  let e = exp(-2.0 * abs(x));
  return sign(x) * (1.0 - e) / (1.0 + e);
}

// erf via Abramowitz & Stegun 7.1.26 refined: max abs error ~1.2e-7 (W. J. Cody style rational fit).
fn act_erf(x: f32) -> f32 {
  let z = abs(x);
  let t = 1.0 / (1.0 + 0.5 * z);
  let r = t * exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 +
          t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 +
          t * (-0.82215223 + t * 0.17087277)))))))));
  return sign(x) * (1.0 - r);
}

fn act_sigmoid(x: f32) -> f32 {
  // Split by sign so exp never overflows: 1 / (1 + exp(-x)) for x >= 0, exp(x) / (1 + exp(x)) below.
  // Branch-free (one exp): SIMD drivers that run both sides of a divergent branch pay for one.
  let e = exp(-abs(x));
  return select(e, 1.0, x >= 0.0) / (1.0 + e);
}

fn act_gelu(x: f32) -> f32 { return 0.5 * x * (1.0 + act_erf(x * 0.7071067811865476)); }
fn act_gelu_tanh(x: f32) -> f32 { return 0.5 * x * (1.0 + act_tanh(0.7978845608028654 * (x + 0.044715 * x * x * x))); }
fn act_quick_gelu(x: f32) -> f32 { return x * act_sigmoid(1.702 * x); }
fn act_silu(x: f32) -> f32 { return x * act_sigmoid(x); }
fn act_relu(x: f32) -> f32 { return max(x, 0.0); }
fn act_none(x: f32) -> f32 { return x; }
