//! Checking a block of decoded values for NaN and infinities, so hot loops can take a path without per-value tests.

/// No NaN or infinity among `values` (x − x is 0 exactly for finite x), in four lanes (vectorizes).
pub fn all_finite(values: &[f64]) -> bool {
    let mut lanes = [0.0f64; 4];
    let quads = values.chunks_exact(4);
    let rest = quads.remainder();
    for quad in quads {
        for l in 0..4 {
            lanes[l] += quad[l] - quad[l];
        }
    }
    rest.iter().all(|v| v - v == 0.0) && (lanes[0] + lanes[1] + lanes[2] + lanes[3]) == 0.0
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
