//! Rounding to the grids quantizers use: integers with ties to even, small float formats (FP8 E4M3, FP4 E2M1) with
//! ties to even and saturation, and f32 → IEEE binary16 as ggml stores its block scales.

/// 1.5 · 2^52: adding and subtracting it rounds any |x| ≤ 2^51 to an integer in the current rounding mode, which
/// for WebAssembly and Rust is round-to-nearest, ties to even.
const ROUND_MAGIC: f64 = 6_755_399_441_055_744.0;

/// Nearest integer, ties to even (`numpy.rint`). Values of magnitude 2^51 and more are integers already.
pub fn round_half_even(x: f64) -> f64 {
    if x.abs() < 2_251_799_813_685_248.0 {
        (x + ROUND_MAGIC) - ROUND_MAGIC
    } else {
        x
    }
}

/// A sign/exponent/mantissa float format used as a quantization grid (no infinities, no NaN in range).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MiniFloat {
    /// Mantissa bits.
    pub mantissa_bits: i32,
    /// Exponent of the smallest normal value (1 − bias); subnormals share its spacing.
    pub min_exponent: i32,
    /// Largest finite magnitude; larger magnitudes saturate to it.
    pub max: f64,
}

/// OCP FP8 E4M3 (E4M3FN): bias 7, largest finite 448, smallest subnormal 2^−9.
pub const E4M3: MiniFloat = MiniFloat { mantissa_bits: 3, min_exponent: -6, max: 448.0 };
/// OCP FP4 E2M1: bias 1, magnitudes 0, 0.5, 1, 1.5, 2, 3, 4, 6.
pub const E2M1: MiniFloat = MiniFloat { mantissa_bits: 1, min_exponent: 0, max: 6.0 };

impl MiniFloat {
    /// The nearest representable value to `x` (ties to even mantissa), saturating at ±max. Exact in f64: the
    /// division by the grid spacing (a power of two) and the rounding lose nothing.
    pub fn round(&self, x: f64) -> f64 {
        let a = x.abs();
        if a >= self.max {
            return self.max.copysign(x);
        }
        if a == 0.0 {
            return x;
        }
        let exponent = floor_log2(a).max(self.min_exponent);
        let spacing = pow2(exponent - self.mantissa_bits);
        (round_half_even(a / spacing) * spacing).min(self.max).copysign(x)
    }
}

/// floor(log2(a)) for a finite a > 0, read from the bits (exact, also for subnormal f64).
pub fn floor_log2(a: f64) -> i32 {
    let bits = a.to_bits();
    let exponent = ((bits >> 52) & 0x7ff) as i32;
    if exponent == 0 {
        // Subnormal: the leading mantissa bit gives the exponent.
        let mantissa = bits & ((1u64 << 52) - 1);
        -1023 - (mantissa.leading_zeros() as i32 - 12)
    } else {
        exponent - 1023
    }
}

/// 2^e for any e an f64 can hold (subnormal results included).
pub fn pow2(e: i32) -> f64 {
    if e >= -1022 {
        f64::from_bits(((e + 1023) as u64) << 52)
    } else {
        f64::from_bits(1u64 << (e + 1074).max(0))
    }
}

/// f32 → IEEE binary16 bits, round to nearest even, overflow to infinity: what ggml's GGML_FP32_TO_FP16 and numpy's
/// `astype(float16)` produce.
pub fn f32_to_f16_bits(x: f32) -> u16 {
    let bits = x.to_bits();
    let sign = ((bits >> 16) & 0x8000) as u16;
    let magnitude = bits & 0x7fff_ffff;
    if magnitude >= 0x7f80_0000 {
        // Inf stays Inf; NaN stays a quiet NaN.
        return sign | 0x7c00 | if magnitude > 0x7f80_0000 { 0x0200 } else { 0 };
    }
    let exponent = (magnitude >> 23) as i32 - 127;
    if exponent >= 16 {
        return sign | 0x7c00;
    }
    if exponent >= -14 {
        // Normal: keep 10 mantissa bits, round the 13 dropped ones to nearest even; a carry may overflow to Inf,
        // which is the right answer.
        let half = ((exponent + 15) as u32) << 10 | (magnitude >> 13) & 0x3ff;
        let rest = magnitude & 0x1fff;
        let round_up = rest > 0x1000 || (rest == 0x1000 && half & 1 == 1);
        return sign | (half + round_up as u32) as u16;
    }
    if exponent < -25 {
        return sign;
    }
    // Subnormal: value / 2^−24, rounded to nearest even.
    let mantissa = magnitude & 0x7f_ffff | 0x80_0000;
    let shift = (-exponent - 1) as u32; // 14..=24 bits dropped from the 24-bit significand
    let half = mantissa >> shift;
    let rest = mantissa & ((1 << shift) - 1);
    let midpoint = 1 << (shift - 1);
    let round_up = rest > midpoint || (rest == midpoint && half & 1 == 1);
    sign | (half + round_up as u32) as u16
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::f16_bits_to_f32;

    #[test]
    fn integers_round_ties_to_even() {
        for (x, want) in [(0.5, 0.0), (1.5, 2.0), (2.5, 2.0), (-0.5, -0.0), (-1.5, -2.0), (-2.5, -2.0), (3.4999, 3.0), (7.5, 8.0), (-7.5, -8.0)] {
            assert_eq!(round_half_even(x), want, "{}", x);
        }
        assert_eq!(round_half_even(4503599627370497.0), 4503599627370497.0);
        assert_eq!(round_half_even(1e300), 1e300);
        assert_eq!(round_half_even(2251799813685247.5), 2251799813685248.0);
    }

    #[test]
    fn e2m1_grid_ties_to_even_and_saturates() {
        let cases = [
            (0.2, 0.0), (0.25, 0.0), (0.26, 0.5), (0.75, 1.0), (1.25, 1.0), (1.75, 2.0), (2.5, 2.0), (3.5, 4.0),
            (5.0, 4.0), (5.01, 6.0), (6.0, 6.0), (7.0, 6.0), (1e9, 6.0), (-2.5, -2.0), (-5.0, -4.0), (-100.0, -6.0),
        ];
        for (x, want) in cases {
            assert_eq!(E2M1.round(x), want, "E2M1 {}", x);
        }
    }

    #[test]
    fn e4m3_grid_matches_every_pattern() {
        // Every finite E4M3 value rounds to itself, and midpoints between neighbours go to the even mantissa.
        let values: Vec<f64> = (0u8..0x7f).map(crate::decode::f8_e4m3fn).collect();
        for (i, &v) in values.iter().enumerate() {
            assert_eq!(E4M3.round(v), v);
            assert_eq!(E4M3.round(-v), -v);
            if i + 1 < values.len() {
                let mid = (v + values[i + 1]) / 2.0;
                let even = if i % 2 == 0 { v } else { values[i + 1] };
                assert_eq!(E4M3.round(mid), even, "midpoint of {} and {}", v, values[i + 1]);
            }
        }
        assert_eq!(E4M3.round(464.0), 448.0);
        assert_eq!(E4M3.round(1e6), 448.0);
        assert_eq!(E4M3.round(2f64.powi(-10)), 0.0); // half the smallest subnormal: ties to even (zero)
        assert_eq!(E4M3.round(1.5 * 2f64.powi(-10)), 2f64.powi(-9));
    }

    #[test]
    fn floor_log2_and_pow2_are_exact() {
        for e in -1074..1024 {
            let p = pow2(e);
            assert_eq!(floor_log2(p), e, "2^{}", e);
            if e > -1074 && e < 1023 {
                assert_eq!(floor_log2(p * 1.5), e);
            }
        }
    }

    #[test]
    fn f16_rounding_round_trips_and_ties_to_even() {
        // Every finite f16 converts back to itself.
        for h in 0u16..=0xffff {
            let v = f16_bits_to_f32(h);
            if v.is_finite() {
                assert_eq!(f32_to_f16_bits(v), h, "{:#06x}", h);
            }
        }
        // Midpoints between neighbours round to the even pattern; just above goes up.
        for h in 0u16..0x7bff {
            let (a, b) = (f16_bits_to_f32(h) as f64, f16_bits_to_f32(h + 1) as f64);
            let mid = ((a + b) / 2.0) as f32;
            let even = if h % 2 == 0 { h } else { h + 1 };
            assert_eq!(f32_to_f16_bits(mid), even, "midpoint after {:#06x}", h);
            let above = f32::from_bits(mid.to_bits() + 1);
            assert_eq!(f32_to_f16_bits(above), h + 1, "above the midpoint after {:#06x}", h);
        }
        assert_eq!(f32_to_f16_bits(65520.0), 0x7c00);
        assert_eq!(f32_to_f16_bits(65519.99), 0x7bff);
        assert_eq!(f32_to_f16_bits(1e-10), 0);
        assert_eq!(f32_to_f16_bits(-1e-10), 0x8000);
        assert_eq!(f32_to_f16_bits(f32::INFINITY), 0x7c00);
    }
}
