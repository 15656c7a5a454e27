/**
 * IEEE half (f16) and bfloat16 <-> float32 conversions on raw bit patterns.
 * All work goes through Uint32 views so NaN payloads survive bit-exactly (a JS number
 * round trip may canonicalise them).
 */

// ---------------------------------------------------------------------------
// f16 -> f32: a 65536-entry table (256 KiB) built on first use.
// ---------------------------------------------------------------------------

let f16Table: Uint32Array | undefined;

/** f32 bit pattern of one f16 bit pattern (exact: every f16 is representable in f32). */
function f16ToF32BitsScalar(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0x1f) return (sign | 0x7f800000 | (mant << 13)) >>> 0; // inf / NaN (payload kept)
  if (exp !== 0) return (sign | ((exp + 112) << 23) | (mant << 13)) >>> 0; // normal: rebias 15 -> 127
  if (mant === 0) return sign >>> 0; // +-0
  // Subnormal: normalise so the leading 1 becomes the implicit bit.
  let e = 113;
  let m = mant;
  while ((m & 0x400) === 0) {
    m <<= 1;
    e--;
  }
  return (sign | (e << 23) | ((m & 0x3ff) << 13)) >>> 0;
}

function getF16Table(): Uint32Array {
  if (f16Table === undefined) {
    const t = new Uint32Array(65536);
    for (let h = 0; h < 65536; h++) t[h] = f16ToF32BitsScalar(h);
    f16Table = t;
  }
  return f16Table;
}

/** Converts f16 bit patterns to float32 values (exact). */
export function f16BitsToF32(bits: Uint16Array): Float32Array {
  const table = getF16Table();
  const out = new Uint32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = table[bits[i]];
  return new Float32Array(out.buffer);
}

// ---------------------------------------------------------------------------
// f32 -> f16 with round-to-nearest-even (integer arithmetic only).
// ---------------------------------------------------------------------------

/** f16 bit pattern of one f32 bit pattern `x` (treated as uint32). */
export function f32BitsToF16Scalar(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const abs = x & 0x7fffffff;
  if (abs >= 0x7f800000) {
    if (abs === 0x7f800000) return sign | 0x7c00; // +-inf
    const payload = (abs >>> 13) & 0x3ff; // keep the top payload bits; never produce inf
    return sign | 0x7c00 | (payload === 0 ? 0x200 : payload);
  }
  if (abs >= 0x477ff000) return sign | 0x7c00; // >= 65520 rounds to inf
  if (abs >= 0x38800000) {
    // Normal f16: rebias exponent (127 -> 15), add rounding bias 0x0fff plus the lowest
    // kept bit (ties to even), then drop 13 mantissa bits. A mantissa carry bumps the exponent.
    const odd = (abs >>> 13) & 1;
    return sign | ((abs - 0x38000000 + 0x0fff + odd) >>> 13);
  }
  const exp = abs >>> 23;
  if (exp < 102) return sign; // below 2^-25: under half the smallest subnormal, so zero
  // Subnormal f16: value = m * 2^(exp-150); result unit is 2^-24, so drop (126 - exp) bits.
  const m = (abs & 0x7fffff) | 0x800000;
  const shift = 126 - exp; // 14..24
  let h = m >>> shift;
  const rem = m & ((1 << shift) - 1);
  const half = 1 << (shift - 1);
  if (rem > half || (rem === half && (h & 1) === 1)) h++;
  return sign | h; // h may carry into 0x400 = smallest normal, which is the right encoding
}

/** Converts float32 values to f16 bit patterns, rounding to nearest even. */
export function f32ToF16Bits(x: Float32Array): Uint16Array {
  const src = new Uint32Array(x.buffer, x.byteOffset, x.length);
  const out = new Uint16Array(x.length);
  for (let i = 0; i < src.length; i++) out[i] = f32BitsToF16Scalar(src[i]);
  return out;
}

// ---------------------------------------------------------------------------
// bfloat16: the top half of a float32.
// ---------------------------------------------------------------------------

/** Converts bfloat16 bit patterns to float32 values (exact). */
export function bf16BitsToF32(bits: Uint16Array): Float32Array {
  const out = new Uint32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = bits[i] << 16;
  return new Float32Array(out.buffer);
}

/** Converts float32 values to bfloat16 bit patterns, rounding to nearest even (NaN stays NaN). */
export function f32ToBf16Bits(x: Float32Array): Uint16Array {
  const src = new Uint32Array(x.buffer, x.byteOffset, x.length);
  const out = new Uint16Array(x.length);
  for (let i = 0; i < src.length; i++) {
    const v = src[i];
    if ((v & 0x7fffffff) > 0x7f800000) {
      const h = v >>> 16; // NaN: keep the top payload bits; if they are all zero, set the quiet bit
      out[i] = (h & 0x7f) === 0 ? h | 0x40 : h;
    } else {
      out[i] = (v + 0x7fff + ((v >>> 16) & 1)) >>> 16; // may round up to inf, as it should
    }
  }
  return out;
}
