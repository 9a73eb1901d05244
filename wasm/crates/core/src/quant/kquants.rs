//! Super-blocks of 256 elements (QK_K): the K-quants with their packed sub-block scales (`dequantize_row_q2_K` …
//! `_q8_K`), IQ4_XS, and the ternary TQ1_0/TQ2_0. Element order follows ggml's loops exactly; each unpacker names
//! where element i's bits live.
use super::{half, u16_at, u32_at, Block, BlockScale, Format, KVALUES_IQ4NL};

pub static Q2_K: Format = layout!(256, 84, 16, F16, true, Some((0.0, 3.0)), unpack_q2_k);
pub static Q3_K: Format = layout!(256, 110, 16, F16, false, Some((-4.0, 3.0)), unpack_q3_k);
pub static Q4_K: Format = layout!(256, 144, 8, F16, true, Some((0.0, 15.0)), unpack_q4_k);
pub static Q5_K: Format = layout!(256, 176, 8, F16, true, Some((0.0, 31.0)), unpack_q5_k);
pub static Q6_K: Format = layout!(256, 210, 16, F16, false, Some((-32.0, 31.0)), unpack_q6_k);
pub static IQ4_XS: Format = layout!(256, 136, 8, F16, false, Some((-127.0, 113.0)), unpack_iq4_xs);
pub static TQ1_0: Format = layout!(256, 54, 1, F16, false, None, unpack_tq1_0);
pub static TQ2_0: Format = layout!(256, 66, 1, F16, false, None, unpack_tq2_0);
pub static Q8_K: Format = layout!(256, 292, 1, F32, false, Some((-127.0, 127.0)), unpack_q8_k);

/// Q2_K `{scales[16], qs[64], d, dmin}`: 16 sub-blocks of 16, scale and min as the low and high nibble of
/// `scales[s]`. Element i (h = i/128, r = i%128): bits 2·(r/32) of `qs[32h + i%32]`.
fn unpack_q2_k(b: &[u8], block: &mut Block) {
    let (d, dmin) = (half(b, 80), half(b, 82));
    block.d_bits = u16_at(b, 80) as u32;
    block.min_bits = u16_at(b, 82);
    for s in 0..16 {
        let sc = b[s];
        block.scales[s] = d * (sc & 0xf) as f32;
        block.mins[s] = dmin * (sc >> 4) as f32;
    }
    let qs = &b[16..80];
    for (i, c) in block.codes.iter_mut().enumerate() {
        *c = ((qs[32 * (i / 128) + i % 32] >> (2 * (i % 128 / 32))) & 3) as f32;
    }
}

/// Q3_K `{hmask[32], qs[64], scales[12], d}`: 16 signed 6-bit scales (low 4 bits in nibbles of bytes 0–7, high
/// 2 bits in bytes 8–11), stored +32. Element i: 2 low bits as in Q2_K; the high bit is bit (4h + r/32) of
/// `hmask[i%32]`, and a clear high bit subtracts 4.
fn unpack_q3_k(b: &[u8], block: &mut Block) {
    let d = half(b, 108);
    block.d_bits = u16_at(b, 108) as u32;
    let packed = &b[96..108];
    for s in 0..16 {
        let low = if s < 8 { packed[s] & 0xf } else { packed[s - 8] >> 4 };
        let high = (packed[8 + s % 4] >> (2 * (s / 4))) & 3;
        block.scales[s] = d * ((low | high << 4) as i32 - 32) as f32;
    }
    let (hmask, qs) = (&b[0..32], &b[32..96]);
    for (i, c) in block.codes.iter_mut().enumerate() {
        let (h, r) = (i / 128, i % 128);
        let low = ((qs[32 * h + i % 32] >> (2 * (r / 32))) & 3) as i32;
        let high_set = hmask[i % 32] & (1 << (4 * h + r / 32)) != 0;
        *c = (low - if high_set { 0 } else { 4 }) as f32;
    }
}

/// `get_scale_min_k4`: the 6-bit scale and min of sub-block `j` from the 12 packed bytes of Q4_K/Q5_K.
fn scale_min_k4(j: usize, q: &[u8]) -> (u8, u8) {
    if j < 4 {
        (q[j] & 63, q[j + 4] & 63)
    } else {
        ((q[j + 4] & 0xf) | ((q[j - 4] >> 6) << 4), (q[j + 4] >> 4) | ((q[j] >> 6) << 4))
    }
}

/// Q4_K/Q5_K head `{d, dmin, scales[12]}`: 8 sub-blocks of 32 with step d·sc and min dmin·m.
fn k4_head(b: &[u8], block: &mut Block) {
    let (d, dmin) = (half(b, 0), half(b, 2));
    block.d_bits = u16_at(b, 0) as u32;
    block.min_bits = u16_at(b, 2);
    for s in 0..8 {
        let (sc, m) = scale_min_k4(s, &b[4..16]);
        block.scales[s] = d * sc as f32;
        block.mins[s] = dmin * m as f32;
    }
}

/// Q4_K `{d, dmin, scales[12], qs[128]}`: element i is the low (i%64 < 32) or high nibble of `qs[32·(i/64) + i%32]`.
fn unpack_q4_k(b: &[u8], block: &mut Block) {
    k4_head(b, block);
    let qs = &b[16..144];
    for (i, c) in block.codes.iter_mut().enumerate() {
        let q = qs[32 * (i / 64) + i % 32];
        *c = (if i % 64 < 32 { q & 0xf } else { q >> 4 }) as f32;
    }
}

/// Q5_K `{d, dmin, scales[12], qh[32], qs[128]}`: Q4_K's nibble plus 16 when bit 2·(i/64) + (i%64)/32 of
/// `qh[i%32]` is set.
fn unpack_q5_k(b: &[u8], block: &mut Block) {
    k4_head(b, block);
    let (qh, qs) = (&b[16..48], &b[48..176]);
    for (i, c) in block.codes.iter_mut().enumerate() {
        let q = qs[32 * (i / 64) + i % 32];
        let low = if i % 64 < 32 { q & 0xf } else { q >> 4 };
        let high = qh[i % 32] & (1 << (2 * (i / 64) + i % 64 / 32)) != 0;
        *c = (low as u32 + if high { 16 } else { 0 }) as f32;
    }
}

/// Q6_K `{ql[128], qh[64], scales[16] (i8), d}`: 16 sub-blocks of 16 with step d·scales[s]. Element i
/// (h = i/128, quarter k = (i%128)/32, l = i%32): low nibble of `ql[64h + l]` (k=0), of `ql[64h + 32 + l]` (k=1),
/// their high nibbles (k=2, 3); bits 2k of `qh[32h + l]` on top; stored +32.
fn unpack_q6_k(b: &[u8], block: &mut Block) {
    let d = half(b, 208);
    block.d_bits = u16_at(b, 208) as u32;
    for s in 0..16 {
        block.scales[s] = d * (b[192 + s] as i8) as f32;
    }
    let (ql, qh) = (&b[0..128], &b[128..192]);
    for (i, c) in block.codes.iter_mut().enumerate() {
        let (h, k, l) = (i / 128, i % 128 / 32, i % 32);
        let byte = ql[64 * h + 32 * (k % 2) + l];
        let low = if k < 2 { byte & 0xf } else { byte >> 4 };
        let high = (qh[32 * h + l] >> (2 * k)) & 3;
        *c = ((low | high << 4) as i32 - 32) as f32;
    }
}

/// Q8_K `{float d, i8 qs[256], i16 bsums[16]}` (an intermediate type; the sums are redundant).
fn unpack_q8_k(b: &[u8], block: &mut Block) {
    block.d_bits = u32_at(b, 0);
    block.scales[0] = f32::from_bits(block.d_bits);
    for (c, &q) in block.codes.iter_mut().zip(&b[4..260]) {
        *c = q as i8 as f32;
    }
}

/// IQ4_XS `{d, scales_h (u16), scales_l[4], qs[128]}`: 8 sub-blocks of 32, 6-bit scales stored +32 (low 4 bits in
/// nibbles of `scales_l`, high 2 bits in `scales_h`); codes from `kvalues_iq4nl`, low nibbles first in each 32.
fn unpack_iq4_xs(b: &[u8], block: &mut Block) {
    let d = half(b, 0);
    block.d_bits = u16_at(b, 0) as u32;
    let scales_h = u16_at(b, 2);
    for s in 0..8 {
        let low = (b[4 + s / 2] >> (4 * (s % 2))) & 0xf;
        let high = ((scales_h >> (2 * s)) & 3) as u8;
        block.scales[s] = d * ((low | high << 4) as i32 - 32) as f32;
        let qs = &b[8 + 16 * s..24 + 16 * s];
        for (j, &q) in qs.iter().enumerate() {
            block.codes[32 * s + j] = KVALUES_IQ4NL[(q & 0xf) as usize];
            block.codes[32 * s + 16 + j] = KVALUES_IQ4NL[(q >> 4) as usize];
        }
    }
}

/// TQ1_0 `{qs[48], qh[4], d}`: base-3 digits packed five per byte (four in `qh`), read as ggml does: the digit is
/// the top of `(q·3^n mod 256)·3 / 256`; value (digit − 1)·d. Elements: 5×32 from qs[0..32], 5×16 from qs[32..48],
/// 4×4 from qh, each group digit-major.
fn unpack_tq1_0(b: &[u8], block: &mut Block) {
    const POW3: [u8; 5] = [1, 3, 9, 27, 81];
    block.d_bits = u16_at(b, 52) as u32;
    block.scales[0] = half(b, 52);
    let digit = |q: u8, n: usize| ((q.wrapping_mul(POW3[n]) as u16 * 3) >> 8) as f32 - 1.0;
    let mut i = 0;
    for (bytes, digits) in [(&b[0..32], 5), (&b[32..48], 5), (&b[48..52], 4)] {
        for n in 0..digits {
            for &q in bytes {
                block.codes[i] = digit(q, n);
                i += 1;
            }
        }
    }
}

/// TQ2_0 `{qs[64], d}`: 2-bit codes, value (q − 1)·d; element 128j' + 32l + m is bits 2l of `qs[32j' + m]`.
fn unpack_tq2_0(b: &[u8], block: &mut Block) {
    block.d_bits = u16_at(b, 64) as u32;
    block.scales[0] = half(b, 64);
    for (i, c) in block.codes.iter_mut().enumerate() {
        *c = ((b[32 * (i / 128) + i % 32] >> (2 * (i % 128 / 32))) & 3) as f32 - 1.0;
    }
}
