//! Checking a block of decoded values for NaN and infinities, so hot loops can take a path without per-value tests.

use crate::simd::F64x2;

/// No NaN or infinity among `values` (x − x is 0 exactly for finite x, NaN otherwise), two lanes at a time.
pub fn all_finite(values: &[f64]) -> bool {
    let mut probe = F64x2::splat(0.0);
    let pairs = values.chunks_exact(2);
    let rest = pairs.remainder();
    for pair in pairs {
        let v = F64x2::load(pair);
        probe = probe.add(v.sub(v));
    }
    let [a, b] = probe.lanes();
    rest.iter().all(|v| v - v == 0.0) && a + b == 0.0
}

#[cfg(test)]
mod tests {
    use super::all_finite;

    #[test]
    fn finds_nan_and_infinities_anywhere() {
        let mut values = vec![1.0, -2.0, 0.0, 1e300, -1e-300, 5.0, 6.0];
        assert!(all_finite(&values) && all_finite(&[]));
        for at in 0..values.len() {
            for special in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
                let keep = values[at];
                values[at] = special;
                assert!(!all_finite(&values), "{} at {}", special, at);
                values[at] = keep;
            }
        }
    }
}
