//! Checking a block of decoded values for NaN and infinities, so hot loops can take a path without per-value tests.

use crate::simd::F64x2;

/// No NaN or infinity among `values` (x − x is 0 exactly for finite x, NaN otherwise), eight values at a time into
/// four independent probes: one probe would chain every add on the previous one and run at the adder's latency
/// (a fifth of a heatmap tile's time).
pub fn all_finite(values: &[f64]) -> bool {
    let mut probes = [F64x2::splat(0.0); 4];
    let octets = values.chunks_exact(8);
    let rest = octets.remainder();
    for octet in octets {
        for (k, probe) in probes.iter_mut().enumerate() {
            let v = F64x2::load(&octet[2 * k..]);
            *probe = probe.add(v.sub(v));
        }
    }
    let [a, b] = probes[0].add(probes[1]).add(probes[2].add(probes[3])).lanes();
    rest.iter().all(|v| v - v == 0.0) && a + b == 0.0
}

#[cfg(test)]
mod tests {
    use super::all_finite;

    #[test]
    fn finds_nan_and_infinities_anywhere() {
        let mut values = vec![1.0, -2.0, 0.0, 1e300, -1e-300, 5.0, 6.0, 7.0, -8.0, 9.0, 1e-9, 11.0, 12.0, -13.0, 14.0, 15.0, 16.0, 17.0, 18.0];
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
