/** Test helpers: independent (slow, float64) f16 reference used to check halfFloat.ts. */

/** Independent f16 decoder: value of a bit pattern by the IEEE formula. */
export function f16Value(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0x1f) return mant === 0 ? sign * Infinity : NaN;
  return exp === 0 ? sign * mant * 2 ** -24 : sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** Independent f16 rounding in float64: nearest f16 value, ties to even. */
export function roundToF16(x: number): number {
  if (!Number.isFinite(x) || x === 0) return x;
  const a = Math.abs(x);
  if (a >= 65520) return Math.sign(x) * Infinity;
  const ulp = 2 ** (Math.max(Math.floor(Math.log2(a)), -14) - 10);
  const q = a / ulp; // exact: a power-of-two scaling
  let r = Math.floor(q);
  if (q - r > 0.5 || (q - r === 0.5 && r % 2 === 1)) r++;
  return Math.sign(x) * r * ulp;
}
