//! Element-wise comparison of two tensors of the same shape, streamed in lockstep: norms of each side and of the
//! delta, cosine, largest change, changed and sign-flip counts, byte identity and a histogram of the delta.
//!
//! Values are decoded to f64 (mixed dtypes allowed). Sums are taken over fixed blocks of consecutive elements
//! aligned to element 0 and then added block by block, so the results do not depend on how the bytes were cut into
//! pushes.
use crate::decode::decode_f64;
use crate::dtype::DType;
use crate::simd::{Count64x2, F64x2};

/// Elements per summation block.
const BLOCK: usize = 4096;
/// The delta histogram covers |δ| in [2^DELTA_LOG2_LO, 2^DELTA_LOG2_HI); smaller nonzero values land in the first
/// bin, larger ones in the last.
pub const DELTA_LOG2_LO: i32 = -40;
/// Upper end of the delta histogram's range, as a power of two.
pub const DELTA_LOG2_HI: i32 = 24;
/// Bins per factor of two.
pub const DELTA_BINS_PER_OCTAVE: usize = 4;
/// Bins per sign.
pub const DELTA_BINS: usize = (DELTA_LOG2_HI - DELTA_LOG2_LO) as usize * DELTA_BINS_PER_OCTAVE;


/// Why a diff refused input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiffError {
    /// A push is not a whole number of element groups, or the two sides hold different element counts.
    BadInput,
    /// Input after the results were taken.
    WrongPhase,
}

/// The comparison of two tensors; NaN stands for "undefined" (see each field).
#[derive(Clone, Debug, PartialEq)]
pub struct DiffResult {
    /// Elements compared.
    pub n: u64,
    /// sqrt(Σa²); NaN when a holds a non-finite value.
    pub l2_a: f64,
    /// sqrt(Σb²); NaN when b holds a non-finite value.
    pub l2_b: f64,
    /// sqrt(Σ(b − a)²); NaN when either side holds a non-finite value.
    pub l2_delta: f64,
    /// l2_delta / l2_a; NaN when that is undefined or l2_a is 0.
    pub rel_delta: f64,
    /// Σab / (l2_a·l2_b), clamped to [−1, 1]; NaN when a norm is 0 or undefined.
    pub cosine: f64,
    /// max |b − a|; NaN when either side holds a non-finite value; 0 for no elements.
    pub max_abs_delta: f64,
    /// Elements whose decoded values differ (as numbers; NaN equals NaN, −0 equals +0).
    pub changed: u64,
    /// Elements nonzero and not NaN on both sides.
    pub both_nonzero: u64,
    /// Of those, elements whose sign differs.
    pub sign_flips: u64,
    /// Same dtype and the same bytes.
    pub identical: bool,
    /// a holds a NaN or ±Inf.
    pub nonfinite_a: bool,
    /// b holds a NaN or ±Inf.
    pub nonfinite_b: bool,
    /// Elements with b − a exactly 0.
    pub delta_zeros: u64,
    /// Elements with a non-finite b − a.
    pub delta_nonfinite: u64,
    /// Positive deltas by log2 bin (DELTA_BINS).
    pub delta_positive: Vec<u64>,
    /// Negative deltas by log2|δ| bin (DELTA_BINS).
    pub delta_negative: Vec<u64>,
}

/// Streaming comparison of two tensors pushed in lockstep.
pub struct DiffJob {
    a: DType,
    b: DType,
    pending_a: Vec<f64>,
    pending_b: Vec<f64>,
    filled: usize,
    sums: [f64; 4],
    max_abs: f64,
    counts: Counts,
    nonfinite_a: bool,
    nonfinite_b: bool,
    identical: bool,
    /// Two copies of the raw histogram (RAW_SLOTS each), folded into bins at the end.
    slots: Vec<u64>,
    finished: bool,
}

#[derive(Clone, Copy, Default)]
struct Counts {
    n: u64,
    changed: u64,
    both_nonzero: u64,
    sign_flips: u64,
    zeros_positive: u64,
    zeros_negative: u64,
}

impl DiffJob {
    /// A comparison of a tensor of dtype `a` with one of dtype `b`.
    pub fn new(a: DType, b: DType) -> DiffJob {
        DiffJob {
            a,
            b,
            pending_a: vec![0.0; BLOCK],
            pending_b: vec![0.0; BLOCK],
            filled: 0,
            sums: [0.0; 4],
            max_abs: 0.0,
            counts: Counts::default(),
            nonfinite_a: false,
            nonfinite_b: false,
            identical: a == b,
            slots: vec![0; 2 * RAW_SLOTS],
            finished: false,
        }
    }

    /// The next elements of both tensors: `a_bytes` and `b_bytes` hold the same elements in each side's dtype.
    pub fn push(&mut self, a_bytes: &[u8], b_bytes: &[u8]) -> Result<(), DiffError> {
        if self.finished {
            return Err(DiffError::WrongPhase);
        }
        let count = whole_elements(self.a, a_bytes.len()).ok_or(DiffError::BadInput)?;
        if whole_elements(self.b, b_bytes.len()) != Some(count) {
            return Err(DiffError::BadInput);
        }
        if self.identical && a_bytes != b_bytes {
            self.identical = false;
        }
        let mut done = 0;
        while done < count {
            let take = (BLOCK - self.filled).min(count - done);
            let at = self.filled;
            decode_range(self.a, a_bytes, done, take, &mut self.pending_a[at..at + take]);
            decode_range(self.b, b_bytes, done, take, &mut self.pending_b[at..at + take]);
            self.filled += take;
            done += take;
            if self.filled == BLOCK {
                self.flush_block();
            }
        }
        Ok(())
    }

    fn flush_block(&mut self) {
        let n = self.filled;
        let block = compare_block(&self.pending_a[..n], &self.pending_b[..n], &mut self.slots);
        for (total, part) in self.sums.iter_mut().zip(block.sums.iter()) {
            *total += part;
        }
        self.max_abs = self.max_abs.max(block.max_abs);
        let c = &mut self.counts;
        let b = block.counts;
        c.n += b.n;
        c.changed += b.changed;
        c.both_nonzero += b.both_nonzero;
        c.sign_flips += b.sign_flips;
        c.zeros_positive += b.zeros_positive;
        c.zeros_negative += b.zeros_negative;
        self.nonfinite_a |= block.nonfinite_a;
        self.nonfinite_b |= block.nonfinite_b;
        self.filled = 0;
    }

    /// Ends the (single) pass and returns the results; further pushes are refused.
    pub fn finish(&mut self) -> DiffResult {
        if !self.finished {
            self.flush_block();
            self.finished = true;
        }
        let c = self.counts;
        let [aa, bb, dd, ab] = self.sums;
        let l2_a = if self.nonfinite_a { f64::NAN } else { aa.sqrt() };
        let l2_b = if self.nonfinite_b { f64::NAN } else { bb.sqrt() };
        let any_nonfinite = self.nonfinite_a || self.nonfinite_b;
        let (positive, negative, nonfinite) = fold_histogram(&self.slots, c.zeros_positive, c.zeros_negative);
        let l2_delta = if any_nonfinite { f64::NAN } else { dd.sqrt() };
        let rel_delta = if l2_a > 0.0 { l2_delta / l2_a } else { f64::NAN };
        // sqrt(‖a‖²·‖b‖²) rather than ‖a‖·‖b‖: sqrt(fl(s²)) is exactly s, so identical tensors give exactly 1.
        let norms = aa * bb;
        let denominator = if norms.is_normal() { norms.sqrt() } else { l2_a * l2_b };
        let cosine = if l2_a > 0.0 && l2_b > 0.0 && ab.is_finite() { (ab / denominator).clamp(-1.0, 1.0) } else { f64::NAN };
        DiffResult {
            n: c.n,
            l2_a: finite_or_nan(l2_a),
            l2_b: finite_or_nan(l2_b),
            l2_delta: finite_or_nan(l2_delta),
            rel_delta: finite_or_nan(rel_delta),
            cosine,
            max_abs_delta: if any_nonfinite { f64::NAN } else { self.max_abs },
            changed: c.changed,
            both_nonzero: c.both_nonzero,
            sign_flips: c.sign_flips,
            identical: self.identical,
            nonfinite_a: self.nonfinite_a,
            nonfinite_b: self.nonfinite_b,
            delta_zeros: c.zeros_positive + c.zeros_negative,
            delta_nonfinite: nonfinite,
            delta_positive: positive,
            delta_negative: negative,
        }
    }
}

/// A sum of squares of finite values can still overflow (F64 values near 1e200): that is undefined too.
fn finite_or_nan(x: f64) -> f64 {
    if x.is_finite() {
        x
    } else {
        f64::NAN
    }
}

/// Folds the raw histograms (two copies) into the positive and negative log2 bins and the non-finite count. Raw
/// slots with a zero exponent hold the exact zeros (+0 and −0, counted apart in the main loop and taken out here)
/// and the subnormal deltas, which belong to the first bin like every magnitude below its range.
fn fold_histogram(raw: &[u64], zeros_positive: u64, zeros_negative: u64) -> (Vec<u64>, Vec<u64>, u64) {
    let (mut positive, mut negative) = (vec![0; DELTA_BINS], vec![0; DELTA_BINS]);
    let mut nonfinite = 0;
    for slot in 0..RAW_SLOTS {
        let count = raw[slot] + raw[RAW_SLOTS + slot];
        if count == 0 {
            continue;
        }
        let exponent = (slot >> 2) & 0x7ff;
        if exponent == 0x7ff {
            nonfinite += count;
            continue;
        }
        // A magnitude with these top bits (any nonzero rest), binned as any delta is.
        let bin = delta_bin(f64::from_bits(((slot as u64) << 50) | 1));
        if slot >> 13 == 1 {
            negative[bin] += count;
        } else {
            positive[bin] += count;
        }
    }
    positive[0] -= zeros_positive;
    negative[0] -= zeros_negative;
    (positive, negative, nonfinite)
}

/// b − a as little-endian f64 bytes, element by element (`a_bytes` and `b_bytes` the same elements in their dtypes);
/// None when they are not the same number of whole elements.
pub fn delta_bytes(a: DType, a_bytes: &[u8], b: DType, b_bytes: &[u8]) -> Option<Vec<u8>> {
    let count = whole_elements(a, a_bytes.len())?;
    if whole_elements(b, b_bytes.len()) != Some(count) {
        return None;
    }
    let mut out = Vec::with_capacity(count * 8);
    let (mut x, mut y) = (vec![0.0; BLOCK], vec![0.0; BLOCK]);
    for first in (0..count).step_by(BLOCK) {
        let take = (count - first).min(BLOCK);
        decode_range(a, a_bytes, first, take, &mut x[..take]);
        decode_range(b, b_bytes, first, take, &mut y[..take]);
        out.extend(x[..take].iter().zip(&y[..take]).flat_map(|(p, q)| (q - p).to_le_bytes()));
    }
    Some(out)
}

/// Elements in `len` bytes of `dtype`, or None when that is not a whole number of groups.
pub fn whole_elements(dtype: DType, len: usize) -> Option<usize> {
    if len % dtype.group_bytes() == 0 {
        Some(len / dtype.group_bytes() * dtype.group_elements())
    } else {
        None
    }
}

/// Decodes elements [first, first + count) of `bytes`; `first` starts a group, and `count` is whole groups unless
/// the range ends the bytes.
pub fn decode_range(dtype: DType, bytes: &[u8], first: usize, count: usize, out: &mut [f64]) {
    let ge = dtype.group_elements();
    let gb = dtype.group_bytes();
    let start = first / ge * gb;
    let groups = (count + ge - 1) / ge;
    if count % ge == 0 {
        decode_f64(dtype, &bytes[start..start + groups * gb], &mut out[..count]);
    } else {
        let mut whole = vec![0.0; groups * ge];
        decode_f64(dtype, &bytes[start..start + groups * gb], &mut whole);
        out[..count].copy_from_slice(&whole[..count]);
    }
}

struct BlockResult {
    sums: [f64; 4],
    max_abs: f64,
    nonfinite_a: bool,
    nonfinite_b: bool,
    counts: Counts,
}

/// One block, in two f64 lanes (even and odd elements; SIMD128 in the wasm build): the sums, the maximum and the
/// counts without branches, and every delta's histogram slot (one copy of the histogram per lane, so that runs of
/// equal slots do not wait on each other). Zeros and non-finite deltas are separated when the raw counts are folded
/// into bins (`finish`). Non-finite values are looked for only when a sum of squares is not finite. Non-finite
/// deltas are left out of the maximum: |d| + (d − d) is NaN for them, and the lane maximum keeps its accumulator
/// against NaN. Counts are accumulated in u64 lanes.
fn compare_block(a: &[f64], b: &[f64], slots: &mut [u64]) -> BlockResult {
    let zero = F64x2::splat(0.0);
    let [mut aa, mut bb, mut dd, mut ab] = [zero; 4];
    let mut max = zero;
    let [mut changed, mut both_nonzero, mut flips, mut zeros_positive, mut zeros_negative] = [Count64x2::zero(); 5];
    let (histogram0, histogram1) = slots.split_at_mut(RAW_SLOTS);
    let pairs = a.len() / 2;
    for (xs, ys) in a[..2 * pairs].chunks_exact(2).zip(b[..2 * pairs].chunks_exact(2)) {
        let (x, y) = (F64x2::load(xs), F64x2::load(ys));
        let d = y.sub(x);
        aa = aa.add(x.mul(x));
        bb = bb.add(y.mul(y));
        dd = dd.add(d.mul(d));
        ab = ab.add(x.mul(y));
        max = max.max(d.abs().add(d.sub(d)));
        let (x_number, y_number) = (x.eq(x), y.eq(y));
        changed = changed.count(x.eq(y).not().and(x_number.or(y_number)));
        let nonzero = x.eq(zero).or(y.eq(zero)).not().and(x_number).and(y_number);
        both_nonzero = both_nonzero.count(nonzero);
        flips = flips.count(nonzero.and(x.sign_bit().xor(y.sign_bit())));
        let (d_zero, d_negative) = (d.eq(zero), d.sign_bit());
        zeros_positive = zeros_positive.count(d_zero.and(d_negative.not()));
        zeros_negative = zeros_negative.count(d_zero.and(d_negative));
        // The mask only tells the compiler what the shift guarantees (14 bits), so the index needs no bounds check.
        let [s0, s1] = d.bits_shr(50);
        histogram0[(s0 as usize) & (RAW_SLOTS - 1)] += 1;
        histogram1[(s1 as usize) & (RAW_SLOTS - 1)] += 1;
    }
    let lanes = |v: F64x2| v.lanes();
    let total = |v: F64x2| lanes(v)[0] + lanes(v)[1];
    let mut result = BlockResult {
        sums: [total(aa), total(bb), total(dd), total(ab)],
        max_abs: lanes(max)[0].max(lanes(max)[1]),
        // Σx² is finite unless some x is non-finite or the sum overflows: only then are the values looked at.
        nonfinite_a: !total(aa).is_finite() && a.iter().any(|x| !x.is_finite()),
        nonfinite_b: !total(bb).is_finite() && b.iter().any(|y| !y.is_finite()),
        counts: Counts {
            n: a.len() as u64,
            changed: changed.total(),
            both_nonzero: both_nonzero.total(),
            sign_flips: flips.total(),
            zeros_positive: zeros_positive.total(),
            zeros_negative: zeros_negative.total(),
        },
    };
    if a.len() % 2 == 1 {
        let (x, y) = (a[a.len() - 1], b[a.len() - 1]);
        let d = y - x;
        for (s, v) in result.sums.iter_mut().zip([x * x, y * y, d * d, x * y]) {
            *s += v;
        }
        result.nonfinite_a |= (x * 0.0).is_nan();
        result.nonfinite_b |= (y * 0.0).is_nan();
        if d - d == 0.0 && d.abs() > result.max_abs {
            result.max_abs = d.abs();
        }
        let nonzero = x != 0.0 && y != 0.0 && x == x && y == y;
        let c = &mut result.counts;
        c.changed += (x != y && (x == x || y == y)) as u64;
        c.both_nonzero += nonzero as u64;
        c.sign_flips += (nonzero && (x < 0.0) != (y < 0.0)) as u64;
        c.zeros_positive += (d.to_bits() == 0) as u64;
        c.zeros_negative += (d.to_bits() == 1 << 63) as u64;
        histogram0[raw_slot(d)] += 1;
    }
    result
}

/// Raw histogram slots: the top 14 bits of an f64 (sign, exponent, two fraction bits).
const RAW_SLOTS: usize = 1 << 14;

#[inline(always)]
fn raw_slot(d: f64) -> usize {
    (d.to_bits() >> 50) as usize
}

/// The histogram bin of a finite nonzero delta: DELTA_BINS_PER_OCTAVE bins per binade, read from the f64 bits.
pub fn delta_bin(d: f64) -> usize {
    let bits = d.to_bits();
    let exponent = ((bits >> 52) & 0x7ff) as i32 - 1023;
    let fraction = ((bits >> 50) & 3) as i32;
    let bin = (exponent - DELTA_LOG2_LO) * DELTA_BINS_PER_OCTAVE as i32 + fraction;
    bin.max(0).min(DELTA_BINS as i32 - 1) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f32_bytes(values: &[f32]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    fn bf16_bytes(values: &[f32]) -> Vec<u8> {
        values.iter().flat_map(|v| ((v.to_bits() >> 16) as u16).to_le_bytes()).collect()
    }

    /// Straightforward float64 reference, element by element.
    fn reference(a: &[f64], b: &[f64]) -> (f64, f64, f64, f64, f64, u64, u64, u64) {
        let (mut aa, mut bb, mut dd, mut ab, mut max) = (0.0, 0.0, 0.0, 0.0, 0.0f64);
        let (mut changed, mut both, mut flips) = (0, 0, 0);
        for (&x, &y) in a.iter().zip(b) {
            aa += x * x;
            bb += y * y;
            dd += (y - x) * (y - x);
            ab += x * y;
            max = max.max((y - x).abs());
            if x != y {
                changed += 1;
            }
            if x != 0.0 && y != 0.0 {
                both += 1;
                if (x < 0.0) != (y < 0.0) {
                    flips += 1;
                }
            }
        }
        (aa.sqrt(), bb.sqrt(), dd.sqrt(), ab / (aa.sqrt() * bb.sqrt()), max, changed, both, flips)
    }

    fn pseudo_random(n: usize, seed: u64) -> Vec<f32> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ((s >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.1
            })
            .collect()
    }

    #[test]
    fn matches_a_naive_float64_reference_on_mixed_dtypes() {
        let n = 10_007;
        let a32 = pseudo_random(n, 1);
        let mut b32 = a32.clone();
        for (i, v) in b32.iter_mut().enumerate() {
            if i % 3 == 0 {
                *v += 0.01 * ((i % 7) as f32 - 3.0);
            }
            if i % 101 == 0 {
                *v = -*v;
            }
        }
        // a as BF16, b as F32: the reference decodes BF16 by truncating the F32 bits, as bf16_bytes encodes.
        let a_dec: Vec<f64> = a32.iter().map(|v| f32::from_bits(v.to_bits() & 0xffff_0000) as f64).collect();
        let b_dec: Vec<f64> = b32.iter().map(|&v| v as f64).collect();
        let mut job = DiffJob::new(DType::BF16, DType::F32);
        job.push(&bf16_bytes(&a32), &f32_bytes(&b32)).unwrap();
        let r = job.finish();
        let (l2a, l2b, l2d, cos, max, changed, both, flips) = reference(&a_dec, &b_dec);
        let close = |x: f64, y: f64| (x - y).abs() <= 1e-12 * y.abs().max(1e-300);
        assert!(close(r.l2_a, l2a) && close(r.l2_b, l2b) && close(r.l2_delta, l2d), "{:?}", (r.l2_a, l2a));
        assert!(close(r.cosine, cos));
        assert!(close(r.rel_delta, l2d / l2a));
        assert_eq!(r.max_abs_delta, max);
        assert_eq!((r.changed, r.both_nonzero, r.sign_flips), (changed, both, flips));
        assert_eq!(r.n, n as u64);
        assert!(!r.identical);
        let histogram_total: u64 = r.delta_positive.iter().chain(&r.delta_negative).sum::<u64>() + r.delta_zeros;
        assert_eq!(histogram_total, n as u64);
    }

    #[test]
    fn results_do_not_depend_on_the_chunking() {
        let n = 3 * BLOCK + 77;
        let a = f32_bytes(&pseudo_random(n, 7));
        let b = f32_bytes(&pseudo_random(n, 8));
        let mut whole = DiffJob::new(DType::F32, DType::F32);
        whole.push(&a, &b).unwrap();
        let want = whole.finish();
        for chunk in [1usize, 3, 4096, 5000, 12_289] {
            let mut job = DiffJob::new(DType::F32, DType::F32);
            for (ca, cb) in a.chunks(chunk * 4).zip(b.chunks(chunk * 4)) {
                job.push(ca, cb).unwrap();
            }
            assert_eq!(job.finish(), want, "chunks of {} elements", chunk);
        }
    }

    #[test]
    fn identical_tensors_and_zero_norms() {
        let values = f32_bytes(&[0.0, 1.5, -2.0, 0.25]);
        let mut job = DiffJob::new(DType::F32, DType::F32);
        job.push(&values, &values).unwrap();
        let r = job.finish();
        assert!(r.identical);
        assert_eq!((r.l2_delta, r.max_abs_delta, r.changed, r.rel_delta), (0.0, 0.0, 0, 0.0));
        assert_eq!(r.cosine, 1.0);
        // ‖a‖·‖a‖ rounds below ‖a‖² for some vectors; the cosine must still be exactly 1.
        for seed in 0..64 {
            let same = f32_bytes(&pseudo_random(37 + seed as usize, seed));
            let mut job = DiffJob::new(DType::F32, DType::F32);
            job.push(&same, &same).unwrap();
            assert_eq!(job.finish().cosine, 1.0);
        }
        let zeros = f32_bytes(&[0.0; 4]);
        let mut job = DiffJob::new(DType::F32, DType::F32);
        job.push(&zeros, &values).unwrap();
        let r = job.finish();
        assert!(r.rel_delta.is_nan() && r.cosine.is_nan());
        assert_eq!(r.l2_a, 0.0);
        // −0 and +0 are the same number but not the same bytes.
        let mut job = DiffJob::new(DType::F32, DType::F32);
        job.push(&f32_bytes(&[-0.0]), &f32_bytes(&[0.0])).unwrap();
        let r = job.finish();
        assert_eq!(r.changed, 0);
        assert!(!r.identical);
    }

    #[test]
    fn non_finite_values_make_the_affected_statistics_undefined() {
        let mut job = DiffJob::new(DType::F32, DType::F32);
        job.push(&f32_bytes(&[f32::NAN, 1.0, f32::INFINITY, 2.0]), &f32_bytes(&[f32::NAN, -1.0, f32::INFINITY, 3.0])).unwrap();
        let r = job.finish();
        assert!(r.l2_a.is_nan() && r.l2_b.is_nan() && r.l2_delta.is_nan() && r.cosine.is_nan() && r.max_abs_delta.is_nan());
        // NaN equals NaN and Inf equals Inf: two changed elements, one sign flip among the three signed pairs.
        assert_eq!((r.changed, r.both_nonzero, r.sign_flips), (2, 3, 1));
        assert_eq!((r.nonfinite_a, r.nonfinite_b, r.delta_nonfinite), (true, true, 2));
        let mut job = DiffJob::new(DType::F32, DType::F32);
        job.push(&f32_bytes(&[1.0, 2.0]), &f32_bytes(&[1.0, f32::INFINITY])).unwrap();
        let r = job.finish();
        assert_eq!(r.l2_a, 5f64.sqrt());
        assert!(r.l2_b.is_nan() && r.cosine.is_nan() && r.rel_delta.is_nan());
    }

    #[test]
    fn zeros_of_either_sign_and_subnormal_deltas_are_told_apart() {
        let tiny = f64::from_bits(3); // a subnormal
        let a: Vec<u8> = [0.0f64, 0.0, 1.0, 0.0, 2.0].iter().flat_map(|v| v.to_le_bytes()).collect();
        let b: Vec<u8> = [0.0f64, -0.0, 1.0, tiny, 1e300].iter().flat_map(|v| v.to_le_bytes()).collect();
        let mut job = DiffJob::new(DType::F64, DType::F64);
        job.push(&a, &b).unwrap();
        let r = job.finish();
        assert_eq!(r.delta_zeros, 3, "+0, −0 and 1 − 1");
        assert_eq!((r.delta_positive[0], r.delta_positive[DELTA_BINS - 1]), (1, 1));
        assert_eq!(r.delta_positive.iter().sum::<u64>() + r.delta_negative.iter().sum::<u64>(), 2);
    }

    #[test]
    fn delta_bytes_are_b_minus_a_in_f64() {
        let a = bf16_bytes(&[1.0, -2.0, 0.5]);
        let b = f32_bytes(&[1.5, 2.0, 0.5]);
        let out = delta_bytes(DType::BF16, &a, DType::F32, &b).unwrap();
        let values: Vec<f64> = out.chunks_exact(8).map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]])).collect();
        assert_eq!(values, vec![0.5, 4.0, 0.0]);
        assert_eq!(delta_bytes(DType::F32, &[0; 8], DType::F32, &[0; 4]), None);
    }

    #[test]
    fn delta_bins_follow_powers_of_two() {
        assert_eq!(delta_bin(1.0), (-DELTA_LOG2_LO) as usize * DELTA_BINS_PER_OCTAVE);
        assert_eq!(delta_bin(-1.0), delta_bin(1.0));
        assert_eq!(delta_bin(1.25), delta_bin(1.0) + 1);
        assert_eq!(delta_bin(1.75), delta_bin(1.0) + 3);
        assert_eq!(delta_bin(2.0), delta_bin(1.0) + 4);
        assert_eq!(delta_bin(1e-300), 0);
        assert_eq!(delta_bin(1e300), DELTA_BINS - 1);
    }

    #[test]
    fn refuses_partial_elements_and_uneven_sides() {
        let mut job = DiffJob::new(DType::F32, DType::BF16);
        assert_eq!(job.push(&[0; 3], &[0; 2]), Err(DiffError::BadInput));
        assert_eq!(job.push(&[0; 4], &[0; 4]), Err(DiffError::BadInput));
        assert!(job.push(&[0; 8], &[0; 4]).is_ok());
        job.finish();
        assert_eq!(job.push(&[0; 4], &[0; 2]), Err(DiffError::WrongPhase));
    }
}
