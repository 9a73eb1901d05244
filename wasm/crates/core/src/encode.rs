//! f64 → element bytes of any dtype, rounding to nearest with ties to even (the inverse of `decode_f64` on every
//! value a dtype can hold). Out-of-range values become ±Inf where the format has infinities and saturate to the
//! largest finite value where it has none; integers round half to even and saturate; BOOL is 1 for any nonzero.
use crate::dtype::DType;
use crate::simd::{self, F64x2};

/// The shape of a sign/exponent/mantissa format.
#[derive(Clone, Copy)]
struct MiniFloat {
    exp_bits: u32,
    man_bits: u32,
    bias: i32,
    specials: Specials,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Specials {
    /// The all-ones exponent holds Inf and NaN (F16, BF16, F8_E5M2).
    Ieee,
    /// No infinities; only S.1111.111 is NaN (F8_E4M3FN).
    FiniteNanAllOnes,
    /// No infinities, no negative zero; 0x80 is the one NaN (FNUZ).
    Fnuz,
    /// Neither infinities nor NaN (F6, F4).
    None,
    /// No sign, no mantissa, no zero; 0xFF is NaN (E8M0).
    ExponentOnly,
}

fn format_of(dtype: DType) -> Option<MiniFloat> {
    let f = |exp_bits, man_bits, bias, specials| Some(MiniFloat { exp_bits, man_bits, bias, specials });
    match dtype {
        DType::F16 => f(5, 10, 15, Specials::Ieee),
        DType::BF16 => f(8, 7, 127, Specials::Ieee),
        DType::F8E5M2 => f(5, 2, 15, Specials::Ieee),
        DType::F8E4M3 => f(4, 3, 7, Specials::FiniteNanAllOnes),
        DType::F8E4M3Fnuz => f(4, 3, 8, Specials::Fnuz),
        DType::F8E5M2Fnuz => f(5, 2, 16, Specials::Fnuz),
        DType::F6E2M3 => f(2, 3, 1, Specials::None),
        DType::F6E3M2 => f(3, 2, 3, Specials::None),
        DType::F4 => f(2, 1, 1, Specials::None),
        DType::F8E8M0 => f(8, 0, 127, Specials::ExponentOnly),
        _ => None,
    }
}

/// Rounds a non-negative integer-valued f64 quotient to nearest, ties to even.
fn round_half_even(q: f64) -> f64 {
    let floor = q.floor();
    let rest = q - floor;
    if rest > 0.5 || (rest == 0.5 && floor % 2.0 != 0.0) {
        floor + 1.0
    } else {
        floor
    }
}

impl MiniFloat {
    fn sign_shift(self) -> u32 {
        self.exp_bits + self.man_bits
    }

    fn max_exp_field(self) -> u32 {
        let all_ones = (1u32 << self.exp_bits) - 1;
        match self.specials {
            Specials::Ieee | Specials::ExponentOnly => all_ones - 1,
            _ => all_ones,
        }
    }

    /// The largest finite magnitude's pattern (no sign).
    fn max_finite(self) -> u32 {
        let mantissa_ones = (1u32 << self.man_bits) - 1;
        let top = self.max_exp_field() << self.man_bits;
        if self.specials == Specials::FiniteNanAllOnes {
            top | (mantissa_ones - 1)
        } else {
            top | mantissa_ones
        }
    }

    fn nan(self) -> u32 {
        match self.specials {
            Specials::Ieee => ((1u32 << self.exp_bits) - 1) << self.man_bits | 1 << (self.man_bits - 1),
            Specials::FiniteNanAllOnes => (1u32 << self.sign_shift()) - 1,
            Specials::Fnuz => 1 << self.sign_shift(),
            Specials::ExponentOnly => 0xff,
            Specials::None => 0,
        }
    }

    fn encode(self, x: f64) -> u32 {
        if x.is_nan() {
            return self.nan();
        }
        if self.specials == Specials::ExponentOnly {
            return self.encode_power_of_two(x);
        }
        let sign = if x.is_sign_negative() { 1u32 << self.sign_shift() } else { 0 };
        let magnitude = x.abs();
        if magnitude == f64::INFINITY {
            return sign | self.overflow();
        }
        if magnitude == 0.0 {
            return if self.specials == Specials::Fnuz { 0 } else { sign };
        }
        let min_normal_exp = 1 - self.bias;
        let quantum_exp = exponent_of(magnitude).max(min_normal_exp) - self.man_bits as i32;
        let mut units = round_half_even(scale_by_pow2(magnitude, -quantum_exp));
        let implicit = (1u64 << self.man_bits) as f64;
        let mut field_exp = quantum_exp + self.man_bits as i32 + self.bias;
        if units == 0.0 {
            return if self.specials == Specials::Fnuz { 0 } else { sign };
        }
        if units >= 2.0 * implicit {
            units /= 2.0;
            field_exp += 1;
        }
        let pattern = if units < implicit {
            units as u32 // subnormal: exponent field 0
        } else {
            if field_exp as u32 > self.max_exp_field() {
                return sign | self.overflow();
            }
            (field_exp as u32) << self.man_bits | (units - implicit) as u32
        };
        if pattern > self.max_finite() {
            return sign | self.overflow();
        }
        if pattern == 0 && self.specials == Specials::Fnuz {
            return 0;
        }
        sign | pattern
    }

    /// E8M0: the nearest power of two 2^(field − 127), field 0–254; 1.5·2^e ties up to the even significand 2.
    /// Values it cannot hold (zero, negatives) become its NaN.
    fn encode_power_of_two(self, x: f64) -> u32 {
        if !(x > 0.0) {
            return self.nan();
        }
        if x == f64::INFINITY {
            return self.max_exp_field();
        }
        let e = exponent_of(x);
        let significand = scale_by_pow2(x, -e);
        let field = e + self.bias + (significand >= 1.5) as i32;
        field.max(0).min(self.max_exp_field() as i32) as u32
    }

    /// What a magnitude beyond the largest finite value becomes.
    fn overflow(self) -> u32 {
        if self.specials == Specials::Ieee {
            ((1u32 << self.exp_bits) - 1) << self.man_bits
        } else {
            self.max_finite()
        }
    }
}

/// floor(log2 x) of a positive finite f64, subnormals included.
fn exponent_of(x: f64) -> i32 {
    let bits = x.to_bits();
    let field = ((bits >> 52) & 0x7ff) as i32;
    if field == 0 {
        let mantissa = bits & ((1u64 << 52) - 1);
        -1074 + (63 - mantissa.leading_zeros() as i32)
    } else {
        field - 1023
    }
}

/// x · 2^e, exact while the result is a normal f64 (split so that neither factor overflows).
fn scale_by_pow2(x: f64, e: i32) -> f64 {
    let half = e / 2;
    x * f64::powi(2.0, half) * f64::powi(2.0, e - half)
}

fn round_integer(x: f64, lo: f64, hi: f64) -> f64 {
    if x.is_nan() {
        return 0.0;
    }
    let r = if x < 0.0 { -round_half_even(-x) } else { round_half_even(x) };
    r.max(lo).min(hi)
}

/// Encodes `values` into `out` in `dtype` (whole element groups: `out.len()` bytes for `values.len()` elements).
pub fn encode_f64(dtype: DType, values: &[f64], out: &mut [u8]) {
    match dtype {
        DType::F64 => {
            for (o, v) in out.chunks_exact_mut(8).zip(values) {
                o.copy_from_slice(&v.to_le_bytes());
            }
        }
        DType::F32 => {
            for (o, &v) in out.chunks_exact_mut(4).zip(values) {
                o.copy_from_slice(&(v as f32).to_le_bytes());
            }
        }
        DType::I64 => {
            for (o, &v) in out.chunks_exact_mut(8).zip(values) {
                // `as` saturates; the rounding happened already.
                o.copy_from_slice(&(round_integer(v, i64::MIN as f64, i64::MAX as f64) as i64).to_le_bytes());
            }
        }
        DType::U64 => {
            for (o, &v) in out.chunks_exact_mut(8).zip(values) {
                o.copy_from_slice(&(round_integer(v, 0.0, u64::MAX as f64) as u64).to_le_bytes());
            }
        }
        DType::I32 => each_int(values, out, 4, i32::MIN as f64, i32::MAX as f64, |r, o| o.copy_from_slice(&(r as i32).to_le_bytes())),
        DType::U32 => each_int(values, out, 4, 0.0, u32::MAX as f64, |r, o| o.copy_from_slice(&(r as u32).to_le_bytes())),
        DType::I16 => each_int(values, out, 2, i16::MIN as f64, i16::MAX as f64, |r, o| o.copy_from_slice(&(r as i16).to_le_bytes())),
        DType::U16 => each_int(values, out, 2, 0.0, u16::MAX as f64, |r, o| o.copy_from_slice(&(r as u16).to_le_bytes())),
        DType::I8 => each_int(values, out, 1, i8::MIN as f64, i8::MAX as f64, |r, o| o[0] = r as i8 as u8),
        DType::U8 => each_int(values, out, 1, 0.0, u8::MAX as f64, |r, o| o[0] = r as u8),
        DType::Bool => {
            for (o, &v) in out.iter_mut().zip(values) {
                *o = (v != 0.0) as u8;
            }
        }
        DType::BF16 => {
            // Four at a time with the SIMD rounding (the same rule), the last few one by one.
            let mut fours = values.chunks_exact(4);
            let mut outs = out.chunks_exact_mut(8);
            for (v, o) in (&mut fours).zip(&mut outs) {
                o.copy_from_slice(&simd::narrow_bf16(F64x2::load(v), F64x2::load(&v[2..])));
            }
            for (o, &v) in outs.into_remainder().chunks_exact_mut(2).zip(fours.remainder()) {
                o.copy_from_slice(&f32_to_bf16(f64_to_f32_round_odd(v)).to_le_bytes());
            }
        }
        DType::F16 => {
            for (o, &v) in out.chunks_exact_mut(2).zip(values) {
                o.copy_from_slice(&f32_to_f16(f64_to_f32_round_odd(v)).to_le_bytes());
            }
        }
        DType::F4 => {
            let format = format_of(dtype).expect("a minifloat");
            for (o, pair) in out.iter_mut().zip(values.chunks(2)) {
                let high = if pair.len() > 1 { format.encode(pair[1]) } else { 0 };
                *o = (format.encode(pair[0]) | high << 4) as u8;
            }
        }
        DType::F6E2M3 | DType::F6E3M2 => {
            let format = format_of(dtype).expect("a minifloat");
            for (o, group) in out.chunks_exact_mut(3).zip(values.chunks(4)) {
                let word = group.iter().enumerate().fold(0u32, |w, (i, &v)| w | format.encode(v) << (6 * i));
                o.copy_from_slice(&[word as u8, (word >> 8) as u8, (word >> 16) as u8]);
            }
        }
        _ => {
            let format = format_of(dtype).expect("a minifloat");
            for (o, &v) in out.iter_mut().zip(values) {
                *o = format.encode(v) as u8;
            }
        }
    }
}

/// f64 → f32 rounding to odd: truncate toward zero and set the last bit when anything was lost. Rounding that to a
/// narrower format (BF16, F16: at least two bits shorter) to nearest-even then rounds the f64 exactly once.
pub fn f64_to_f32_round_odd(x: f64) -> f32 {
    let nearest = x as f32;
    let back = nearest as f64;
    if back == x || x.is_nan() {
        return nearest;
    }
    // The nearest f32 overshot |x| (or overflowed to Inf): step one unit toward zero, then mark inexact.
    let bits = nearest.to_bits();
    let truncated = if back.abs() > x.abs() { bits - 1 } else { bits };
    f32::from_bits(truncated | 1)
}

/// f32 → bfloat16 bits, round to nearest even (NaN becomes the quiet NaN 0x7FC0).
pub fn f32_to_bf16(x: f32) -> u16 {
    let bits = x.to_bits();
    if x.is_nan() {
        return 0x7fc0;
    }
    ((bits + 0x7fff + ((bits >> 16) & 1)) >> 16) as u16
}

/// f32 → IEEE binary16 bits, round to nearest even, with subnormals, overflow to Inf and NaN.
pub fn f32_to_f16(x: f32) -> u16 {
    let bits = x.to_bits();
    let sign = ((bits >> 16) & 0x8000) as u16;
    let magnitude = bits & 0x7fff_ffff;
    if magnitude > 0x7f80_0000 {
        return 0x7e00;
    }
    if magnitude >= 0x4780_0000 {
        // ≥ 65536: Inf (65520 and up round there too; handled below since they are < 65536).
        return sign | 0x7c00;
    }
    if magnitude < 0x3880_0000 {
        // Below the smallest normal 2^-14: a subnormal (or 0), in units of 2^-24, ties to even.
        let value = f32::from_bits(magnitude) * 16_777_216.0; // exact: × 2^24
        let floor = value.floor();
        let rest = value - floor;
        let units = if rest > 0.5 || (rest == 0.5 && floor % 2.0 != 0.0) { floor + 1.0 } else { floor };
        return sign | units as u16;
    }
    // Normal: rebias the exponent (127 → 15) and round the 13 dropped mantissa bits to nearest even; a carry
    // rolls into the exponent, up to Inf.
    let rebased = magnitude - (112 << 23);
    let rounded = rebased + 0x0fff + ((rebased >> 13) & 1);
    sign | (rounded >> 13) as u16
}

fn each_int(values: &[f64], out: &mut [u8], size: usize, lo: f64, hi: f64, write: impl Fn(f64, &mut [u8])) {
    for (o, &v) in out.chunks_exact_mut(size).zip(values) {
        write(round_integer(v, lo, hi), o);
    }
}

/// Bytes of `count` elements of `dtype` (whole groups).
pub fn encoded_len(dtype: DType, count: usize) -> usize {
    let ge = dtype.group_elements();
    (count + ge - 1) / ge * dtype.group_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::decode_f64;

    fn decode_one(dtype: DType, pattern: u32) -> f64 {
        let mut bytes = [0u8; 3];
        let len = dtype.group_bytes();
        for (i, b) in bytes.iter_mut().enumerate().take(len) {
            *b = (pattern >> (8 * i)) as u8;
        }
        let mut out = vec![0.0; dtype.group_elements()];
        decode_f64(dtype, &bytes[..len], &mut out);
        out[0]
    }

    fn encode_one(dtype: DType, v: f64) -> u32 {
        let mut values = vec![0.0; dtype.group_elements()];
        values[0] = v;
        let mut out = vec![0u8; dtype.group_bytes()];
        encode_f64(dtype, &values, &mut out);
        let word = out.iter().enumerate().fold(0u32, |w, (i, &b)| w | (b as u32) << (8 * i));
        word & ((1u32 << dtype.bits()) - 1)
    }

    const FLOATS: [DType; 10] = [
        DType::F16, DType::BF16, DType::F8E4M3, DType::F8E5M2, DType::F8E4M3Fnuz, DType::F8E5M2Fnuz, DType::F8E8M0,
        DType::F6E2M3, DType::F6E3M2, DType::F4,
    ];

    #[test]
    fn every_value_of_every_small_float_encodes_back_to_its_pattern() {
        for dtype in FLOATS {
            for p in 0..(1u32 << dtype.bits()) {
                let v = decode_one(dtype, p);
                let back = encode_one(dtype, v);
                if v.is_nan() {
                    assert!(decode_one(dtype, back).is_nan(), "{:?} NaN {:#x} → {:#x}", dtype, p, back);
                } else {
                    assert_eq!(decode_one(dtype, back).to_bits(), v.to_bits(), "{:?} {:#x} ({}) → {:#x}", dtype, p, v, back);
                }
            }
        }
    }

    /// Every finite value of a format, sorted, with its pattern.
    fn finite_values(dtype: DType) -> Vec<(f64, u32)> {
        let mut values: Vec<(f64, u32)> = (0..(1u32 << dtype.bits()))
            .map(|p| (decode_one(dtype, p), p))
            .filter(|(v, _)| v.is_finite() && !(*v == 0.0 && v.is_sign_negative()))
            .collect();
        values.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap());
        values.dedup_by(|a, b| a.0 == b.0);
        values
    }

    #[test]
    fn midpoints_round_to_the_even_neighbour_and_others_to_the_nearest() {
        for dtype in FLOATS {
            let values = finite_values(dtype);
            for pair in values.windows(2) {
                let ((lo, lo_p), (hi, hi_p)) = (pair[0], pair[1]);
                let mid = (lo + hi) / 2.0;
                let got = decode_one(dtype, encode_one(dtype, mid));
                if dtype == DType::F8E8M0 {
                    // Exponent-only: 2^e and 2^(e+1) tie at 1.5·2^e, and round up (the even significand 2).
                    assert_eq!(got, hi, "{:?} midpoint of {} and {}", dtype, lo, hi);
                } else {
                    // The even neighbour has an even pattern (mantissa LSB 0), sign and magnitude alike.
                    let even = if (lo_p & 1) == 0 { lo } else { hi };
                    assert!(lo_p & 1 != hi_p & 1 || lo == 0.0 || hi == 0.0, "{:?}: neighbours {} {}", dtype, lo, hi);
                    if lo != 0.0 && hi != 0.0 {
                        assert_eq!(got, even, "{:?} midpoint {} of {} and {}", dtype, mid, lo, hi);
                    }
                }
                let below = lo + (hi - lo) * 0.25;
                let above = lo + (hi - lo) * 0.75;
                if dtype != DType::F8E8M0 {
                    assert_eq!(decode_one(dtype, encode_one(dtype, below)), lo, "{:?} {}", dtype, below);
                }
                assert_eq!(decode_one(dtype, encode_one(dtype, above)), hi, "{:?} {}", dtype, above);
            }
        }
    }

    #[test]
    fn out_of_range_values_overflow_or_saturate() {
        assert_eq!(encode_one(DType::F16, 65520.0), 0x7c00); // max 65504 + half ulp ties away to Inf
        assert_eq!(encode_one(DType::F16, 65519.0), 0x7bff);
        assert_eq!(encode_one(DType::F16, -1e9), 0xfc00);
        assert_eq!(encode_one(DType::BF16, f64::INFINITY), 0x7f80);
        assert_eq!(encode_one(DType::F8E4M3, 1e6), 0x7e); // saturates at 448
        assert_eq!(encode_one(DType::F8E4M3, f64::NEG_INFINITY), 0xfe);
        assert_eq!(encode_one(DType::F4, 100.0), 0x7);
        assert_eq!(encode_one(DType::F8E4M3Fnuz, -0.0), 0);
        assert_eq!(encode_one(DType::F16, 1e-10), 0); // below half the smallest subnormal
        assert_eq!(encode_one(DType::F16, -1e-10), 0x8000);
        assert_eq!(encode_one(DType::F16, 2f64.powi(-25) * 1.0001), 1);
    }

    #[test]
    fn bf16_rounds_once_from_f64() {
        // 1 + 2^-8 + 2^-30 is above the BF16 midpoint 1 + 2^-8; rounding through f32 first would still see it, but a
        // value just above a midpoint by less than an f32 ulp would not: 1 + 2^-8 + 2^-40 must round up.
        assert_eq!(encode_one(DType::BF16, 1.0 + 2f64.powi(-8) + 2f64.powi(-40)), 0x3f81);
        assert_eq!(encode_one(DType::BF16, 1.0 + 2f64.powi(-8)), 0x3f80);
    }

    #[test]
    fn fast_bf16_and_f16_paths_agree_with_the_generic_rounding() {
        let formats = [(DType::BF16, format_of(DType::BF16).unwrap()), (DType::F16, format_of(DType::F16).unwrap())];
        let mut state = 0x1234_5678_9abc_def0u64;
        let mut next = || {
            state = crate::hash::mix64(state);
            state
        };
        for (dtype, format) in formats {
            let mut values: Vec<f64> = (0..200_000).map(|_| f64::from_bits(next())).filter(|v| !v.is_nan()).collect();
            // Every midpoint and its neighbours in f64, the hardest cases for double rounding.
            for p in 0..(1u32 << 16) {
                let v = decode_one(dtype, p);
                let w = decode_one(dtype, p + 1);
                if v.is_finite() && w.is_finite() && v.is_sign_positive() == w.is_sign_positive() {
                    let mid = (v + w) / 2.0;
                    values.extend([mid, f64::from_bits(mid.to_bits() + 1), f64::from_bits(mid.to_bits() - 1), v * 1.000_000_1]);
                }
            }
            values.extend([0.0, -0.0, f64::INFINITY, f64::NEG_INFINITY, 1e-320, -1e-320, 65504.0, 65519.99, 65520.0, 3.4e38, 3.41e38, 1e300]);
            for v in values {
                assert_eq!(encode_one(dtype, v), format.encode(v), "{:?} {:e} ({:#x})", dtype, v, v.to_bits());
            }
        }
    }

    #[test]
    fn bf16_four_at_a_time_matches_one_by_one() {
        let mut state = 0x0bad_5eed_u64;
        let mut values: Vec<f64> = (0..100_003)
            .map(|i| {
                state = crate::hash::mix64(state);
                // Raw bit patterns (NaN, Inf, subnormals included), values near bf16 midpoints and f32 overflow.
                match i % 4 {
                    0 => f64::from_bits(state),
                    1 => (state as i64 as f64) * 1e-19,
                    2 => decode_one(DType::BF16, state as u32 & 0xffff) * (1.0 + 2f64.powi(-9) * ((state >> 40) % 3) as f64),
                    _ => f32::MAX as f64 * (1.0 + (state >> 12) as f64 * 2f64.powi(-60)),
                }
            })
            .collect();
        values.extend([0.0, -0.0, f64::INFINITY, f64::NEG_INFINITY, f64::NAN, -f64::NAN, 1e-320, -1e-46, 1e-45, 3.5e38, -3.5e38]);
        let mut bulk = vec![0u8; 2 * values.len()];
        encode_f64(DType::BF16, &values, &mut bulk);
        for (i, &v) in values.iter().enumerate() {
            assert_eq!(u16::from_le_bytes([bulk[2 * i], bulk[2 * i + 1]]) as u32, encode_one(DType::BF16, v), "{:e} ({:#x})", v, v.to_bits());
        }
    }

    #[test]
    fn wide_types_and_integers() {
        let mut out = [0u8; 8];
        encode_f64(DType::F64, &[-0.1], &mut out);
        assert_eq!(f64::from_le_bytes(out), -0.1);
        let mut out = [0u8; 4];
        encode_f64(DType::F32, &[1.0 + 2f64.powi(-24)], &mut out); // tie → even (1.0)
        assert_eq!(f32::from_le_bytes(out), 1.0);
        let mut out = [0u8; 4];
        encode_f64(DType::I8, &[2.5, -2.5, 300.0, f64::NAN], &mut out);
        assert_eq!(out, [2, (-2i8) as u8, 127, 0]);
        let mut out = [0u8; 4];
        encode_f64(DType::U16, &[3.5, -7.0], &mut out);
        assert_eq!(out, [4, 0, 0, 0]);
        let mut out = [0u8; 3];
        encode_f64(DType::Bool, &[0.0, -0.0, 0.3], &mut out);
        assert_eq!(out, [0, 0, 1]);
        assert_eq!(encoded_len(DType::F6E2M3, 5), 6);
        assert_eq!(encoded_len(DType::F4, 3), 2);
    }
}
