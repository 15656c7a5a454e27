// lib_binary: f32 binary math with PyTorch semantics (bin_isnan, bin_max, bin_min, bin_pow), used by the
// EXPR define of the binary kernels.
// Included by: binary, binary_scalar, binary_vec4.
// Defines: none. Needs from the includer: nothing. Declares: functions and two private vars.

// NaN / +inf are read from private vars at run time: WGSL forbids non-finite constants, and some Tint
// backends print a folded non-finite constant as 0.
var<private> bin_nan_bits: u32 = 0x7fc00000u;
var<private> bin_inf_bits: u32 = 0x7f800000u;

// Bit test, so it survives compilers that assume finite math.
fn bin_isnan(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u; }

// torch.maximum / torch.minimum propagate NaN (WGSL max/min leave it unspecified).
fn bin_max(x: f32, y: f32) -> f32 {
  if (bin_isnan(x) || bin_isnan(y)) { return bitcast<f32>(bin_nan_bits); }
  return max(x, y);
}

fn bin_min(x: f32, y: f32) -> f32 {
  if (bin_isnan(x) || bin_isnan(y)) { return bitcast<f32>(bin_nan_bits); }
  return min(x, y);
}

// C/torch pow: x^0 = 1 and 1^y = 1 (even NaN), a finite negative base needs an integer exponent (else
// NaN), odd integer exponents keep the sign, 0^-y = inf. WGSL pow() is undefined for x < 0 and x = 0.
fn bin_pow(x: f32, y: f32) -> f32 {
  if (y == 0.0 || x == 1.0) { return 1.0; }
  if (bin_isnan(x) || bin_isnan(y)) { return bitcast<f32>(bin_nan_bits); }
  if (y == 1.0) { return x; }
  if (y == 2.0) { return x * x; }
  let ax = abs(x);
  let ay = abs(y);
  let inf = bitcast<f32>(bin_inf_bits);
  let is_int = floor(y) == y;
  // A finite negative base needs an integer exponent; (-inf)^y is inf or 0 like +inf (C99 pow).
  if (x < 0.0 && !is_int && ax != inf) { return bitcast<f32>(bin_nan_bits); }
  // Odd only below 2^24: larger f32 values are all even.
  let odd = is_int && ay < 16777216.0 && fract(ay * 0.5) != 0.0;
  var r: f32;
  if (ax == 0.0) {
    r = select(0.0, inf, y < 0.0);
  } else if (ay == inf) {
    // |x|^±inf: 1 at |x| = 1, else 0 or inf depending on which side of 1.
    r = select(select(0.0, inf, (ax > 1.0) == (y > 0.0)), 1.0, ax == 1.0);
  } else if (ax == inf) {
    r = select(inf, 0.0, y < 0.0);
  } else if (y == 0.5) {
    r = sqrt(ax);
  } else {
    r = exp2(y * log2(ax));
  }
  let neg = odd && (bitcast<u32>(x) & 0x80000000u) != 0u;
  return select(r, -r, neg);
}
