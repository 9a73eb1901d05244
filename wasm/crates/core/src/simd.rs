//! Two f64 lanes: WebAssembly SIMD128 in the wasm32 build, a plain pair natively, with the same operations, so the
//! hot loops are written once and the native tests exercise exactly the algorithm the wasm build runs. The wasm32
//! intrinsics used here are safe functions (only loads through pointers are unsafe, and lanes are built from
//! slices instead, which LLVM turns into one `v128.load`).

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod lanes {
    use core::arch::wasm32::*;

    /// Two f64 lanes.
    #[derive(Clone, Copy, Debug)]
    pub struct F64x2(v128);

    impl F64x2 {
        /// Both lanes `x`.
        #[inline(always)]
        pub fn splat(x: f64) -> F64x2 {
            F64x2(f64x2_splat(x))
        }
        /// The first two values of `s`.
        #[inline(always)]
        pub fn load(s: &[f64]) -> F64x2 {
            F64x2(f64x2(s[0], s[1]))
        }
        /// Lane-wise sum.
        #[inline(always)]
        pub fn add(self, o: F64x2) -> F64x2 {
            F64x2(f64x2_add(self.0, o.0))
        }
        /// Lane-wise difference.
        #[inline(always)]
        pub fn sub(self, o: F64x2) -> F64x2 {
            F64x2(f64x2_sub(self.0, o.0))
        }
        /// Lane-wise product.
        #[inline(always)]
        pub fn mul(self, o: F64x2) -> F64x2 {
            F64x2(f64x2_mul(self.0, o.0))
        }
        /// Lane-wise `if o < self { o } else { self }`.
        #[inline(always)]
        pub fn min(self, o: F64x2) -> F64x2 {
            F64x2(f64x2_pmin(self.0, o.0))
        }
        /// Lane-wise `if self < o { o } else { self }`.
        #[inline(always)]
        pub fn max(self, o: F64x2) -> F64x2 {
            F64x2(f64x2_pmax(self.0, o.0))
        }
        /// 1.0 in lanes equal to zero, 0.0 elsewhere.
        #[inline(always)]
        pub fn is_zero(self) -> F64x2 {
            F64x2(v128_and(f64x2_eq(self.0, f64x2_splat(0.0)), f64x2_splat(1.0)))
        }
        /// Lane-wise |x|.
        #[inline(always)]
        pub fn abs(self) -> F64x2 {
            F64x2(f64x2_abs(self.0))
        }
        /// `x`, with lanes equal to zero replaced by `y`.
        #[inline(always)]
        pub fn zero_to(self, y: F64x2) -> F64x2 {
            F64x2(v128_bitselect(y.0, self.0, f64x2_eq(self.0, f64x2_splat(0.0))))
        }
        /// The two lanes.
        #[inline(always)]
        pub fn lanes(self) -> [f64; 2] {
            [f64x2_extract_lane::<0>(self.0), f64x2_extract_lane::<1>(self.0)]
        }
        /// Lane-wise `self == o` (false when either is NaN).
        #[inline(always)]
        pub fn eq(self, o: F64x2) -> M64x2 {
            M64x2(f64x2_eq(self.0, o.0))
        }
        /// Lanes whose sign bit is set (−0.0 and negative NaNs included).
        #[inline(always)]
        pub fn sign_bit(self) -> M64x2 {
            // A signed compare of the bits with 0: one instruction on x86, where a 64-bit arithmetic shift takes six.
            M64x2(i64x2_lt(self.0, i64x2_splat(0)))
        }
        /// Lane-wise `self < o` (false when either is NaN).
        #[inline(always)]
        pub fn lt(self, o: F64x2) -> M64x2 {
            M64x2(f64x2_lt(self.0, o.0))
        }
        /// Lane-wise `self <= o` (false when either is NaN).
        #[inline(always)]
        pub fn le(self, o: F64x2) -> M64x2 {
            M64x2(f64x2_le(self.0, o.0))
        }
        /// Lane-wise quotient.
        #[inline(always)]
        pub fn div(self, o: F64x2) -> F64x2 {
            F64x2(f64x2_div(self.0, o.0))
        }
        /// The raw bits of the lanes shifted right by `shift` (logical), as integers.
        #[inline(always)]
        pub fn bits_shr(self, shift: u32) -> [u64; 2] {
            let v = u64x2_shr(self.0, shift);
            [u64x2_extract_lane::<0>(v), u64x2_extract_lane::<1>(v)]
        }
        /// Lanes whose |x| bits (the sign cleared) are above `above` and at most `at_most`, compared as i64.
        #[inline(always)]
        pub fn magnitude_bits_within(self, above: i64, at_most: i64) -> M64x2 {
            let key = v128_and(self.0, i64x2_splat(i64::MAX));
            M64x2(v128_and(i64x2_gt(key, i64x2_splat(above)), i64x2_le(key, i64x2_splat(at_most))))
        }
        /// Writes the lanes to the first two places of `out`.
        #[inline(always)]
        pub fn store(self, out: &mut [f64]) {
            out[0] = f64x2_extract_lane::<0>(self.0);
            out[1] = f64x2_extract_lane::<1>(self.0);
        }
    }

    /// Two lane masks (all ones or all zeros per lane).
    #[derive(Clone, Copy, Debug)]
    pub struct M64x2(v128);

    impl M64x2 {
        /// Set lanes where `lanes` is true.
        #[inline(always)]
        pub fn from_lanes(lanes: [bool; 2]) -> M64x2 {
            M64x2(i64x2(-(lanes[0] as i64), -(lanes[1] as i64)))
        }
        /// Lane-wise and.
        #[inline(always)]
        pub fn and(self, o: M64x2) -> M64x2 {
            M64x2(v128_and(self.0, o.0))
        }
        /// Lane-wise or.
        #[inline(always)]
        pub fn or(self, o: M64x2) -> M64x2 {
            M64x2(v128_or(self.0, o.0))
        }
        /// Lane-wise exclusive or.
        #[inline(always)]
        pub fn xor(self, o: M64x2) -> M64x2 {
            M64x2(v128_xor(self.0, o.0))
        }
        /// Lane-wise not.
        #[inline(always)]
        pub fn not(self) -> M64x2 {
            M64x2(v128_not(self.0))
        }
        /// 1.0 in the set lanes, 0.0 elsewhere.
        #[inline(always)]
        pub fn ones(self) -> F64x2 {
            F64x2(v128_and(self.0, f64x2_splat(1.0)))
        }
        /// `a` in the set lanes, `b` elsewhere.
        #[inline(always)]
        pub fn select(self, a: F64x2, b: F64x2) -> F64x2 {
            F64x2(v128_bitselect(a.0, b.0, self.0))
        }
    }

    /// Two u64 counters of set mask lanes: a set lane is −1, so subtracting the mask adds one (no 1.0 constant and
    /// no f64 add per count).
    #[derive(Clone, Copy, Debug)]
    pub struct Count64x2(v128);

    impl Count64x2 {
        /// Both counters at zero.
        #[inline(always)]
        pub fn zero() -> Count64x2 {
            Count64x2(i64x2_splat(0))
        }
        /// Adds one to the counters of the set lanes.
        #[inline(always)]
        pub fn count(self, m: M64x2) -> Count64x2 {
            Count64x2(i64x2_sub(self.0, m.0))
        }
        /// Both counters added.
        #[inline(always)]
        pub fn total(self) -> u64 {
            u64x2_extract_lane::<0>(self.0) + u64x2_extract_lane::<1>(self.0)
        }
    }

    /// Four little-endian f32 (16 bytes) widened to f64, in two lane pairs.
    #[inline(always)]
    pub fn widen_f32(b: &[u8]) -> [F64x2; 2] {
        let f = |i: usize| f32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        promote_f32x4(f32x4(f(0), f(4), f(8), f(12)))
    }

    /// Four little-endian bf16 (8 bytes) widened to f64, in two lane pairs: each is the top half of an f32.
    #[inline(always)]
    pub fn widen_bf16(b: &[u8]) -> [F64x2; 2] {
        let v = i64x2(i64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]), 0);
        promote_f32x4(i32x4_shl(u32x4_extend_low_u16x8(v), 16))
    }

    /// Four little-endian IEEE f16 (8 bytes) widened to f64, in two lane pairs (the bit rule of
    /// `decode::f16_bits_to_f32`).
    #[inline(always)]
    pub fn widen_f16(b: &[u8]) -> [F64x2; 2] {
        let h = u32x4_extend_low_u16x8(i64x2(i64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]), 0));
        let sign = i32x4_shl(v128_and(h, u32x4_splat(0x8000)), 16);
        let magnitude = v128_and(h, u32x4_splat(0x7fff));
        let shifted = i32x4_shl(magnitude, 13);
        let finite = f32x4_mul(shifted, u32x4_splat(0x7780_0000)); // × 2^112
        let special = v128_or(shifted, u32x4_splat(0x7f80_0000));
        let is_special = u32x4_ge(magnitude, u32x4_splat(0x7c00));
        promote_f32x4(v128_or(sign, v128_bitselect(special, finite, is_special)))
    }

    /// Four f64 (two lane pairs) to four bfloat16, 8 little-endian bytes: rounded once to nearest even, through f32
    /// rounded to odd (the rule of `encode::f64_to_f32_round_odd` and `encode::f32_to_bf16`, NaN to 0x7FC0).
    #[inline(always)]
    pub fn narrow_bf16(low: F64x2, high: F64x2) -> [u8; 8] {
        let (nearest_low, nearest_high) = (f32x4_demote_f64x2_zero(low.0), f32x4_demote_f64x2_zero(high.0));
        let nearest = i32x4_shuffle::<0, 1, 4, 5>(nearest_low, nearest_high);
        // 64-bit lane masks narrowed to the 32-bit lanes of the four f32.
        let narrow = |l: v128, h: v128| i32x4_shuffle::<0, 2, 4, 6>(l, h);
        let back = |n: v128| f64x2_promote_low_f32x4(n);
        let exact = narrow(f64x2_eq(back(nearest_low), low.0), f64x2_eq(back(nearest_high), high.0));
        let overshot = narrow(f64x2_gt(f64x2_abs(back(nearest_low)), f64x2_abs(low.0)), f64x2_gt(f64x2_abs(back(nearest_high)), f64x2_abs(high.0)));
        let nan = narrow(f64x2_ne(low.0, low.0), f64x2_ne(high.0, high.0));
        // Inexact: one unit toward zero when the nearest overshot (a set mask lane is −1), then the sticky last bit.
        let odd = v128_or(i32x4_add(nearest, overshot), v128_andnot(u32x4_splat(1), exact));
        let rounded = u32x4_shr(i32x4_add(i32x4_add(odd, u32x4_splat(0x7fff)), v128_and(u32x4_shr(odd, 16), u32x4_splat(1))), 16);
        let bf16 = v128_bitselect(u32x4_splat(0x7fc0), rounded, nan);
        u64x2_extract_lane::<0>(u16x8_narrow_i32x4(bf16, bf16)).to_le_bytes()
    }

    /// The largest of `mask & w` over the 16-bit little-endian words `w` of `b` (whole 16-byte blocks; the rest is
    /// left to the caller), eight lanes at a time.
    #[inline(always)]
    pub fn max_masked_u16(b: &[u8], mask: u16) -> u16 {
        let mut largest = u16x8_splat(0);
        for block in b.chunks_exact(16) {
            largest = u16x8_max(largest, v128_and(load_bytes(block), u16x8_splat(mask)));
        }
        let largest = u16x8_max(largest, i32x4_shuffle::<2, 3, 0, 1>(largest, largest));
        let largest = u16x8_max(largest, i32x4_shuffle::<1, 0, 3, 2>(largest, largest));
        let largest = u16x8_max(largest, u32x4_shr(largest, 16));
        u16x8_extract_lane::<0>(largest)
    }

    /// The largest of `mask & w` over the 32-bit little-endian words `w` of `b` (whole 16-byte blocks), four at a time.
    #[inline(always)]
    pub fn max_masked_u32(b: &[u8], mask: u32) -> u32 {
        let mut largest = u32x4_splat(0);
        for block in b.chunks_exact(16) {
            largest = u32x4_max(largest, v128_and(load_bytes(block), u32x4_splat(mask)));
        }
        let largest = u32x4_max(largest, i32x4_shuffle::<2, 3, 0, 1>(largest, largest));
        let largest = u32x4_max(largest, i32x4_shuffle::<1, 0, 3, 2>(largest, largest));
        u32x4_extract_lane::<0>(largest)
    }

    /// Sixteen bytes as one vector. Spelled out: LLVM 14 leaves a closure called twice here as a call per word.
    #[inline(always)]
    fn load_bytes(b: &[u8]) -> v128 {
        let b = &b[..16];
        i64x2(
            i64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]),
            i64::from_le_bytes([b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]]),
        )
    }

    #[inline(always)]
    fn promote_f32x4(v: v128) -> [F64x2; 2] {
        [F64x2(f64x2_promote_low_f32x4(v)), F64x2(f64x2_promote_low_f32x4(i32x4_shuffle::<2, 3, 0, 1>(v, v)))]
    }
}

#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
mod lanes {
    /// Two f64 lanes.
    #[derive(Clone, Copy, Debug)]
    pub struct F64x2([f64; 2]);

    impl F64x2 {
        /// Both lanes `x`.
        #[inline(always)]
        pub fn splat(x: f64) -> F64x2 {
            F64x2([x, x])
        }
        /// The first two values of `s`.
        #[inline(always)]
        pub fn load(s: &[f64]) -> F64x2 {
            F64x2([s[0], s[1]])
        }
        /// Lane-wise sum.
        #[inline(always)]
        pub fn add(self, o: F64x2) -> F64x2 {
            F64x2([self.0[0] + o.0[0], self.0[1] + o.0[1]])
        }
        /// Lane-wise difference.
        #[inline(always)]
        pub fn sub(self, o: F64x2) -> F64x2 {
            F64x2([self.0[0] - o.0[0], self.0[1] - o.0[1]])
        }
        /// Lane-wise product.
        #[inline(always)]
        pub fn mul(self, o: F64x2) -> F64x2 {
            F64x2([self.0[0] * o.0[0], self.0[1] * o.0[1]])
        }
        /// Lane-wise `if o < self { o } else { self }`.
        #[inline(always)]
        pub fn min(self, o: F64x2) -> F64x2 {
            F64x2([pick_less(o.0[0], self.0[0], false), pick_less(o.0[1], self.0[1], false)])
        }
        /// Lane-wise `if self < o { o } else { self }`.
        #[inline(always)]
        pub fn max(self, o: F64x2) -> F64x2 {
            F64x2([pick_less(o.0[0], self.0[0], true), pick_less(o.0[1], self.0[1], true)])
        }
        /// 1.0 in lanes equal to zero, 0.0 elsewhere.
        #[inline(always)]
        pub fn is_zero(self) -> F64x2 {
            F64x2([(self.0[0] == 0.0) as u8 as f64, (self.0[1] == 0.0) as u8 as f64])
        }
        /// Lane-wise |x|.
        #[inline(always)]
        pub fn abs(self) -> F64x2 {
            F64x2([self.0[0].abs(), self.0[1].abs()])
        }
        /// `x`, with lanes equal to zero replaced by `y`.
        #[inline(always)]
        pub fn zero_to(self, y: F64x2) -> F64x2 {
            F64x2([if self.0[0] == 0.0 { y.0[0] } else { self.0[0] }, if self.0[1] == 0.0 { y.0[1] } else { self.0[1] }])
        }
        /// The two lanes.
        #[inline(always)]
        pub fn lanes(self) -> [f64; 2] {
            self.0
        }
        /// Lane-wise `self == o` (false when either is NaN).
        #[inline(always)]
        pub fn eq(self, o: F64x2) -> M64x2 {
            M64x2([self.0[0] == o.0[0], self.0[1] == o.0[1]])
        }
        /// Lanes whose sign bit is set (−0.0 and negative NaNs included).
        #[inline(always)]
        pub fn sign_bit(self) -> M64x2 {
            M64x2([self.0[0].is_sign_negative(), self.0[1].is_sign_negative()])
        }
        /// Lane-wise `self < o` (false when either is NaN).
        #[inline(always)]
        pub fn lt(self, o: F64x2) -> M64x2 {
            M64x2([self.0[0] < o.0[0], self.0[1] < o.0[1]])
        }
        /// Lane-wise `self <= o` (false when either is NaN).
        #[inline(always)]
        pub fn le(self, o: F64x2) -> M64x2 {
            M64x2([self.0[0] <= o.0[0], self.0[1] <= o.0[1]])
        }
        /// Lane-wise quotient.
        #[inline(always)]
        pub fn div(self, o: F64x2) -> F64x2 {
            F64x2([self.0[0] / o.0[0], self.0[1] / o.0[1]])
        }
        /// The raw bits of the lanes shifted right by `shift` (logical), as integers.
        #[inline(always)]
        pub fn bits_shr(self, shift: u32) -> [u64; 2] {
            [self.0[0].to_bits() >> shift, self.0[1].to_bits() >> shift]
        }
        /// Lanes whose |x| bits (the sign cleared) are above `above` and at most `at_most`, compared as i64.
        #[inline(always)]
        pub fn magnitude_bits_within(self, above: i64, at_most: i64) -> M64x2 {
            let within = |x: f64| (above..=at_most).contains(&((x.to_bits() & !(1u64 << 63)) as i64));
            M64x2([within(self.0[0]), within(self.0[1])])
        }
        /// Writes the lanes to the first two places of `out`.
        #[inline(always)]
        pub fn store(self, out: &mut [f64]) {
            out[0] = self.0[0];
            out[1] = self.0[1];
        }
    }

    /// Two lane masks.
    #[derive(Clone, Copy, Debug)]
    pub struct M64x2([bool; 2]);

    impl M64x2 {
        /// Set lanes where `lanes` is true.
        #[inline(always)]
        pub fn from_lanes(lanes: [bool; 2]) -> M64x2 {
            M64x2(lanes)
        }
        /// Lane-wise and.
        #[inline(always)]
        pub fn and(self, o: M64x2) -> M64x2 {
            M64x2([self.0[0] & o.0[0], self.0[1] & o.0[1]])
        }
        /// Lane-wise or.
        #[inline(always)]
        pub fn or(self, o: M64x2) -> M64x2 {
            M64x2([self.0[0] | o.0[0], self.0[1] | o.0[1]])
        }
        /// Lane-wise exclusive or.
        #[inline(always)]
        pub fn xor(self, o: M64x2) -> M64x2 {
            M64x2([self.0[0] ^ o.0[0], self.0[1] ^ o.0[1]])
        }
        /// Lane-wise not.
        #[inline(always)]
        pub fn not(self) -> M64x2 {
            M64x2([!self.0[0], !self.0[1]])
        }
        /// 1.0 in the set lanes, 0.0 elsewhere.
        #[inline(always)]
        pub fn ones(self) -> F64x2 {
            F64x2([self.0[0] as u8 as f64, self.0[1] as u8 as f64])
        }
        /// `a` in the set lanes, `b` elsewhere.
        #[inline(always)]
        pub fn select(self, a: F64x2, b: F64x2) -> F64x2 {
            F64x2([if self.0[0] { a.0[0] } else { b.0[0] }, if self.0[1] { a.0[1] } else { b.0[1] }])
        }
    }

    /// `o` when it is below `s` (or above, for a max), else `s`: the wasm pmin/pmax rule.
    fn pick_less(o: f64, s: f64, above: bool) -> f64 {
        if (above && s < o) || (!above && o < s) {
            o
        } else {
            s
        }
    }
    /// Two u64 counters of set mask lanes.
    #[derive(Clone, Copy, Debug)]
    pub struct Count64x2([u64; 2]);

    impl Count64x2 {
        /// Both counters at zero.
        #[inline(always)]
        pub fn zero() -> Count64x2 {
            Count64x2([0; 2])
        }
        /// Adds one to the counters of the set lanes.
        #[inline(always)]
        pub fn count(self, m: M64x2) -> Count64x2 {
            Count64x2([self.0[0] + m.0[0] as u64, self.0[1] + m.0[1] as u64])
        }
        /// Both counters added.
        #[inline(always)]
        pub fn total(self) -> u64 {
            self.0[0] + self.0[1]
        }
    }

    /// Four little-endian f32 (16 bytes) widened to f64, in two lane pairs.
    #[inline(always)]
    pub fn widen_f32(b: &[u8]) -> [F64x2; 2] {
        pairs(|i| f32::from_le_bytes([b[4 * i], b[4 * i + 1], b[4 * i + 2], b[4 * i + 3]]) as f64)
    }

    /// Four little-endian bf16 (8 bytes) widened to f64, in two lane pairs: each is the top half of an f32.
    #[inline(always)]
    pub fn widen_bf16(b: &[u8]) -> [F64x2; 2] {
        pairs(|i| f32::from_bits((u16::from_le_bytes([b[2 * i], b[2 * i + 1]]) as u32) << 16) as f64)
    }

    /// Four little-endian IEEE f16 (8 bytes) widened to f64, in two lane pairs.
    #[inline(always)]
    pub fn widen_f16(b: &[u8]) -> [F64x2; 2] {
        pairs(|i| crate::decode::f16_bits_to_f32(u16::from_le_bytes([b[2 * i], b[2 * i + 1]])) as f64)
    }

    /// Four f64 (two lane pairs) to four bfloat16, 8 little-endian bytes: rounded once to nearest even, through f32
    /// rounded to odd (the rule of `encode::f64_to_f32_round_odd` and `encode::f32_to_bf16`, NaN to 0x7FC0).
    #[inline(always)]
    pub fn narrow_bf16(low: F64x2, high: F64x2) -> [u8; 8] {
        let mut out = [0u8; 8];
        for (o, &x) in out.chunks_exact_mut(2).zip(low.0.iter().chain(&high.0)) {
            let nearest = x as f32;
            let back = nearest as f64;
            let overshot = (back.abs() > x.abs()) as u32;
            let inexact = (back != x) as u32;
            let odd = nearest.to_bits().wrapping_sub(overshot) | inexact;
            let rounded = (odd + 0x7fff + ((odd >> 16) & 1)) >> 16;
            o.copy_from_slice(&(if x.is_nan() { 0x7fc0 } else { rounded as u16 }).to_le_bytes());
        }
        out
    }

    /// The largest of `mask & w` over the 16-bit little-endian words `w` of `b` (whole 16-byte blocks).
    #[inline(always)]
    pub fn max_masked_u16(b: &[u8], mask: u16) -> u16 {
        let whole = b.len() / 16 * 16;
        b[..whole].chunks_exact(2).map(|w| u16::from_le_bytes([w[0], w[1]]) & mask).max().unwrap_or(0)
    }

    /// The largest of `mask & w` over the 32-bit little-endian words `w` of `b` (whole 16-byte blocks).
    #[inline(always)]
    pub fn max_masked_u32(b: &[u8], mask: u32) -> u32 {
        let whole = b.len() / 16 * 16;
        b[..whole].chunks_exact(4).map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]) & mask).max().unwrap_or(0)
    }

    #[inline(always)]
    fn pairs(value: impl Fn(usize) -> f64) -> [F64x2; 2] {
        [F64x2([value(0), value(1)]), F64x2([value(2), value(3)])]
    }
}

pub use lanes::{max_masked_u16, max_masked_u32, narrow_bf16, widen_bf16, widen_f16, widen_f32, Count64x2, F64x2, M64x2};

#[cfg(test)]
mod tests {
    use super::{Count64x2, F64x2};

    #[test]
    fn lane_operations() {
        let a = F64x2::load(&[1.0, -2.0]);
        let b = F64x2::load(&[0.5, 3.0]);
        assert_eq!(a.add(b).lanes(), [1.5, 1.0]);
        assert_eq!(a.sub(b).lanes(), [0.5, -5.0]);
        assert_eq!(a.mul(b).lanes(), [0.5, -6.0]);
        assert_eq!(a.min(b).lanes(), [0.5, -2.0]);
        assert_eq!(a.max(b).lanes(), [1.0, 3.0]);
        assert_eq!(F64x2::load(&[0.0, -0.0]).is_zero().lanes(), [1.0, 1.0]);
        assert_eq!(F64x2::splat(4.0).is_zero().lanes(), [0.0, 0.0]);
        assert_eq!(F64x2::load(&[-3.0, 0.0]).abs().zero_to(F64x2::splat(9.0)).lanes(), [3.0, 9.0]);
    }

    #[test]
    fn lane_masks() {
        let a = F64x2::load(&[1.0, f64::NAN]);
        let b = F64x2::load(&[1.0, f64::NAN]);
        assert_eq!(a.eq(b).ones().lanes(), [1.0, 0.0]);
        assert_eq!(F64x2::load(&[-0.0, 0.0]).sign_bit().ones().lanes(), [1.0, 0.0]);
        assert_eq!(F64x2::load(&[-1.0, 2.0]).sign_bit().not().ones().lanes(), [0.0, 1.0]);
        let m = a.eq(b);
        let n = F64x2::load(&[-1.0, -1.0]).sign_bit();
        assert_eq!(m.and(n).ones().lanes(), [1.0, 0.0]);
        assert_eq!(m.or(n).ones().lanes(), [1.0, 1.0]);
        assert_eq!(Count64x2::zero().count(m).count(n).count(m.or(n)).total(), 5);
        assert_eq!(m.xor(n).ones().lanes(), [0.0, 1.0]);
        assert_eq!(m.select(F64x2::splat(5.0), F64x2::splat(6.0)).lanes(), [5.0, 6.0]);
        assert_eq!(F64x2::load(&[1.0, -2.0]).bits_shr(52), [0x3ff, 0xc00]);
        let (p, q) = (F64x2::load(&[1.0, f64::NAN]), F64x2::load(&[2.0, 1.0]));
        assert_eq!((p.lt(q).ones().lanes(), q.lt(p).ones().lanes()), ([1.0, 0.0], [0.0, 0.0]));
        assert_eq!((p.le(p).ones().lanes(), q.div(F64x2::splat(2.0)).lanes()), ([1.0, 0.0], [1.0, 0.5]));
        // The maximum keeps its accumulator against NaN, which is how non-finite deltas are left out.
        assert_eq!(F64x2::splat(1.0).max(F64x2::load(&[f64::NAN, 2.0])).lanes(), [1.0, 2.0]);
    }

    #[test]
    fn masked_maxima_cover_whole_blocks_only() {
        let bytes: Vec<u8> = (0..40u8).map(|i| i.wrapping_mul(37)).collect();
        let words16 = |n: usize| bytes[..n].chunks_exact(2).map(|w| u16::from_le_bytes([w[0], w[1]]) & 0x7fff).max().unwrap();
        let words32 = |n: usize| bytes[..n].chunks_exact(4).map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]) & 0x7fff_ffff).max().unwrap();
        assert_eq!(super::max_masked_u16(&bytes, 0x7fff), words16(32));
        assert_eq!(super::max_masked_u32(&bytes, 0x7fff_ffff), words32(32));
        assert_eq!(super::max_masked_u16(&bytes[..15], 0x7fff), 0);
    }

    #[test]
    fn widening_matches_the_scalar_decoders() {
        let four = |[a, b]: [F64x2; 2]| [a.lanes(), b.lanes()].concat();
        let f: Vec<u8> = [1.5f32, -0.0, f32::MAX, 1e-45].iter().flat_map(|v| v.to_le_bytes()).collect();
        assert_eq!(four(super::widen_f32(&f)), [1.5, -0.0, f32::MAX as f64, 1e-45f32 as f64]);
        let bf16 = super::widen_bf16(&[0x80, 0x3f, 0x00, 0xc0, 0x80, 0x7f, 0x01, 0x00]);
        assert_eq!(four(bf16), [1.0, -2.0, f64::INFINITY, f32::from_bits(0x10000) as f64]);
        for chunk in (0..=u16::MAX).collect::<Vec<u16>>().chunks(4) {
            let bytes: Vec<u8> = chunk.iter().flat_map(|h| h.to_le_bytes()).collect();
            for (h, v) in chunk.iter().zip(four(super::widen_f16(&bytes))) {
                let want = crate::decode::f16_to_f64(*h);
                assert!(v == want || (v.is_nan() && want.is_nan()), "{:#06x}", h);
            }
        }
    }
}
