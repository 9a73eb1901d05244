//! Mergeable central moments (Chan / Pébay): combining two partial results gives the moments of the union.

/// Count, mean and central sums M2..M4 of a set of values, in f64.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Moments {
    /// Number of values.
    pub n: f64,
    /// Mean.
    pub mean: f64,
    /// Σ(x − mean)².
    pub m2: f64,
    /// Σ(x − mean)³.
    pub m3: f64,
    /// Σ(x − mean)⁴.
    pub m4: f64,
}

impl Moments {
    /// Two-pass moments of a block held in memory (accurate: deviations are taken from the block's own mean).
    pub fn of_block(values: &[f64]) -> Moments {
        if values.is_empty() {
            return Moments::default();
        }
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        let (mut m2, mut m3, mut m4) = (0.0, 0.0, 0.0);
        for &x in values {
            let d = x - mean;
            let d2 = d * d;
            m2 += d2;
            m3 += d2 * d;
            m4 += d2 * d2;
        }
        Moments { n, mean, m2, m3, m4 }
    }

    /// Adds another set (Pébay's pairwise update formulas).
    pub fn merge(&mut self, b: &Moments) {
        if b.n == 0.0 {
            return;
        }
        if self.n == 0.0 {
            *self = *b;
            return;
        }
        let (na, nb) = (self.n, b.n);
        let n = na + nb;
        let delta = b.mean - self.mean;
        let d_n = delta / n;
        let d_n2 = d_n * d_n;
        let term = delta * d_n * na * nb;
        let m4 = self.m4 + b.m4 + term * d_n2 * (na * na - na * nb + nb * nb)
            + 6.0 * d_n2 * (na * na * b.m2 + nb * nb * self.m2)
            + 4.0 * d_n * (na * b.m3 - nb * self.m3);
        let m3 = self.m3 + b.m3 + term * d_n * (na - nb) + 3.0 * d_n * (na * b.m2 - nb * self.m2);
        self.m2 += b.m2 + term;
        self.m3 = m3;
        self.m4 = m4;
        self.mean += d_n * nb;
        self.n = n;
    }

    /// Population standard deviation.
    pub fn std(&self) -> f64 {
        (self.m2 / self.n).sqrt()
    }

    /// E[(x−μ)³]/σ³, or NaN when undefined.
    pub fn skewness(&self) -> f64 {
        if self.n == 0.0 || self.m2 <= 0.0 {
            return f64::NAN;
        }
        (self.m3 / self.n) / (self.m2 / self.n).powf(1.5)
    }

    /// Excess kurtosis E[(x−μ)⁴]/σ⁴ − 3, or NaN when undefined.
    pub fn kurtosis(&self) -> f64 {
        if self.n == 0.0 || self.m2 <= 0.0 {
            return f64::NAN;
        }
        let var = self.m2 / self.n;
        (self.m4 / self.n) / (var * var) - 3.0
    }
}

#[cfg(test)]
mod tests {
    use super::Moments;

    #[test]
    fn merging_blocks_equals_the_whole() {
        let values: Vec<f64> = (0..1000).map(|i| ((i * 7919) % 1013) as f64 * 0.01 - 3.0).collect();
        let whole = Moments::of_block(&values);
        for split in [1, 10, 333, 999] {
            let mut merged = Moments::of_block(&values[..split]);
            merged.merge(&Moments::of_block(&values[split..]));
            for (a, b) in [(whole.mean, merged.mean), (whole.m2, merged.m2), (whole.m3, merged.m3), (whole.m4, merged.m4)] {
                assert!((a - b).abs() <= 1e-9 * a.abs().max(1.0), "{} vs {} at split {}", a, b, split);
            }
        }
    }
}
