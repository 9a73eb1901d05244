//! Hand-built blocks with values worked out from the block layouts (ggml-common.h) and ggml's dequantization loops;
//! bit-exactness against gguf-py over random blocks of every type lives in test/unit/ggufDequant.test.ts.
use super::grids::{IQ2S_GRID, IQ3S_GRID};
use super::*;
use crate::decode::{decode_f64, Decoder};
use crate::stats::StatsJob;

fn values(dtype: DType, bytes: &[u8]) -> Vec<f64> {
    let n = bytes.len() / dtype.group_bytes() * dtype.group_elements();
    let mut out = vec![0.0; n];
    decode_f64(dtype, bytes, &mut out);
    out
}

/// A zeroed block of `dtype` with `(offset, bytes)` patches.
fn block(dtype: DType, patches: &[(usize, &[u8])]) -> Vec<u8> {
    let mut b = vec![0u8; dtype.group_bytes()];
    for (at, bytes) in patches {
        b[*at..*at + bytes.len()].copy_from_slice(bytes);
    }
    b
}

const ONE: [u8; 2] = [0x00, 0x3c]; // f16 1.0
const HALF: [u8; 2] = [0x00, 0x38]; // f16 0.5

#[test]
fn layouts_match_ggml_type_sizes() {
    // (dtype, block elements, block bytes) from GGML_QUANT_SIZES.
    let sizes = [
        (DType::Q4_0, 32, 18), (DType::Q4_1, 32, 20), (DType::Q5_0, 32, 22), (DType::Q5_1, 32, 24), (DType::Q8_0, 32, 34),
        (DType::Q2_K, 256, 84), (DType::Q3_K, 256, 110), (DType::Q4_K, 256, 144), (DType::Q5_K, 256, 176),
        (DType::Q6_K, 256, 210), (DType::Q8_K, 256, 292), (DType::IQ2_XXS, 256, 66), (DType::IQ2_XS, 256, 74),
        (DType::IQ3_XXS, 256, 98), (DType::IQ1_S, 256, 50), (DType::IQ4_NL, 32, 18), (DType::IQ3_S, 256, 110),
        (DType::IQ2_S, 256, 82), (DType::IQ4_XS, 256, 136), (DType::IQ1_M, 256, 56), (DType::TQ1_0, 256, 54),
        (DType::TQ2_0, 256, 66), (DType::MXFP4, 32, 17), (DType::NVFP4, 64, 36), (DType::Q1_0, 128, 18),
        (DType::Q2_0, 64, 18),
    ];
    for (dtype, elements, bytes) in sizes {
        let f = format(dtype).unwrap();
        assert_eq!((dtype.group_elements(), dtype.group_bytes()), (elements, bytes), "{:?}", dtype);
        assert!(f.elements % f.subblocks == 0 && f.subblocks <= MAX_SUBBLOCKS && !dtype.is_pattern());
    }
    let quantized = DType::all().iter().filter(|d| d.is_quantized()).count();
    assert_eq!(quantized, sizes.len());
}

#[test]
fn legacy_blocks_of_32() {
    let v = values(DType::Q4_0, &block(DType::Q4_0, &[(0, &HALF), (2, &[0x1f]), (17, &[0x80])]));
    assert_eq!((v[0], v[16], v[15], v[31], v[1]), (3.5, -3.5, -4.0, 0.0, -4.0));
    let v = values(DType::Q4_1, &block(DType::Q4_1, &[(0, &ONE), (2, &[0x00, 0xbc]), (5, &[0x2f])]));
    assert_eq!((v[1], v[17], v[0]), (14.0, 1.0, -1.0));
    let v = values(DType::Q5_0, &block(DType::Q5_0, &[(0, &ONE), (2, &0x0001_0001u32.to_le_bytes()), (6, &[0x31])]));
    assert_eq!((v[0], v[16], v[1], v[17]), (1.0, 3.0, -16.0, -16.0));
    let v = values(DType::Q5_1, &block(DType::Q5_1, &[(0, &[0x00, 0x40]), (2, &ONE), (4, &0x8000_0000u32.to_le_bytes()), (23, &[0xf0])]));
    assert_eq!((v[15], v[31]), (1.0, 63.0));
    let v = values(DType::Q8_0, &block(DType::Q8_0, &[(0, &[0x00, 0x34]), (2, &[0x80]), (33, &[0x7f])]));
    assert_eq!((v[0], v[31], v[1]), (-32.0, 31.75, 0.0));
    let v = values(DType::IQ4_NL, &block(DType::IQ4_NL, &[(0, &ONE), (2, &[0xf0])]));
    assert_eq!((v[0], v[16], v[1]), (-127.0, 113.0, -127.0));
}

#[test]
fn sign_and_two_bit_blocks() {
    let v = values(DType::Q1_0, &block(DType::Q1_0, &[(0, &[0x00, 0x42]), (2, &[0b101]), (17, &[0x80])]));
    assert_eq!((v[0], v[1], v[2], v[126], v[127]), (3.0, -3.0, 3.0, -3.0, 3.0));
    let v = values(DType::Q2_0, &block(DType::Q2_0, &[(0, &ONE), (2, &[0b1110_0100])]));
    assert_eq!(&v[..5], &[-1.0, 0.0, 1.0, 2.0, -1.0]);
}

#[test]
fn fp4_blocks_use_the_halved_scales() {
    // e = 128: ggml's half scale 1.0 with doubled E2M1 codes (true scale 2 × E2M1 ±6).
    let v = values(DType::MXFP4, &block(DType::MXFP4, &[(0, &[128]), (1, &[0x7f])]));
    assert_eq!((v[0], v[16], v[1]), (-12.0, 12.0, 0.0));
    let v = values(DType::MXFP4, &block(DType::MXFP4, &[(0, &[0]), (1, &[0x01])]));
    assert_eq!(v[0], 2f64.powi(-128));
    // NVFP4: sub-block scales 0x38 (1.0 → 0.5), 0x01 (2^-9 → 2^-10), 0x7f (→ 0).
    let v = values(DType::NVFP4, &block(DType::NVFP4, &[(0, &[0x38, 0x01, 0x00, 0x7f]), (4, &[0x21]), (12, &[0x07]), (28, &[0x77])]));
    assert_eq!((v[0], v[8], v[16], v[48], v[56]), (0.5, 1.0, 12.0 * 2f64.powi(-10), 0.0, 0.0));
}

#[test]
fn k_quant_blocks() {
    // Q2_K {scales[16], qs[64], d, dmin}: element 0 = d·1·0 − dmin·2; element 255 from qs[63] bits 6–7.
    let b = block(DType::Q2_K, &[(0, &[0x21, 0, 0x01, 0, 0, 0, 0x05]), (15, &[0xf3]), (16, &[0xe4]), (79, &[0xc0]), (80, &ONE), (82, &HALF)]);
    let v = values(DType::Q2_K, &b);
    assert_eq!((v[0], v[32], v[96], v[255]), (-1.0, 1.0, 15.0, 1.5));
    // Q3_K {hmask[32], qs[64], scales[12], d}: sub-block 0 scale 33 − 32 = 1, the others 0 − 32.
    let b = block(DType::Q3_K, &[(0, &[0x01]), (31, &[0x80]), (32, &[0x03]), (95, &[0x40]), (96, &[0x01]), (104, &[0x02]), (108, &ONE)]);
    let v = values(DType::Q3_K, &b);
    assert_eq!((v[0], v[1], v[255]), (3.0, -4.0, -32.0));
    // Q4_K: sub-block 0 (sc 2, m 1), sub-block 5 (sc 19, m 50) from the high bits of bytes 1 and 5.
    let b = block(DType::Q4_K, &[(0, &ONE), (2, &ONE), (4, &[2, 0x40, 0, 0, 1, 0xc0]), (13, &[0x23]), (16, &[0x5a]), (80, &[0x70])]);
    let v = values(DType::Q4_K, &b);
    assert_eq!((v[0], v[32], v[160]), (19.0, 0.0, 83.0));
    // Q5_K: the fifth bit from qh, bit 2·(i/64) + (i%64)/32 of qh[i%32].
    let b = block(DType::Q5_K, &[(0, &ONE), (4, &[1, 2, 0, 4]), (16, &[0x03]), (21, &[0x08]), (48, &[0x3f]), (85, &[0x10])]);
    let v = values(DType::Q5_K, &b);
    assert_eq!((v[0], v[32], v[101]), (31.0, 38.0, 68.0));
    // Q6_K {ql[128], qh[64], scales[16], d}.
    let b = block(DType::Q6_K, &[(0, &[0x21]), (127, &[0xf0]), (128, &[0x02]), (191, &[0xc0]), (192, &[2, 0, 0, 0, 1]), (207, &[0xff]), (208, &ONE)]);
    let v = values(DType::Q6_K, &b);
    assert_eq!((v[0], v[64], v[255]), (2.0, -30.0, -31.0));
    // Q8_K {float d, qs[256], bsums}.
    let b = block(DType::Q8_K, &[(0, &0.5f32.to_le_bytes()), (4, &[0xfd]), (259, &[100])]);
    let v = values(DType::Q8_K, &b);
    assert_eq!((v[0], v[255]), (-1.5, 50.0));
    // IQ4_XS: sub-block 0 scale 33 − 32 = 1, sub-block 7 scale −32.
    let b = block(DType::IQ4_XS, &[(0, &ONE), (2, &[0x02, 0x00]), (4, &[0x01]), (8, &[0xf8])]);
    let v = values(DType::IQ4_XS, &b);
    assert_eq!((v[0], v[16], v[255]), (1.0, 113.0, 4064.0));
}

#[test]
fn ternary_blocks() {
    let v = values(DType::TQ2_0, &block(DType::TQ2_0, &[(0, &[0xe4]), (32, &[0x02]), (64, &ONE)]));
    assert_eq!((v[0], v[32], v[64], v[96], v[128]), (-1.0, 0.0, 1.0, 2.0, 1.0));
    // TQ1_0: the digit of q at position n is ((q·3^n mod 256)·3) >> 8; 0xFF gives 2, 2 (→ +1); 128 gives 1, 1 (→ 0).
    let v = values(DType::TQ1_0, &block(DType::TQ1_0, &[(0, &[0xff]), (48, &[128]), (52, &ONE)]));
    assert_eq!((v[0], v[32], v[160], v[240], v[244]), (1.0, 1.0, -1.0, 0.0, 0.0));
}

#[test]
fn lattice_blocks() {
    // IQ2_XXS: group 0 = indices [0, 1, 0, 0], scale nibble 1 (db = 1.5 · 0.25), signs ksigns[1] = bits 0 and 7.
    let aux = (1u32 << 28) | 1;
    let b = block(DType::IQ2_XXS, &[(0, &ONE), (2, &[0, 1, 0, 0]), (6, &aux.to_le_bytes())]);
    let v = values(DType::IQ2_XXS, &b);
    assert_eq!((v[0], v[1], v[7], v[8], v[9]), (-3.0, 3.0, -3.0, 43.0 * 0.375, 8.0 * 0.375));
    // IQ2_XS: u16 = 9-bit index | 7 sign bits << 9; scales byte 0x31 → 0.375 and 0.875.
    let q = 1u16 | (1 << 9);
    let b = block(DType::IQ2_XS, &[(0, &ONE), (2, &q.to_le_bytes()), (66, &[0x31])]);
    let v = values(DType::IQ2_XS, &b);
    assert_eq!((v[0], v[1], v[7], v[16]), (-43.0 * 0.375, 3.0, -3.0, 7.0));
    // IQ2_S: index 1 with explicit sign byte 0x02; the second point's index 512 from qh bits 2–3.
    let b = block(DType::IQ2_S, &[(0, &ONE), (2, &[1, 0]), (34, &[0x02]), (66, &[0x08])]);
    let v = values(DType::IQ2_S, &b);
    assert_eq!((v[0], v[1], v[8]), (43.0 * 0.125, -1.0, (IQ2S_GRID[512] & 0xff) as f64 * 0.125));
    // IQ3_XXS: scale nibble 2 (db = 2.5 · 0.5), grid point 1 = [20, 4, 4, 4], ksigns[16] = bits 4 and 7.
    let aux = (2u32 << 28) | 16;
    let b = block(DType::IQ3_XXS, &[(0, &ONE), (2, &[1, 0]), (66, &aux.to_le_bytes())]);
    let v = values(DType::IQ3_XXS, &b);
    assert_eq!(&v[..8], &[25.0, 5.0, 5.0, 5.0, -5.0, 5.0, 5.0, -5.0]);
    // IQ3_S: scale nibble 1 → d·3; sign bit 0; qh bit 1 tops the second index (256).
    let b = block(DType::IQ3_S, &[(0, &ONE), (2, &[1, 0]), (66, &[0x02]), (74, &[0x01]), (106, &[0x01])]);
    let v = values(DType::IQ3_S, &b);
    assert_eq!((v[0], v[1], v[4], v[32]), (-9.0, 3.0, (IQ3S_GRID[256] & 0xff) as f64 * 3.0, 1.0));
    // IQ1_S: qh = scale 1 (d·3), negative delta; point 0 is all −1, point 2047 all +1.
    let qh = (1u16 << 12) | 0x8000 | (7 << 3);
    let b = block(DType::IQ1_S, &[(0, &ONE), (2, &[0, 0xff]), (34, &qh.to_le_bytes())]);
    let v = values(DType::IQ1_S, &b);
    assert_eq!((v[0], v[8]), (-1.125 * 3.0, 0.875 * 3.0));
    // IQ1_M: d = 1.0 spread over the scale words' top nibbles; sub-block scales 3 and 5.
    let sc: [u16; 4] = [1 | (2 << 3), 0, 0xc000, 0x3000];
    let scales: Vec<u8> = sc.iter().flat_map(|w| w.to_le_bytes()).collect();
    let b = block(DType::IQ1_M, &[(0, &[0, 0, 0xff]), (32, &[0x08, 0x07]), (48, &scales)]);
    let v = values(DType::IQ1_M, &b);
    assert_eq!((v[0], v[16]), (-1.125 * 3.0, 1.125 * 5.0));
}

#[test]
fn ksigns_matches_ggml_table() {
    // The first and last rows of ksigns_iq2xs in ggml-common.h.
    let first: Vec<u8> = (0..16).map(|i| iquants_ksigns(i)).collect();
    assert_eq!(first, [0, 129, 130, 3, 132, 5, 6, 135, 136, 9, 10, 139, 12, 141, 142, 15]);
    let last: Vec<u8> = (112..128).map(|i| iquants_ksigns(i)).collect();
    assert_eq!(last, [240, 113, 114, 243, 116, 245, 246, 119, 120, 249, 250, 123, 252, 125, 126, 255]);
}

fn iquants_ksigns(i: u32) -> u8 {
    // Every ksigns byte has an even number of set bits; its low 7 bits are the index.
    let decoded = values(DType::IQ2_XS, &block(DType::IQ2_XS, &[(0, &ONE), (2, &((i as u16) << 9).to_le_bytes()), (66, &[0x01])]));
    decoded[..8].iter().enumerate().fold(0u8, |acc, (j, v)| acc | ((v.is_sign_negative() as u8) << j))
}

/// Bytes of `blocks` blocks of `dtype` from a fixed generator, f16 fields kept finite.
fn generated(dtype: DType, blocks: usize) -> Vec<u8> {
    let mut state = 0x2545_f491u32;
    (0..blocks * dtype.group_bytes())
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            (state & 0xbf) as u8
        })
        .collect()
}

#[test]
fn chunking_never_changes_values() {
    for &dtype in DType::all().iter().filter(|d| d.is_quantized()) {
        let bytes = generated(dtype, 37);
        let whole = values(dtype, &bytes);
        let mut pieces = Vec::new();
        for chunk in bytes.chunks(dtype.group_bytes() * 5) {
            pieces.extend(values(dtype, chunk));
        }
        let mut streamed = Vec::new();
        Decoder::new(dtype).for_each_block(&bytes, |b| streamed.extend_from_slice(b));
        let mut le = Vec::new();
        dequantize_f32_le(format(dtype).unwrap(), &bytes, |b| le.extend(b.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64)));
        for other in [&pieces, &streamed, &le] {
            assert_eq!(whole.len(), other.len());
            assert!(whole.iter().zip(other.iter()).all(|(a, b)| a.to_bits() == b.to_bits()), "{:?}", dtype);
        }
    }
}

#[test]
fn statistics_of_a_quantized_tensor_are_those_of_its_values() {
    for dtype in [DType::Q4_K, DType::IQ2_XS, DType::Q8_0] {
        let bytes = generated(dtype, 300);
        let mut f32_bytes = Vec::new();
        dequantize_f32_le(format(dtype).unwrap(), &bytes, |b| f32_bytes.extend_from_slice(b));
        let run = |dtype: DType, bytes: &[u8], piece: usize| {
            let mut job = StatsJob::new(dtype);
            loop {
                for chunk in bytes.chunks(piece) {
                    job.push(chunk).unwrap();
                }
                if !job.end_pass() {
                    return job.result().unwrap().clone();
                }
            }
        };
        let quantized = run(dtype, &bytes, dtype.group_bytes() * 7);
        let as_f32 = run(DType::F32, &f32_bytes, 4096);
        assert_eq!(format!("{:?}", quantized), format!("{:?}", as_f32), "{:?}", dtype);
        assert_eq!(StatsJob::new(dtype).push(&bytes[..dtype.group_bytes() - 1]).err(), Some(crate::stats::StatsError::PartialElement));
    }
}
