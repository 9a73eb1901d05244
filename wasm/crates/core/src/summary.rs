//! A streaming summary of decoded values: moments, L2, extremes and zero count of the finite ones, counts of NaN and
//! ±Inf. Finite values are folded in blocks of `BLOCK` consecutive finite values and merged pairwise (Chan/Pébay),
//! so results do not depend on how the stream was cut into chunks.
//!
//! Each block is one SIMD pass of power sums of d = x − c around a fixed shift c (the mean of the first block), turned
//! into the block's exact central moments by the binomial identities; with c near the data's centre this loses
//! nothing a float64 reference would notice, and it reads each value once.
use crate::moments::Moments;
use crate::simd::F64x2;

/// Finite values per block.
pub const BLOCK: usize = 4096;

/// Moments and counts of a stream of values.
#[derive(Clone, Debug)]
pub struct FiniteSummary {
    pending: Vec<f64>,
    shift: Option<f64>,
    /// Moments of the finite values folded so far.
    pub moments: Moments,
    /// Σx² of the finite values.
    pub sumsq: f64,
    /// Values equal to zero.
    pub zeros: u64,
    /// NaN values.
    pub nan: u64,
    /// +Inf values.
    pub posinf: u64,
    /// −Inf values.
    pub neginf: u64,
    /// Smallest finite value (+∞ when none).
    pub min: f64,
    /// Largest finite value (−∞ when none).
    pub max: f64,
    /// Smallest nonzero |x| (+∞ when none).
    pub min_abs_nonzero: f64,
}

/// What one pass over a block gathers.
struct BlockSums {
    n: f64,
    s: [f64; 4],
    min: f64,
    max: f64,
    min_abs_nonzero: f64,
    zeros: f64,
}

impl Default for FiniteSummary {
    fn default() -> FiniteSummary {
        FiniteSummary {
            pending: Vec::with_capacity(BLOCK),
            shift: None,
            moments: Moments::default(),
            sumsq: 0.0,
            zeros: 0,
            nan: 0,
            posinf: 0,
            neginf: 0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            min_abs_nonzero: f64::INFINITY,
        }
    }
}

impl FiniteSummary {
    /// An empty summary.
    pub fn new() -> FiniteSummary {
        FiniteSummary::default()
    }

    /// Finite values seen so far.
    pub fn count(&self) -> u64 {
        self.moments.n as u64 + self.pending.len() as u64
    }

    /// Adds values in stream order.
    pub fn push(&mut self, mut values: &[f64]) {
        while !values.is_empty() {
            // Fast path: a whole block straight from the input, kept only if every value was finite.
            if self.pending.is_empty() && values.len() >= BLOCK && self.shift.is_some() {
                let sums = block_sums(&values[..BLOCK], self.shift.unwrap_or(0.0));
                if sums.s[0].is_finite() && sums.s[1].is_finite() {
                    self.commit(&sums);
                    values = &values[BLOCK..];
                    continue;
                }
            }
            let take = values.len().min(BLOCK);
            for &v in &values[..take] {
                if v.is_finite() {
                    self.pending.push(v);
                    if self.pending.len() == BLOCK {
                        self.flush();
                    }
                } else if v.is_nan() {
                    self.nan += 1;
                } else if v > 0.0 {
                    self.posinf += 1;
                } else {
                    self.neginf += 1;
                }
            }
            values = &values[take..];
        }
    }

    /// Folds the values not yet in a full block (at the end of the stream, or before a merge).
    pub fn flush(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let shift = match self.shift {
            Some(c) => c,
            None => {
                let c = self.pending.iter().sum::<f64>() / self.pending.len() as f64;
                self.shift = Some(c);
                c
            }
        };
        let sums = block_sums(&self.pending, shift);
        self.commit(&sums);
        self.pending.clear();
    }

    fn commit(&mut self, b: &BlockSums) {
        let c = self.shift.unwrap_or(0.0);
        let n = b.n;
        let [s1, s2, s3, s4] = b.s;
        let delta = s1 / n;
        let m2 = (s2 - n * delta * delta).max(0.0);
        let m3 = s3 - 3.0 * delta * s2 + 2.0 * n * delta * delta * delta;
        let m4 = s4 - 4.0 * delta * s3 + 6.0 * delta * delta * s2 - 3.0 * n * delta * delta * delta * delta;
        self.moments.merge(&Moments { n, mean: c + delta, m2, m3, m4 });
        self.sumsq += s2 + 2.0 * c * s1 + n * c * c;
        self.zeros += b.zeros as u64;
        self.min = self.min.min(b.min);
        self.max = self.max.max(b.max);
        self.min_abs_nonzero = self.min_abs_nonzero.min(b.min_abs_nonzero);
    }

    /// Adds the summary of other values (both flushed first).
    pub fn merge(&mut self, other: &FiniteSummary) {
        self.flush();
        let mut other = other.clone();
        other.flush();
        self.moments.merge(&other.moments);
        self.sumsq += other.sumsq;
        self.zeros += other.zeros;
        self.nan += other.nan;
        self.posinf += other.posinf;
        self.neginf += other.neginf;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.min_abs_nonzero = self.min_abs_nonzero.min(other.min_abs_nonzero);
        self.shift = self.shift.or(other.shift);
    }
}

/// Power sums of x − c and the extremes of a block, two f64 lanes at a time. A NaN or ±Inf anywhere makes the sums
/// non-finite, which the caller checks.
fn block_sums(block: &[f64], c: f64) -> BlockSums {
    let vc = F64x2::splat(c);
    let inf = F64x2::splat(f64::INFINITY);
    let zero = F64x2::splat(0.0);
    let (mut s1, mut s2, mut s3, mut s4) = (zero, zero, zero, zero);
    let (mut min, mut max, mut min_abs, mut zeros) = (inf, F64x2::splat(f64::NEG_INFINITY), inf, zero);
    let n = block.len();
    for pair in block.chunks_exact(2) {
        let x = F64x2::load(pair);
        let d = x.sub(vc);
        let d2 = d.mul(d);
        s1 = s1.add(d);
        s2 = s2.add(d2);
        s3 = s3.add(d2.mul(d));
        s4 = s4.add(d2.mul(d2));
        min = min.min(x);
        max = max.max(x);
        min_abs = min_abs.min(x.abs().zero_to(inf));
        zeros = zeros.add(x.is_zero());
    }
    let lanes = |v: F64x2| v.lanes();
    let mut out = BlockSums {
        n: n as f64,
        s: [s1, s2, s3, s4].map(|v| lanes(v)[0] + lanes(v)[1]),
        min: lanes(min)[0].min(lanes(min)[1]),
        max: lanes(max)[0].max(lanes(max)[1]),
        min_abs_nonzero: lanes(min_abs)[0].min(lanes(min_abs)[1]),
        zeros: lanes(zeros)[0] + lanes(zeros)[1],
    };
    for &x in &block[n / 2 * 2..] {
        let d = x - c;
        let d2 = d * d;
        out.s[0] += d;
        out.s[1] += d2;
        out.s[2] += d2 * d;
        out.s[3] += d2 * d2;
        out.min = out.min.min(x);
        out.max = out.max.max(x);
        if x == 0.0 {
            out.zeros += 1.0;
        } else {
            out.min_abs_nonzero = out.min_abs_nonzero.min(x.abs());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{FiniteSummary, BLOCK};

    fn values(n: usize) -> Vec<f64> {
        let mut s = 12345u64;
        (0..n)
            .map(|i| {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                match i % 997 {
                    5 => f64::NAN,
                    6 => f64::INFINITY,
                    7 => f64::NEG_INFINITY,
                    8 => 0.0,
                    9 => 1e-40,
                    _ => ((s >> 11) as f64 / (1u64 << 53) as f64 - 0.3) * 7.0,
                }
            })
            .collect()
    }

    fn same(a: &FiniteSummary, b: &FiniteSummary) {
        assert_eq!(a.moments, b.moments);
        assert_eq!((a.sumsq, a.zeros, a.nan, a.posinf, a.neginf), (b.sumsq, b.zeros, b.nan, b.posinf, b.neginf));
        assert_eq!((a.min, a.max, a.min_abs_nonzero), (b.min, b.max, b.min_abs_nonzero));
    }

    #[test]
    fn chunking_does_not_change_any_result() {
        let v = values(3 * BLOCK + 123);
        let mut whole = FiniteSummary::new();
        whole.push(&v);
        whole.flush();
        for chunk in [1, 7, 1000, BLOCK, BLOCK + 1] {
            let mut s = FiniteSummary::new();
            for c in v.chunks(chunk) {
                s.push(c);
            }
            s.flush();
            same(&s, &whole);
        }
    }

    #[test]
    fn matches_a_naive_float64_reference() {
        let v = values(5 * BLOCK + 77);
        let mut s = FiniteSummary::new();
        s.push(&v);
        s.flush();
        let finite: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
        let n = finite.len() as f64;
        let mean = finite.iter().sum::<f64>() / n;
        let m2: f64 = finite.iter().map(|x| (x - mean).powi(2)).sum();
        let m4: f64 = finite.iter().map(|x| (x - mean).powi(4)).sum();
        assert_eq!(s.count(), finite.len() as u64);
        assert!((s.moments.mean - mean).abs() < 1e-12);
        assert!((s.moments.m2 - m2).abs() < 1e-9 * m2);
        assert!((s.moments.m4 - m4).abs() < 1e-9 * m4);
        assert_eq!(s.zeros, finite.iter().filter(|&&x| x == 0.0).count() as u64);
        let count = |f: fn(&f64) -> bool| v.iter().filter(|x| f(x)).count() as u64;
        assert_eq!((s.nan, s.posinf, s.neginf), (count(|x| x.is_nan()), count(|x| *x == f64::INFINITY), count(|x| *x == f64::NEG_INFINITY)));
        assert_eq!(s.min, finite.iter().cloned().fold(f64::INFINITY, f64::min));
        assert_eq!(s.min_abs_nonzero, 1e-40);
    }

    #[test]
    fn merging_two_halves_equals_folding_them_in_order() {
        let v = values(2 * BLOCK);
        let mut whole = FiniteSummary::new();
        whole.push(&v);
        whole.flush();
        let (a, b) = v.split_at(BLOCK + 500);
        let mut left = FiniteSummary::new();
        left.push(a);
        let mut right = FiniteSummary::new();
        right.push(b);
        left.merge(&right);
        assert_eq!(left.count(), whole.count());
        assert!((left.moments.mean - whole.moments.mean).abs() < 1e-12);
        assert!((left.moments.m2 - whole.moments.m2).abs() < 1e-9 * whole.moments.m2);
    }
}
