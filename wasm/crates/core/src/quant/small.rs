//! Types with one scale per small block (`dequantize_row_q4_0` … `dequantize_row_iq4_nl`, `_mxfp4`, `_nvfp4`).
//! Blocks of 32 split their 16 bytes of nibbles as ggml does: low nibbles are elements 0–15, high nibbles 16–31.
use super::{e8m0_half, half, u16_at, u32_at, ue4m3_half, Block, BlockScale, Format, KVALUES_FP4, KVALUES_IQ4NL};

pub static Q4_0: Format = layout!(32, 18, 1, F16, false, Some((-8.0, 7.0)), unpack_q4_0);
pub static Q4_1: Format = layout!(32, 20, 1, F16, true, Some((0.0, 15.0)), unpack_q4_1);
pub static Q5_0: Format = layout!(32, 22, 1, F16, false, Some((-16.0, 15.0)), unpack_q5_0);
pub static Q5_1: Format = layout!(32, 24, 1, F16, true, Some((0.0, 31.0)), unpack_q5_1);
/// The reference quantizer stores ±127 at most; −128 is possible on disk and counts as an edge too.
pub static Q8_0: Format = layout!(32, 34, 1, F16, false, Some((-127.0, 127.0)), unpack_q8_0);
pub static Q1_0: Format = layout!(128, 18, 1, F16, false, None, unpack_q1_0);
pub static Q2_0: Format = layout!(64, 18, 1, F16, false, Some((-1.0, 2.0)), unpack_q2_0);
pub static IQ4_NL: Format = layout!(32, 18, 1, F16, false, Some((-127.0, 113.0)), unpack_iq4_nl);
pub static MXFP4: Format = layout!(32, 17, 1, E8M0, false, Some((-12.0, 12.0)), unpack_mxfp4);
pub static NVFP4: Format = layout!(64, 36, 4, None, false, Some((-12.0, 12.0)), unpack_nvfp4);

/// Reads `d` (and `m` after it when `with_min`) and sets the single sub-block's scale and min.
fn head(b: &[u8], block: &mut Block, with_min: bool) {
    block.d_bits = u16_at(b, 0) as u32;
    block.scales[0] = half(b, 0);
    if with_min {
        block.min_bits = u16_at(b, 2);
        // ggml adds m; subtracting −m is the same IEEE operation.
        block.mins[0] = -half(b, 2);
    }
}

/// 16 bytes of nibbles into 32 codes through `value` (low nibbles first, then high nibbles).
fn nibbles(qs: &[u8], codes: &mut [f32], value: impl Fn(u8) -> f32) {
    let (low, high) = codes.split_at_mut(qs.len());
    for ((&q, lo), hi) in qs.iter().zip(low).zip(high) {
        *lo = value(q & 0xf);
        *hi = value(q >> 4);
    }
}

fn unpack_q4_0(b: &[u8], block: &mut Block) {
    head(b, block, false);
    nibbles(&b[2..18], &mut block.codes[..32], |q| q as f32 - 8.0);
}

fn unpack_q4_1(b: &[u8], block: &mut Block) {
    head(b, block, true);
    nibbles(&b[4..20], &mut block.codes[..32], |q| q as f32);
}

/// Q5: the fifth bit of element j is bit j of the 32-bit `qh`.
fn five_bit(qh: u32, qs: &[u8], codes: &mut [f32], offset: f32) {
    for (j, &q) in qs.iter().enumerate() {
        let lo = (q & 0xf) as u32 | ((qh >> j) & 1) << 4;
        let hi = (q >> 4) as u32 | ((qh >> (j + 16)) & 1) << 4;
        codes[j] = lo as f32 - offset;
        codes[j + 16] = hi as f32 - offset;
    }
}

fn unpack_q5_0(b: &[u8], block: &mut Block) {
    head(b, block, false);
    five_bit(u32_at(b, 2), &b[6..22], &mut block.codes, 16.0);
}

fn unpack_q5_1(b: &[u8], block: &mut Block) {
    head(b, block, true);
    five_bit(u32_at(b, 4), &b[8..24], &mut block.codes, 0.0);
}

fn unpack_q8_0(b: &[u8], block: &mut Block) {
    head(b, block, false);
    for (c, &q) in block.codes.iter_mut().zip(&b[2..34]) {
        *c = q as i8 as f32;
    }
}

/// Q1_0: one sign bit per element (bit j%8 of byte j/8): +d or −d.
fn unpack_q1_0(b: &[u8], block: &mut Block) {
    head(b, block, false);
    for (j, c) in block.codes[..128].iter_mut().enumerate() {
        *c = if (b[2 + j / 8] >> (j % 8)) & 1 == 1 { 1.0 } else { -1.0 };
    }
}

/// Q2_0: four 2-bit codes per byte, element j at bits 2·(j%4); value (q − 1)·d.
fn unpack_q2_0(b: &[u8], block: &mut Block) {
    head(b, block, false);
    for (j, c) in block.codes[..64].iter_mut().enumerate() {
        *c = ((b[2 + j / 4] >> (2 * (j % 4))) & 3) as f32 - 1.0;
    }
}

fn unpack_iq4_nl(b: &[u8], block: &mut Block) {
    head(b, block, false);
    nibbles(&b[2..18], &mut block.codes[..32], |q| KVALUES_IQ4NL[q as usize]);
}

fn unpack_mxfp4(b: &[u8], block: &mut Block) {
    block.d_bits = b[0] as u32;
    block.scales[0] = e8m0_half(b[0]);
    nibbles(&b[1..17], &mut block.codes[..32], |q| KVALUES_FP4[q as usize]);
}

/// NVFP4: four sub-blocks of 16, each with a UE4M3 scale and 8 bytes of nibbles (low nibbles first).
fn unpack_nvfp4(b: &[u8], block: &mut Block) {
    for s in 0..4 {
        block.scales[s] = ue4m3_half(b[s]);
        nibbles(&b[4 + 8 * s..12 + 8 * s], &mut block.codes[16 * s..16 * s + 16], |q| KVALUES_FP4[q as usize]);
    }
}
