//! Bit-exact decoding of small float formats, of any element pattern, and of GGUF blocks to f64.
use crate::dtype::DType;
use crate::quant;
use crate::simd;

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

/// Decodes whole element groups of `dtype` into `out` (one f64 per element; `out.len()` must equal the element
/// count of `bytes`). Exact for every dtype (block-quantized types: bit-identical to ggml's f32 dequantization,
/// widened); the 16- and 32-bit float paths are written as plain lane-wise loops so
/// that the wasm32 build (SIMD128) vectorizes them.
pub fn decode_f64(dtype: DType, bytes: &[u8], out: &mut [f64]) {
    debug_assert_eq!(out.len() * dtype.group_bytes(), bytes.len() * dtype.group_elements());
    if let Some(format) = quant::format(dtype) {
        return quant::dequantize(format, bytes, out);
    }
    match dtype {
        DType::BF16 => widen_fours(bytes, out, 2, simd::widen_bf16, |b| bf16_to_f64(u16::from_le_bytes([b[0], b[1]]))),
        DType::F16 => widen_fours(bytes, out, 2, simd::widen_f16, |b| f16_bits_to_f32(u16::from_le_bytes([b[0], b[1]])) as f64),
        DType::F32 => widen_fours(bytes, out, 4, simd::widen_f32, |b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64),
        DType::F64 | DType::I64 | DType::U64 | DType::I32 | DType::U32 => {
            let size = (dtype.bits() / 8) as usize;
            for (o, e) in out.iter_mut().zip(bytes.chunks_exact(size)) {
                *o = wide_value(dtype, e);
            }
        }
        DType::I16 | DType::U16 => {
            for (o, b) in out.iter_mut().zip(bytes.chunks_exact(2)) {
                *o = pattern_value(dtype, u16::from_le_bytes([b[0], b[1]]) as u32);
            }
        }
        DType::F4 => {
            let table = table_of(dtype, 16);
            for (o, &b) in out.chunks_exact_mut(2).zip(bytes) {
                o[0] = table[(b & 15) as usize];
                o[1] = table[(b >> 4) as usize];
            }
        }
        DType::F6E2M3 | DType::F6E3M2 => {
            let table = table_of(dtype, 64);
            for (o, g) in out.chunks_exact_mut(4).zip(bytes.chunks_exact(3)) {
                let w = g[0] as u32 | (g[1] as u32) << 8 | (g[2] as u32) << 16;
                for (i, slot) in o.iter_mut().enumerate() {
                    *slot = table[((w >> (6 * i)) & 63) as usize];
                }
            }
        }
        _ => {
            let table = table_of(dtype, 256);
            for (o, &b) in out.iter_mut().zip(bytes) {
                *o = table[b as usize];
            }
        }
    }
}

/// Decodes four elements at a time with a SIMD widening kernel, the last few one by one.
fn widen_fours(bytes: &[u8], out: &mut [f64], size: usize, four: fn(&[u8]) -> [simd::F64x2; 2], one: fn(&[u8]) -> f64) {
    let mut groups = bytes.chunks_exact(4 * size);
    let mut outs = out.chunks_exact_mut(4);
    for (b, o) in (&mut groups).zip(&mut outs) {
        let [low, high] = four(b);
        low.store(o);
        high.store(&mut o[2..]);
    }
    for (b, o) in groups.remainder().chunks_exact(size).zip(outs.into_remainder()) {
        *o = one(b);
    }
}

/// Elements decoded per block: small enough to stay in L1 cache, large enough to amortize the call.
pub const DECODE_BLOCK: usize = 4096;

/// Decodes byte chunks block by block into a reusable scratch buffer, for analyses that work on values.
#[derive(Clone)]
pub struct Decoder {
    dtype: DType,
    scratch: Vec<f64>,
}

impl Decoder {
    /// A decoder for `dtype`.
    pub fn new(dtype: DType) -> Decoder {
        Decoder { dtype, scratch: Vec::new() }
    }

    /// The dtype decoded.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// Elements in `bytes` (which must hold whole element groups).
    pub fn elements_in(&self, bytes: usize) -> usize {
        bytes / self.dtype.group_bytes() * self.dtype.group_elements()
    }

    /// Calls `f` with consecutive blocks of decoded values covering all of `bytes` in order.
    pub fn for_each_block(&mut self, bytes: &[u8], mut f: impl FnMut(&[f64])) {
        let groups_per_block = (DECODE_BLOCK / self.dtype.group_elements()).max(1);
        let block_bytes = groups_per_block * self.dtype.group_bytes();
        for chunk in bytes.chunks(block_bytes) {
            let n = self.elements_in(chunk.len());
            if self.scratch.len() < n {
                self.scratch.resize(n, 0.0);
            }
            decode_f64(self.dtype, chunk, &mut self.scratch[..n]);
            f(&self.scratch[..n]);
        }
    }

    /// Decodes all of `bytes` into `out` (cleared first).
    pub fn decode_all(&mut self, bytes: &[u8], out: &mut Vec<f64>) {
        out.clear();
        let n = self.elements_in(bytes.len());
        out.resize(n, 0.0);
        decode_f64(self.dtype, bytes, out);
    }
}

/// The value of every pattern of a small type, for table lookups.
fn table_of(dtype: DType, patterns: usize) -> [f64; 256] {
    let mut table = [0.0; 256];
    for (p, slot) in table.iter_mut().enumerate().take(patterns) {
        *slot = pattern_value(dtype, p as u32);
    }
    table
}

/// IEEE binary16 bits → f32 without branches on the value: scaling the shifted bits by 2^112 is exact for normals and
/// subnormals alike; the all-ones exponent keeps its mantissa (NaN payloads) and becomes Inf/NaN.
pub fn f16_bits_to_f32(h: u16) -> f32 {
    let h = h as u32;
    let sign = (h & 0x8000) << 16;
    let magnitude = h & 0x7fff;
    let finite = (f32::from_bits(magnitude << 13) * f32::from_bits(0x7780_0000)).to_bits(); // × 2^112
    let special = (magnitude << 13) | 0x7f80_0000;
    f32::from_bits(sign | if magnitude >= 0x7c00 { special } else { finite })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// IEEE binary16 by the textbook formula, independent of the bit tricks above.
    fn f16_reference(h: u16) -> f64 {
        let sign = if h >> 15 == 1 { -1.0 } else { 1.0 };
        let e = ((h >> 10) & 31) as i32;
        let m = (h & 1023) as f64;
        match e {
            0 => sign * m * 2f64.powi(-24),
            31 if m == 0.0 => sign * f64::INFINITY,
            31 => f64::NAN,
            _ => sign * (1.0 + m / 1024.0) * 2f64.powi(e - 15),
        }
    }

    fn same(a: f64, b: f64) -> bool {
        (a.is_nan() && b.is_nan()) || (a == b && a.is_sign_negative() == b.is_sign_negative())
    }

    #[test]
    fn every_f16_pattern_decodes_exactly() {
        for p in 0..=u16::MAX {
            let want = f16_reference(p);
            assert!(same(f16_to_f64(p), want), "f16_to_f64 {:#06x}", p);
            assert!(same(f16_bits_to_f32(p) as f64, want), "f16_bits_to_f32 {:#06x}", p);
            let mut out = [0.0];
            decode_f64(DType::F16, &p.to_le_bytes(), &mut out);
            assert!(same(out[0], want), "decode_f64 {:#06x}", p);
        }
    }

    #[test]
    fn every_bf16_pattern_decodes_to_the_f32_with_those_top_bits() {
        for p in 0..=u16::MAX {
            // Reference: sign, 8-bit exponent (bias 127), 7-bit mantissa, IEEE specials.
            let sign = if p >> 15 == 1 { -1.0 } else { 1.0 };
            let e = ((p >> 7) & 255) as i32;
            let m = (p & 127) as f64;
            let want = match e {
                0 => sign * m / 128.0 * 2f64.powi(-126),
                255 if m == 0.0 => sign * f64::INFINITY,
                255 => f64::NAN,
                _ => sign * (1.0 + m / 128.0) * 2f64.powi(e - 127),
            };
            let mut out = [0.0];
            decode_f64(DType::BF16, &p.to_le_bytes(), &mut out);
            assert!(same(out[0], want) && same(bf16_to_f64(p), want), "bf16 {:#06x}", p);
        }
    }

    /// Reference values of every FP8 pattern from the format definitions (OCP 8-bit FP, FNUZ, MX E8M0).
    fn fp8_reference(dtype: DType, b: u8) -> f64 {
        let (exp_bits, man_bits, bias) = match dtype {
            DType::F8E4M3 => (4, 3, 7),
            DType::F8E5M2 => (5, 2, 15),
            DType::F8E4M3Fnuz => (4, 3, 8),
            DType::F8E5M2Fnuz => (5, 2, 16),
            _ => return if b == 255 { f64::NAN } else { 2f64.powi(b as i32 - 127) },
        };
        let fnuz = matches!(dtype, DType::F8E4M3Fnuz | DType::F8E5M2Fnuz);
        if fnuz && b == 0x80 {
            return f64::NAN;
        }
        if dtype == DType::F8E4M3 && b & 0x7f == 0x7f {
            return f64::NAN;
        }
        let sign = if b >> 7 == 1 { -1.0 } else { 1.0 };
        let e = ((b >> man_bits) & ((1 << exp_bits) - 1)) as i32;
        let m = (b & ((1 << man_bits) - 1)) as f64;
        let scale = (1 << man_bits) as f64;
        if dtype == DType::F8E5M2 && e == 31 {
            return if m == 0.0 { sign * f64::INFINITY } else { f64::NAN };
        }
        if e == 0 {
            sign * m / scale * 2f64.powi(1 - bias)
        } else {
            sign * (1.0 + m / scale) * 2f64.powi(e - bias)
        }
    }

    #[test]
    fn every_fp8_pattern_decodes_exactly() {
        for dtype in [DType::F8E4M3, DType::F8E5M2, DType::F8E4M3Fnuz, DType::F8E5M2Fnuz, DType::F8E8M0] {
            let bytes: Vec<u8> = (0..=255).collect();
            let mut out = vec![0.0; 256];
            decode_f64(dtype, &bytes, &mut out);
            for b in 0..=255u8 {
                let want = fp8_reference(dtype, b);
                assert!(same(out[b as usize], want), "{:?} {:#04x}: {} vs {}", dtype, b, out[b as usize], want);
            }
        }
        // Known landmarks: E4M3 max 448, E5M2 max 57344, E4M3 smallest subnormal 2^-9.
        assert_eq!(f8_e4m3fn(0x7e), 448.0);
        assert_eq!(f8_e5m2(0x7b), 57344.0);
        assert_eq!(f8_e4m3fn(0x01), 2f64.powi(-9));
    }

    #[test]
    fn packed_sub_byte_types_unpack_in_element_order() {
        let mut out = [0.0; 2];
        decode_f64(DType::F4, &[0x7 | (0xA << 4)], &mut out); // element 0 = 6.0 (low nibble), element 1 = -1.0
        assert_eq!(out, [6.0, -1.0]);
        // F6_E2M3: four 6-bit patterns p0..p3 in the little-endian 24-bit word, p_i at bits [6i, 6i+6).
        let patterns = [0b001000u32, 0b011111, 0b100000, 0b000001];
        let word = patterns.iter().enumerate().fold(0u32, |w, (i, p)| w | p << (6 * i));
        let mut out = [0.0; 4];
        decode_f64(DType::F6E2M3, &[word as u8, (word >> 8) as u8, (word >> 16) as u8], &mut out);
        assert_eq!(out, [1.0, 7.5, -0.0, 0.125]);
    }

    #[test]
    fn integers_and_wide_floats_decode_exactly() {
        let mut out = [0.0; 2];
        decode_f64(DType::I64, &[(-5i64).to_le_bytes(), (1i64 << 52).to_le_bytes()].concat(), &mut out);
        assert_eq!(out, [-5.0, 2f64.powi(52)]);
        decode_f64(DType::U16, &[0xff, 0xff, 0x01, 0x00], &mut out);
        assert_eq!(out, [65535.0, 1.0]);
        decode_f64(DType::F64, &[0.1f64.to_le_bytes(), (-0.0f64).to_le_bytes()].concat(), &mut out);
        assert!(out[0] == 0.1 && out[1] == 0.0 && out[1].is_sign_negative());
        let mut out = [0.0; 3];
        decode_f64(DType::Bool, &[0, 1, 7], &mut out);
        assert_eq!(out, [0.0, 1.0, 1.0]);
    }
}
