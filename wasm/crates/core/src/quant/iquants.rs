//! The lattice ("i-quant") types: groups of 8 (or 4) elements are points of a codebook (`grids.rs`), with sign bits
//! and 4-bit (IQ1: 3-bit) sub-block scales (`dequantize_row_iq2_xxs` … `_iq1_m` in ggml-quants.c). A code is the
//! signed grid coordinate, so `scale · code` equals ggml's `db · grid[j] · (±1)`.
use super::grids::{IQ1S_GRID, IQ2S_GRID, IQ2XS_GRID, IQ2XXS_GRID, IQ3S_GRID, IQ3XXS_GRID};
use super::{half, u16_at, u32_at, Block, BlockScale, Format};

pub static IQ2_XXS: Format = layout!(256, 66, 8, F16, false, None, unpack_iq2_xxs);
pub static IQ2_XS: Format = layout!(256, 74, 16, F16, false, None, unpack_iq2_xs);
pub static IQ2_S: Format = layout!(256, 82, 16, F16, false, None, unpack_iq2_s);
pub static IQ3_XXS: Format = layout!(256, 98, 8, F16, false, None, unpack_iq3_xxs);
pub static IQ3_S: Format = layout!(256, 110, 8, F16, false, None, unpack_iq3_s);
pub static IQ1_S: Format = layout!(256, 50, 8, F16, false, None, unpack_iq1_s);
pub static IQ1_M: Format = layout!(256, 56, 16, F16, false, None, unpack_iq1_m);

/// `IQ1S_DELTA`: the shift every IQ1 grid coordinate gets, its sign chosen per group.
const IQ1_DELTA: f32 = 0.125;

/// `ksigns_iq2xs[i]`: 7 stored sign bits plus an eighth that makes the count of negative signs even.
fn ksigns(i: u32) -> u8 {
    let low = (i & 127) as u8;
    low | (((low.count_ones() & 1) as u8) << 7)
}

/// Coordinate j of a packed grid point (byte j).
fn coordinate(point: u64, j: usize) -> u8 {
    (point >> (8 * j)) as u8
}

/// Writes `count` coordinates of `point`, negated where bit j of `signs` is set.
fn signed_point(codes: &mut [f32], point: u64, signs: u8) {
    for (j, c) in codes.iter_mut().enumerate() {
        let v = coordinate(point, j) as f32;
        *c = if (signs >> j) & 1 == 1 { -v } else { v };
    }
}

/// ggml's `d · (0.5 + ls) · 0.25` (and · 0.5 for IQ3_XXS), in that order.
fn half_step(d: f32, ls: u32, factor: f32) -> f32 {
    d * (0.5 + ls as f32) * factor
}

fn head(b: &[u8], block: &mut Block) -> f32 {
    block.d_bits = u16_at(b, 0) as u32;
    half(b, 0)
}

/// IQ2_XXS `{d, qs[64]}`: per 32 elements 8 bytes: 4 grid indices, then a u32 of four 7-bit sign groups and a
/// 4-bit scale on top.
fn unpack_iq2_xxs(b: &[u8], block: &mut Block) {
    let d = head(b, block);
    for g in 0..8 {
        let group = &b[2 + 8 * g..10 + 8 * g];
        let aux = u32_at(group, 4);
        block.scales[g] = half_step(d, aux >> 28, 0.25);
        for l in 0..4 {
            let at = 32 * g + 8 * l;
            signed_point(&mut block.codes[at..at + 8], IQ2XXS_GRID[group[l] as usize], ksigns(aux >> (7 * l)));
        }
    }
}

/// IQ2_XS `{d, qs[32] (u16), scales[8]}`: each u16 holds a 9-bit grid index and 7 sign bits; each scale byte holds
/// the scales of two sub-blocks of 16.
fn unpack_iq2_xs(b: &[u8], block: &mut Block) {
    let d = head(b, block);
    for g in 0..8 {
        let sc = b[66 + g] as u32;
        block.scales[2 * g] = half_step(d, sc & 0xf, 0.25);
        block.scales[2 * g + 1] = half_step(d, sc >> 4, 0.25);
        for l in 0..4 {
            let q = u16_at(b, 2 + 2 * (4 * g + l)) as u32;
            let at = 32 * g + 8 * l;
            signed_point(&mut block.codes[at..at + 8], IQ2XS_GRID[(q & 511) as usize], ksigns(q >> 9));
        }
    }
}

/// IQ2_S `{d, qs[32], signs[32], qh[8], scales[8]}`: 10-bit grid indices (2 high bits per index in `qh`), explicit
/// sign bytes, scales as IQ2_XS.
fn unpack_iq2_s(b: &[u8], block: &mut Block) {
    let d = head(b, block);
    let (qs, signs, qh) = (&b[2..34], &b[34..66], &b[66..74]);
    for g in 0..8 {
        let sc = b[74 + g] as u32;
        block.scales[2 * g] = half_step(d, sc & 0xf, 0.25);
        block.scales[2 * g + 1] = half_step(d, sc >> 4, 0.25);
        for l in 0..4 {
            let index = qs[4 * g + l] as usize | (((qh[g] as usize) << (8 - 2 * l)) & 0x300);
            let at = 32 * g + 8 * l;
            signed_point(&mut block.codes[at..at + 8], IQ2S_GRID[index], signs[4 * g + l]);
        }
    }
}

/// IQ3_XXS `{d, qs[64], scales_and_signs[32]}`: grid points of 4; per 32 elements 8 indices and a u32 of four
/// 7-bit sign groups with the 4-bit scale on top.
fn unpack_iq3_xxs(b: &[u8], block: &mut Block) {
    let d = head(b, block);
    let qs = &b[2..66];
    for g in 0..8 {
        let aux = u32_at(b, 66 + 4 * g);
        block.scales[g] = half_step(d, aux >> 28, 0.5);
        for l in 0..4 {
            let signs = ksigns(aux >> (7 * l));
            let at = 32 * g + 8 * l;
            let (first, second) = block.codes[at..at + 8].split_at_mut(4);
            signed_point(first, IQ3XXS_GRID[qs[8 * g + 2 * l] as usize] as u64, signs);
            signed_point(second, IQ3XXS_GRID[qs[8 * g + 2 * l + 1] as usize] as u64, signs >> 4);
        }
    }
}

/// IQ3_S `{d, qs[64], qh[8], signs[32], scales[4]}`: 9-bit indices of 4-point grids (bit k of `qh[g]` tops the
/// k-th index of sub-block g), sign bytes, and scale d·(1 + 2·sc) from a nibble per sub-block.
fn unpack_iq3_s(b: &[u8], block: &mut Block) {
    let d = head(b, block);
    let (qs, qh, signs) = (&b[2..66], &b[66..74], &b[74..106]);
    for g in 0..8 {
        let sc = (b[106 + g / 2] >> (4 * (g % 2))) & 0xf;
        block.scales[g] = d * (1 + 2 * sc as i32) as f32;
        for l in 0..4 {
            let at = 32 * g + 8 * l;
            let sign = signs[4 * g + l];
            let (first, second) = block.codes[at..at + 8].split_at_mut(4);
            for (part, k) in [(first, 2 * l), (second, 2 * l + 1)] {
                let index = qs[8 * g + k] as usize | ((qh[g] as usize >> k) & 1) << 8;
                signed_point(part, IQ3S_GRID[index] as u64, sign >> (4 * (k % 2)));
            }
        }
    }
}

/// An IQ1 grid point shifted by ±delta: ggml's `grid[j] + delta` with signed-byte coordinates.
fn shifted_point(codes: &mut [f32], point: u64, delta: f32) {
    for (j, c) in codes.iter_mut().enumerate() {
        *c = coordinate(point, j) as i8 as f32 + delta;
    }
}

/// IQ1_S `{d, qs[32], qh[8] (u16)}`: per 32 elements a u16 with four 3-bit index tops, a 3-bit scale
/// d·(2s + 1) and the delta's sign in bit 15.
fn unpack_iq1_s(b: &[u8], block: &mut Block) {
    let d = head(b, block);
    for g in 0..8 {
        let qh = u16_at(b, 34 + 2 * g) as usize;
        block.scales[g] = d * (2 * ((qh >> 12) & 7) + 1) as f32;
        let delta = if qh & 0x8000 != 0 { -IQ1_DELTA } else { IQ1_DELTA };
        for l in 0..4 {
            let index = b[2 + 4 * g + l] as usize | ((qh >> (3 * l)) & 7) << 8;
            let at = 32 * g + 8 * l;
            shifted_point(&mut block.codes[at..at + 8], IQ1S_GRID[index], delta);
        }
    }
}

/// IQ1_M `{qs[32], qh[16], scales[8]}`: the f16 `d` is spread over the top nibbles of the four u16 scale words;
/// 3-bit scales per 16 elements; each `qh` byte holds two 3-bit index tops and two delta signs.
fn unpack_iq1_m(b: &[u8], block: &mut Block) {
    let sc = [u16_at(b, 48), u16_at(b, 50), u16_at(b, 52), u16_at(b, 54)];
    let d_bits = (sc[0] >> 12) | ((sc[1] >> 8) & 0x00f0) | ((sc[2] >> 4) & 0x0f00) | (sc[3] & 0xf000);
    block.d_bits = d_bits as u32;
    let d = crate::decode::f16_bits_to_f32(d_bits);
    let (qs, qh) = (&b[0..32], &b[32..48]);
    for g in 0..8 {
        let word = sc[g / 2] as usize;
        block.scales[2 * g] = d * (2 * ((word >> (6 * (g % 2))) & 7) + 1) as f32;
        block.scales[2 * g + 1] = d * (2 * ((word >> (6 * (g % 2) + 3)) & 7) + 1) as f32;
        for l in 0..4 {
            let h = qh[2 * g + l / 2] as usize;
            let top = if l % 2 == 0 { (h << 8) & 0x700 } else { (h << 4) & 0x700 };
            let sign_bit = if l % 2 == 0 { 0x08 } else { 0x80 };
            let delta = if h & sign_bit != 0 { -IQ1_DELTA } else { IQ1_DELTA };
            let at = 32 * g + 8 * l;
            shifted_point(&mut block.codes[at..at + 8], IQ1S_GRID[qs[4 * g + l] as usize | top], delta);
        }
    }
}
