//! GGUF block-quantized types. Every block is taken apart into codes and per-sub-block scales exactly as ggml's
//! reference dequantizers (`dequantize_row_*` in ggml-quants.c) compute them, in f32 and in the same order, so that
//! `value = scale · code − min` reproduces ggml's result to the last bit. The same taken-apart block feeds the block
//! diagnostics (scales, codes at the edge of their range).

/// A `Format` literal: element count, bytes, sub-blocks, `BlockScale` variant, has_min, code edges, unpacker. (A
/// macro, not a const fn: Rust 1.63 const fns cannot take `fn(&mut …)` pointers.)
macro_rules! layout {
    ($elements:expr, $bytes:expr, $subblocks:expr, $scale:ident, $has_min:expr, $edges:expr, $unpack:expr) => {
        Format {
            elements: $elements,
            bytes: $bytes,
            subblocks: $subblocks,
            scale: BlockScale::$scale,
            has_min: $has_min,
            code_edges: $edges,
            unpack: $unpack,
        }
    };
}

mod grids;
mod iquants;
mod kquants;
mod small;

use crate::decode::f16_bits_to_f32;
use crate::dtype::DType;

/// Most elements in one block (QK_K).
pub const MAX_BLOCK: usize = 256;
/// Most sub-blocks with their own scale in one block.
pub const MAX_SUBBLOCKS: usize = 16;

/// How a type stores the scale of a whole block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockScale {
    /// An IEEE half `d` (f16 bits in `Block::d_bits`).
    F16,
    /// A float `d` (Q8_K; f32 bits in `Block::d_bits`).
    F32,
    /// An E8M0 shared exponent (MXFP4: the byte in `Block::d_bits`, worth 2^(e − 127)).
    E8M0,
    /// No block-wide scale, only sub-block scales (NVFP4).
    None,
}

/// The layout of one block-quantized type.
pub struct Format {
    /// Elements per block.
    pub elements: usize,
    /// Bytes per block.
    pub bytes: usize,
    /// Sub-blocks per block, each `elements / subblocks` consecutive elements with one scale and min.
    pub subblocks: usize,
    /// The block-wide scale.
    pub scale: BlockScale,
    /// Whether the block stores a second half-precision number: `dmin` (K-quants) or the minimum `m` (Q4_1, Q5_1).
    pub has_min: bool,
    /// The lowest and highest code the type can store, for types whose codes are integers on a line (None for
    /// codebook and ternary types, where "the edge of the range" has no meaning).
    pub code_edges: Option<(f32, f32)>,
    unpack: fn(&[u8], &mut Block),
}

/// One block taken apart: element i is `scales[s] · codes[i] − mins[s]` with s = i / (elements / subblocks),
/// computed in f32.
#[derive(Clone)]
pub struct Block {
    /// Raw bits of the block-wide scale (see `BlockScale`).
    pub d_bits: u32,
    /// Raw f16 bits of `dmin` or `m` when the format has one.
    pub min_bits: u16,
    /// Each sub-block's step, as ggml computes it (d·sc).
    pub scales: [f32; MAX_SUBBLOCKS],
    /// What each sub-block subtracts after scaling (dmin·m for K-quants, −m for Q4_1/Q5_1, else 0).
    pub mins: [f32; MAX_SUBBLOCKS],
    /// Each element's code as the f32 ggml multiplies by the scale (signed grid values for IQ types).
    pub codes: [f32; MAX_BLOCK],
}

impl Block {
    /// An all-zero block.
    pub fn new() -> Block {
        Block { d_bits: 0, min_bits: 0, scales: [0.0; MAX_SUBBLOCKS], mins: [0.0; MAX_SUBBLOCKS], codes: [0.0; MAX_BLOCK] }
    }

    /// The value of the block scale: f16/f32 `d`, or 2^(e − 127) for E8M0 (NaN for the E8M0 NaN byte 0xFF); NaN
    /// when the format has none.
    pub fn d(&self, format: &Format) -> f64 {
        match format.scale {
            BlockScale::F16 => f16_bits_to_f32(self.d_bits as u16) as f64,
            BlockScale::F32 => f32::from_bits(self.d_bits) as f64,
            BlockScale::E8M0 => crate::decode::f8_e8m0(self.d_bits as u8),
            BlockScale::None => f64::NAN,
        }
    }

    /// Writes the block's values into `out` (one block's elements).
    pub fn values(&self, format: &Format, out: &mut [f32]) {
        let per = format.elements / format.subblocks;
        for (s, (codes, out)) in self.codes[..format.elements].chunks_exact(per).zip(out.chunks_exact_mut(per)).enumerate() {
            let (scale, min) = (self.scales[s], self.mins[s]);
            for (o, &q) in out.iter_mut().zip(codes) {
                *o = scale * q - min;
            }
        }
    }
}

impl Default for Block {
    fn default() -> Block {
        Block::new()
    }
}

/// The layout of a block-quantized dtype; None for element types.
pub fn format(dtype: DType) -> Option<&'static Format> {
    Some(match dtype {
        DType::Q4_0 => &small::Q4_0,
        DType::Q4_1 => &small::Q4_1,
        DType::Q5_0 => &small::Q5_0,
        DType::Q5_1 => &small::Q5_1,
        DType::Q8_0 => &small::Q8_0,
        DType::Q1_0 => &small::Q1_0,
        DType::Q2_0 => &small::Q2_0,
        DType::MXFP4 => &small::MXFP4,
        DType::NVFP4 => &small::NVFP4,
        DType::IQ4_NL => &small::IQ4_NL,
        DType::Q2_K => &kquants::Q2_K,
        DType::Q3_K => &kquants::Q3_K,
        DType::Q4_K => &kquants::Q4_K,
        DType::Q5_K => &kquants::Q5_K,
        DType::Q6_K => &kquants::Q6_K,
        DType::Q8_K => &kquants::Q8_K,
        DType::IQ4_XS => &kquants::IQ4_XS,
        DType::TQ1_0 => &kquants::TQ1_0,
        DType::TQ2_0 => &kquants::TQ2_0,
        DType::IQ2_XXS => &iquants::IQ2_XXS,
        DType::IQ2_XS => &iquants::IQ2_XS,
        DType::IQ2_S => &iquants::IQ2_S,
        DType::IQ3_XXS => &iquants::IQ3_XXS,
        DType::IQ3_S => &iquants::IQ3_S,
        DType::IQ1_S => &iquants::IQ1_S,
        DType::IQ1_M => &iquants::IQ1_M,
        _ => return None,
    })
}

impl Format {
    /// Takes one block (`self.bytes` bytes) apart into `block`.
    pub fn unpack(&self, bytes: &[u8], block: &mut Block) {
        (self.unpack)(&bytes[..self.bytes], block)
    }
}

/// Dequantizes whole blocks of `format` into `out` (one f64 per element, each an f32 value widened exactly).
pub fn dequantize(format: &Format, bytes: &[u8], out: &mut [f64]) {
    let mut block = Block::new();
    let mut values = [0.0f32; MAX_BLOCK];
    for (src, dst) in bytes.chunks_exact(format.bytes).zip(out.chunks_exact_mut(format.elements)) {
        format.unpack(src, &mut block);
        block.values(format, &mut values);
        for (o, &v) in dst.iter_mut().zip(&values) {
            *o = v as f64;
        }
    }
}

/// Blocks dequantized per call of `f` in `dequantize_f32_le`: bounds its buffer to 64 KiB of f32s.
const BLOCKS_PER_PIECE: usize = 64;

/// Dequantizes whole blocks of `format` to little-endian f32 bytes, handing `f` consecutive pieces in order (so a
/// quantized tensor can take any path written for F32 data with bounded memory).
pub fn dequantize_f32_le(format: &Format, bytes: &[u8], mut f: impl FnMut(&[u8])) {
    let mut block = Block::new();
    let mut values = [0.0f32; MAX_BLOCK];
    let mut piece: Vec<u8> = Vec::with_capacity(BLOCKS_PER_PIECE * format.elements * 4);
    for blocks in bytes.chunks(BLOCKS_PER_PIECE * format.bytes) {
        piece.clear();
        for src in blocks.chunks_exact(format.bytes) {
            format.unpack(src, &mut block);
            block.values(format, &mut values);
            for v in &values[..format.elements] {
                piece.extend_from_slice(&v.to_le_bytes());
            }
        }
        f(&piece);
    }
}

// Little helpers the unpackers share: little-endian reads and the scale decodings of ggml-impl.h.

fn half(b: &[u8], at: usize) -> f32 {
    f16_bits_to_f32(u16_at(b, at))
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// 2^e as an f32 for a normal exponent.
fn pow2(e: i32) -> f32 {
    f32::from_bits(((e + 127) as u32) << 23)
}

/// `ggml_e8m0_to_fp32_half`: 2^(e − 128), pairing with the doubled E2M1 code values.
fn e8m0_half(e: u8) -> f32 {
    let bits = if e < 2 { 0x0020_0000u32 << e } else { ((e - 1) as u32) << 23 };
    f32::from_bits(bits)
}

/// `ggml_ue4m3_to_fp32`: an unsigned E4M3 scale (bias 7; 0x00 and 0x7F are 0), halved like `e8m0_half`.
fn ue4m3_half(x: u8) -> f32 {
    if x == 0 || x == 0x7f {
        return 0.0;
    }
    let exp = ((x >> 3) & 0xf) as i32;
    let man = (x & 7) as f32;
    let raw = if exp == 0 { man * pow2(-9) } else { (1.0 + man / 8.0) * pow2(exp - 7) };
    raw * 0.5
}

/// ggml's doubled E2M1 values (`kvalues_mxfp4`, ggml-common.h), shared by MXFP4 and NVFP4.
const KVALUES_FP4: [f32; 16] = [0.0, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 0.0, -1.0, -2.0, -3.0, -4.0, -6.0, -8.0, -12.0];

/// The non-linear 4-bit codebook of IQ4_NL and IQ4_XS (`kvalues_iq4nl`, ggml-common.h).
const KVALUES_IQ4NL: [f32; 16] =
    [-127.0, -104.0, -83.0, -65.0, -49.0, -35.0, -22.0, -10.0, 1.0, 13.0, 25.0, 38.0, 53.0, 69.0, 89.0, 113.0];

#[cfg(test)]
mod tests;
