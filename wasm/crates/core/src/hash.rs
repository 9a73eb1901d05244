//! Counter-based pseudo-random numbers: a value is a pure function of (key, index), so results never depend on
//! how work is split into chunks or workers. The mixer is SplitMix64's finalizer.

/// SplitMix64's finalizer: a bijective 64-bit mix.
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The golden-ratio increment of SplitMix64.
pub const GOLDEN: u64 = 0x9e37_79b9_7f4a_7c15;

/// The 53 random bits of the `index`-th draw of stream `key`.
pub fn uniform_bits(key: u64, index: u64) -> u64 {
    mix64(key.wrapping_add(index.wrapping_add(1).wrapping_mul(GOLDEN))) >> 11
}

/// A uniform value in [0, 1): `uniform_bits` / 2⁵³.
pub fn uniform(key: u64, index: u64) -> f64 {
    uniform_bits(key, index) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// A standard normal value (Box–Muller on two uniforms): the `index`-th draw of stream `key`.
pub fn gaussian(key: u64, index: u64) -> f64 {
    let u1 = uniform(key, 2 * index);
    let u2 = uniform(key, 2 * index + 1);
    (-2.0 * (1.0 - u1).ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// FNV-1a over bytes (64-bit): how a tensor name becomes part of a stream key.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        // SplitMix64 seeded with 0 yields mix64(GOLDEN) first.
        assert_eq!(mix64(GOLDEN), 0xe220_a839_7b1d_cdaf);
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn uniforms_are_uniform_and_gaussians_standard() {
        let n = 200_000u64;
        let mean: f64 = (0..n).map(|i| uniform(42, i)).sum::<f64>() / n as f64;
        assert!((mean - 0.5).abs() < 0.005, "{}", mean);
        let (s1, s2) = (0..n).map(|i| gaussian(7, i)).fold((0.0, 0.0), |(a, b), g| (a + g, b + g * g));
        assert!((s1 / n as f64).abs() < 0.01 && (s2 / n as f64 - 1.0).abs() < 0.02);
        assert!((0..1000).all(|i| (0.0..1.0).contains(&uniform(i, i))));
    }
}
