//! Bit-exact decoding of small float formats and of any element pattern to f64.
use crate::dtype::DType;

/// IEEE binary16 → f64 (exact).
pub fn f16_to_f64(h: u16) -> f64 {
    minifloat(h as u32, 5, 10, 15, true)
}

/// bfloat16 → f64 (exact): the top half of an f32.
pub fn bf16_to_f64(b: u16) -> f64 {
    f32::from_bits((b as u32) << 16) as f64
}

/// A sign/exponent/mantissa minifloat with IEEE subnormals. `ieee_special`: the all-ones exponent means Inf/NaN.
fn minifloat(bits: u32, exp_bits: u32, man_bits: u32, bias: i32, ieee_special: bool) -> f64 {
    let sign = if (bits >> (exp_bits + man_bits)) & 1 == 1 { -1.0 } else { 1.0 };
    let exp = ((bits >> man_bits) & ((1 << exp_bits) - 1)) as i32;
    let man = (bits & ((1 << man_bits) - 1)) as f64;
    let scale = (1u64 << man_bits) as f64;
    if ieee_special && exp == (1 << exp_bits) - 1 {
        return if man == 0.0 { sign * f64::INFINITY } else { f64::NAN };
    }
    if exp == 0 {
        sign * man / scale * pow2(1 - bias)
    } else {
        sign * (1.0 + man / scale) * pow2(exp - bias)
    }
}

fn pow2(e: i32) -> f64 {
    f64::powi(2.0, e)
}

/// FP8 E4M3FN: no infinities; only S.1111.111 is NaN.
pub fn f8_e4m3fn(b: u8) -> f64 {
    if b & 0x7f == 0x7f {
        return f64::NAN;
    }
    minifloat(b as u32, 4, 3, 7, false)
}

/// FP8 E5M2: IEEE-like with infinities and NaNs.
pub fn f8_e5m2(b: u8) -> f64 {
    minifloat(b as u32, 5, 2, 15, true)
}

/// FNUZ variants: a single NaN at 0x80, no negative zero, no infinities.
fn fnuz(b: u8, exp_bits: u32, man_bits: u32, bias: i32) -> f64 {
    if b == 0x80 {
        return f64::NAN;
    }
    minifloat(b as u32, exp_bits, man_bits, bias, false)
}

/// FP8 E4M3FNUZ (bias 8).
pub fn f8_e4m3fnuz(b: u8) -> f64 {
    fnuz(b, 4, 3, 8)
}

/// FP8 E5M2FNUZ (bias 16).
pub fn f8_e5m2fnuz(b: u8) -> f64 {
    fnuz(b, 5, 2, 16)
}

/// E8M0: 2^(e − 127); 0xFF is NaN.
pub fn f8_e8m0(b: u8) -> f64 {
    if b == 0xff {
        f64::NAN
    } else {
        pow2(b as i32 - 127)
    }
}

/// FP6 E2M3 (bias 1, no specials).
pub fn f6_e2m3(p: u8) -> f64 {
    minifloat(p as u32 & 0x3f, 2, 3, 1, false)
}

/// FP6 E3M2 (bias 3, no specials).
pub fn f6_e3m2(p: u8) -> f64 {
    minifloat(p as u32 & 0x3f, 3, 2, 3, false)
}

/// FP4 E2M1 (bias 1, no specials): magnitudes 0, 0.5, 1, 1.5, 2, 3, 4, 6.
pub fn f4_e2m1(p: u8) -> f64 {
    minifloat(p as u32 & 0x0f, 2, 1, 1, false)
}

/// The value of one raw pattern of a pattern dtype (at most 16 bits).
pub fn pattern_value(dtype: DType, p: u32) -> f64 {
    match dtype {
        DType::F16 => f16_to_f64(p as u16),
        DType::BF16 => bf16_to_f64(p as u16),
        DType::F8E4M3 => f8_e4m3fn(p as u8),
        DType::F8E5M2 => f8_e5m2(p as u8),
        DType::F8E8M0 => f8_e8m0(p as u8),
        DType::F8E4M3Fnuz => f8_e4m3fnuz(p as u8),
        DType::F8E5M2Fnuz => f8_e5m2fnuz(p as u8),
        DType::F6E2M3 => f6_e2m3(p as u8),
        DType::F6E3M2 => f6_e3m2(p as u8),
        DType::F4 => f4_e2m1(p as u8),
        DType::I16 => p as u16 as i16 as f64,
        DType::I8 => p as u8 as i8 as f64,
        DType::U16 | DType::U8 => p as f64,
        DType::Bool => {
            if p != 0 {
                1.0
            } else {
                0.0
            }
        }
        _ => f64::NAN,
    }
}

/// Order-preserving 64-bit key of a wide element (left-aligned for 32-bit types): sorting keys sorts values.
pub fn wide_key(dtype: DType, bytes: &[u8]) -> u64 {
    match dtype {
        DType::F64 => float_key(u64::from_le_bytes(to8(bytes))),
        DType::F32 => float_key((u32::from_le_bytes(to4(bytes)) as u64) << 32),
        DType::I64 => u64::from_le_bytes(to8(bytes)) ^ (1 << 63),
        DType::U64 => u64::from_le_bytes(to8(bytes)),
        DType::I32 => ((u32::from_le_bytes(to4(bytes)) ^ 0x8000_0000) as u64) << 32,
        DType::U32 => (u32::from_le_bytes(to4(bytes)) as u64) << 32,
        _ => 0,
    }
}

fn float_key(bits: u64) -> u64 {
    if bits >> 63 == 1 {
        !bits
    } else {
        bits | (1 << 63)
    }
}

/// The value of a (possibly truncated) wide key; for floats the dropped bits are cleared toward zero.
pub fn key_value(dtype: DType, key: u64, known_bits: u32) -> f64 {
    let keep = if known_bits >= 64 { u64::MAX } else { !(u64::MAX >> known_bits) };
    match dtype {
        DType::F64 | DType::F32 => {
            let bits = if key >> 63 == 1 { key & !(1 << 63) } else { !key };
            let bits = bits & keep;
            if dtype == DType::F64 {
                f64::from_bits(bits)
            } else {
                f32::from_bits((bits >> 32) as u32) as f64
            }
        }
        DType::I64 => ((key & keep) ^ (1 << 63)) as i64 as f64,
        DType::U64 => (key & keep) as f64,
        DType::I32 => ((((key & keep) >> 32) as u32) ^ 0x8000_0000) as i32 as f64,
        DType::U32 => ((key & keep) >> 32) as f64,
        _ => f64::NAN,
    }
}

/// For a float key whose leading bits are known: is its exponent field zero (a zero or a subnormal)?
pub fn key_is_subnormal_or_zero(dtype: DType, key: u64) -> bool {
    let bits = if key >> 63 == 1 { key & !(1 << 63) } else { !key };
    match dtype {
        DType::F32 => (bits >> 55) & 0xff == 0,
        DType::F64 => (bits >> 52) & 0x7ff == 0,
        _ => false,
    }
}

/// The decoded value of a wide element.
pub fn wide_value(dtype: DType, bytes: &[u8]) -> f64 {
    match dtype {
        DType::F64 => f64::from_le_bytes(to8(bytes)),
        DType::F32 => f32::from_le_bytes(to4(bytes)) as f64,
        DType::I64 => i64::from_le_bytes(to8(bytes)) as f64,
        DType::U64 => u64::from_le_bytes(to8(bytes)) as f64,
        DType::I32 => i32::from_le_bytes(to4(bytes)) as f64,
        DType::U32 => u32::from_le_bytes(to4(bytes)) as f64,
        _ => f64::NAN,
    }
}

fn to8(b: &[u8]) -> [u8; 8] {
    [b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]
}

fn to4(b: &[u8]) -> [u8; 4] {
    [b[0], b[1], b[2], b[3]]
}
