//! Element types, numbered as the ABI numbers them.
use crate::quant;

/// A tensor element type the core can decode (safetensors spelling in comments; GGUF block types by their ggml name).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(non_camel_case_types)]
pub enum DType {
    /// F64
    F64,
    /// F32
    F32,
    /// F16 (IEEE binary16)
    F16,
    /// BF16
    BF16,
    /// F8_E4M3 (E4M3FN: no infinities, NaN = S.1111.111)
    F8E4M3,
    /// F8_E5M2
    F8E5M2,
    /// F8_E8M0 (exponent only, 0xFF = NaN)
    F8E8M0,
    /// F8_E4M3FNUZ (bias 8, NaN = 0x80)
    F8E4M3Fnuz,
    /// F8_E5M2FNUZ (bias 16, NaN = 0x80)
    F8E5M2Fnuz,
    /// F6_E2M3 (four per three bytes)
    F6E2M3,
    /// F6_E3M2 (four per three bytes)
    F6E3M2,
    /// F4 (E2M1, two per byte, element 0 in the low nibble)
    F4,
    /// I64
    I64,
    /// I32
    I32,
    /// I16
    I16,
    /// I8
    I8,
    /// U64
    U64,
    /// U32
    U32,
    /// U16
    U16,
    /// U8
    U8,
    /// BOOL (any nonzero byte is 1)
    Bool,
    /// GGUF Q4_0: 32 elements in 18 bytes
    Q4_0,
    /// GGUF Q4_1: 32 elements in 20 bytes
    Q4_1,
    /// GGUF Q5_0: 32 elements in 22 bytes
    Q5_0,
    /// GGUF Q5_1: 32 elements in 24 bytes
    Q5_1,
    /// GGUF Q8_0: 32 elements in 34 bytes
    Q8_0,
    /// GGUF Q2_K: 256 elements in 84 bytes
    Q2_K,
    /// GGUF Q3_K: 256 elements in 110 bytes
    Q3_K,
    /// GGUF Q4_K: 256 elements in 144 bytes
    Q4_K,
    /// GGUF Q5_K: 256 elements in 176 bytes
    Q5_K,
    /// GGUF Q6_K: 256 elements in 210 bytes
    Q6_K,
    /// GGUF Q8_K: 256 elements in 292 bytes
    Q8_K,
    /// GGUF IQ2_XXS: 256 elements in 66 bytes
    IQ2_XXS,
    /// GGUF IQ2_XS: 256 elements in 74 bytes
    IQ2_XS,
    /// GGUF IQ3_XXS: 256 elements in 98 bytes
    IQ3_XXS,
    /// GGUF IQ1_S: 256 elements in 50 bytes
    IQ1_S,
    /// GGUF IQ4_NL: 32 elements in 18 bytes
    IQ4_NL,
    /// GGUF IQ3_S: 256 elements in 110 bytes
    IQ3_S,
    /// GGUF IQ2_S: 256 elements in 82 bytes
    IQ2_S,
    /// GGUF IQ4_XS: 256 elements in 136 bytes
    IQ4_XS,
    /// GGUF IQ1_M: 256 elements in 56 bytes
    IQ1_M,
    /// GGUF TQ1_0: 256 elements in 54 bytes
    TQ1_0,
    /// GGUF TQ2_0: 256 elements in 66 bytes
    TQ2_0,
    /// GGUF MXFP4: 32 elements in 17 bytes
    MXFP4,
    /// GGUF NVFP4: 64 elements in 36 bytes
    NVFP4,
    /// GGUF Q1_0: 128 elements in 18 bytes
    Q1_0,
    /// GGUF Q2_0: 64 elements in 18 bytes
    Q2_0,
}

const ALL: [DType; 47] = [
    DType::F64, DType::F32, DType::F16, DType::BF16, DType::F8E4M3, DType::F8E5M2, DType::F8E8M0,
    DType::F8E4M3Fnuz, DType::F8E5M2Fnuz, DType::F6E2M3, DType::F6E3M2, DType::F4, DType::I64, DType::I32,
    DType::I16, DType::I8, DType::U64, DType::U32, DType::U16, DType::U8, DType::Bool,
    DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q5_1, DType::Q8_0, DType::Q2_K, DType::Q3_K, DType::Q4_K,
    DType::Q5_K, DType::Q6_K, DType::Q8_K, DType::IQ2_XXS, DType::IQ2_XS, DType::IQ3_XXS, DType::IQ1_S,
    DType::IQ4_NL, DType::IQ3_S, DType::IQ2_S, DType::IQ4_XS, DType::IQ1_M, DType::TQ1_0, DType::TQ2_0,
    DType::MXFP4, DType::NVFP4, DType::Q1_0, DType::Q2_0,
];

impl DType {
    /// The ABI code: the position in the list above, starting at 1.
    pub fn from_code(code: u32) -> Option<DType> {
        ALL.get((code as usize).wrapping_sub(1)).copied()
    }

    /// Every dtype, in code order.
    pub fn all() -> &'static [DType] {
        &ALL
    }

    /// Bits one element occupies on disk (block-quantized types: 0, see `group_bytes`).
    pub fn bits(self) -> u32 {
        if self.is_quantized() {
            return 0;
        }
        match self {
            DType::F64 | DType::I64 | DType::U64 => 64,
            DType::F32 | DType::I32 | DType::U32 => 32,
            DType::F16 | DType::BF16 | DType::I16 | DType::U16 => 16,
            DType::F6E2M3 | DType::F6E3M2 => 6,
            DType::F4 => 4,
            _ => 8,
        }
    }

    /// A GGUF block-quantized type: elements are stored in blocks with their own scales.
    pub fn is_quantized(self) -> bool {
        quant::format(self).is_some()
    }

    /// Bytes of the smallest run of whole elements (F6: 4 elements in 3 bytes; a quantized type: one block).
    pub fn group_bytes(self) -> usize {
        if let Some(format) = quant::format(self) {
            return format.bytes;
        }
        match self {
            DType::F6E2M3 | DType::F6E3M2 => 3,
            DType::F4 => 1,
            other => (other.bits() / 8) as usize,
        }
    }

    /// Elements in the smallest run of whole elements that fills `group_bytes` (F6: 4, F4: 2, a block type: its
    /// block size, others: 1).
    pub fn group_elements(self) -> usize {
        match quant::format(self) {
            Some(format) => format.elements,
            None => self.group_bytes() * 8 / self.bits() as usize,
        }
    }

    /// Types of at most 16 bits are counted by raw bit pattern; everything is derived from that table.
    pub fn is_pattern(self) -> bool {
        !self.is_quantized() && self.bits() <= 16
    }
}
