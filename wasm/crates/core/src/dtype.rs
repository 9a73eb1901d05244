//! Element types, numbered as the ABI numbers them.

/// A tensor element type the core can decode (safetensors spelling in comments).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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
}

const ALL: [DType; 21] = [
    DType::F64, DType::F32, DType::F16, DType::BF16, DType::F8E4M3, DType::F8E5M2, DType::F8E8M0,
    DType::F8E4M3Fnuz, DType::F8E5M2Fnuz, DType::F6E2M3, DType::F6E3M2, DType::F4, DType::I64, DType::I32,
    DType::I16, DType::I8, DType::U64, DType::U32, DType::U16, DType::U8, DType::Bool,
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

    /// Bits one element occupies on disk.
    pub fn bits(self) -> u32 {
        match self {
            DType::F64 | DType::I64 | DType::U64 => 64,
            DType::F32 | DType::I32 | DType::U32 => 32,
            DType::F16 | DType::BF16 | DType::I16 | DType::U16 => 16,
            DType::F6E2M3 | DType::F6E3M2 => 6,
            DType::F4 => 4,
            _ => 8,
        }
    }

    /// Bytes of the smallest run of whole elements (F6: 4 elements in 3 bytes).
    pub fn group_bytes(self) -> usize {
        match self {
            DType::F6E2M3 | DType::F6E3M2 => 3,
            DType::F4 => 1,
            other => (other.bits() / 8) as usize,
        }
    }

    /// Elements in the smallest run of whole elements that fills `group_bytes` (F6: 4, F4: 2, others: 1).
    pub fn group_elements(self) -> usize {
        self.group_bytes() * 8 / self.bits() as usize
    }

    /// Types of at most 16 bits are counted by raw bit pattern; everything is derived from that table.
    pub fn is_pattern(self) -> bool {
        self.bits() <= 16
    }
}
