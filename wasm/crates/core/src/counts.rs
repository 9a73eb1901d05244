//! Exact counts of raw bit patterns: the hot loop of every statistics scan. Types of at most 16 bits are counted
//! whole; wider types by their top 16 bits (sign, exponent and leading mantissa bits of a float).
//!
//! Counters are u32 lanes flushed into u64 totals long before they could overflow. Repeated values are common in
//! real tensors (zeros, constant norms, FP8's few patterns), and incrementing one counter back to back stalls on
//! store-to-load forwarding, so 8-bit patterns rotate over four lanes and runs of four equal 16-bit patterns are
//! added at once.

/// Increments per lane before the lanes are flushed into the totals (far below u32 overflow).
const FLUSH_AFTER: u64 = 1 << 31;
const LANES_8: usize = 4;

/// Counts of every pattern of a `bits`-wide field (at most 16 bits).
#[derive(Clone)]
pub struct PatternCounts {
    patterns: usize,
    lanes: Vec<u32>,
    totals: Vec<u64>,
    since_flush: u64,
}

impl PatternCounts {
    /// Counters for `bits`-wide patterns (1 ≤ bits ≤ 16).
    pub fn new(bits: u32) -> PatternCounts {
        let patterns = 1usize << bits;
        // Only bytes rotate lanes: a 16-bit table is large enough that repeats rarely meet back to back.
        let lanes = if bits == 8 { LANES_8 } else { 1 };
        PatternCounts { patterns, lanes: vec![0; patterns * lanes], totals: vec![0; patterns], since_flush: 0 }
    }

    /// Number of distinct patterns.
    pub fn patterns(&self) -> usize {
        self.patterns
    }

    fn reserve(&mut self, elements: usize) {
        if self.since_flush + elements as u64 >= FLUSH_AFTER {
            self.flush();
        }
        self.since_flush += elements as u64;
    }

    fn flush(&mut self) {
        for lane in self.lanes.chunks_exact_mut(self.patterns) {
            for (total, count) in self.totals.iter_mut().zip(lane.iter_mut()) {
                *total += *count as u64;
                *count = 0;
            }
        }
        self.since_flush = 0;
    }

    /// Counts little-endian 16-bit elements.
    pub fn count16(&mut self, bytes: &[u8]) {
        self.count_high16(bytes, 2);
    }

    /// Counts the top 16 bits (the last two bytes, little-endian) of each `size`-byte element (2, 4 or 8).
    pub fn count_high16(&mut self, bytes: &[u8], size: usize) {
        debug_assert_eq!(self.patterns, 1 << 16);
        self.reserve(bytes.len() / size);
        let lane = as_table16(&mut self.lanes[..1 << 16]);
        match size {
            2 => count_high16_sized::<2>(lane, bytes),
            4 => count_high16_sized::<4>(lane, bytes),
            _ => count_high16_sized::<8>(lane, bytes),
        }
    }

    /// Counts bytes, rotating over four lanes.
    pub fn count8(&mut self, bytes: &[u8]) {
        debug_assert_eq!(self.patterns, 256);
        self.reserve(bytes.len());
        let (l0, rest) = self.lanes.split_at_mut(256);
        let (l1, rest) = rest.split_at_mut(256);
        let (l2, l3) = rest.split_at_mut(256);
        let (l0, l1, l2, l3) = (as_table8(l0), as_table8(l1), as_table8(l2), as_table8(&mut l3[..256]));
        let mut quads = bytes.chunks_exact(4);
        for q in &mut quads {
            l0[q[0] as usize] += 1;
            l1[q[1] as usize] += 1;
            l2[q[2] as usize] += 1;
            l3[q[3] as usize] += 1;
        }
        for &b in quads.remainder() {
            l0[b as usize] += 1;
        }
    }

    /// Counts 6-bit patterns packed four to three bytes (element i in bits [6i, 6i + 6) of the little-endian word).
    pub fn count6(&mut self, bytes: &[u8]) {
        self.reserve(bytes.len() / 3 * 4);
        for g in bytes.chunks_exact(3) {
            let w = g[0] as u32 | (g[1] as u32) << 8 | (g[2] as u32) << 16;
            for i in 0..4 {
                self.lanes[((w >> (6 * i)) & 63) as usize] += 1;
            }
        }
    }

    /// Counts 4-bit patterns packed two to a byte.
    pub fn count4(&mut self, bytes: &[u8]) {
        self.reserve(bytes.len() * 2);
        for &b in bytes {
            self.lanes[(b & 15) as usize] += 1;
            self.lanes[(b >> 4) as usize] += 1;
        }
    }

    /// Adds another table's counts.
    pub fn merge(&mut self, other: &PatternCounts) {
        self.flush();
        let mut other = other.clone();
        other.flush();
        for (a, b) in self.totals.iter_mut().zip(&other.totals) {
            *a += *b;
        }
    }

    /// The exact count of every pattern.
    pub fn totals(&mut self) -> &[u64] {
        self.flush();
        &self.totals
    }
}

/// The top 16 bits of each `SIZE`-byte element, four elements at a time; a run of four equal patterns is one add.
/// Four quads per loop iteration: the loop's own bookkeeping is then a small share of the work (+10% measured).
fn count_high16_sized<const SIZE: usize>(lane: &mut [u32; 1 << 16], bytes: &[u8]) {
    let mut blocks = bytes.chunks_exact(16 * SIZE);
    for block in &mut blocks {
        for q in block.chunks_exact(4 * SIZE) {
            count_quad::<SIZE>(lane, q);
        }
    }
    let mut quads = blocks.remainder().chunks_exact(4 * SIZE);
    for q in &mut quads {
        count_quad::<SIZE>(lane, q);
    }
    for e in quads.remainder().chunks_exact(SIZE) {
        lane[top16::<SIZE>(e)] += 1;
    }
}

#[inline(always)]
fn count_quad<const SIZE: usize>(lane: &mut [u32; 1 << 16], q: &[u8]) {
    let (p0, p1, p2, p3) = (top16::<SIZE>(&q[..SIZE]), top16::<SIZE>(&q[SIZE..2 * SIZE]), top16::<SIZE>(&q[2 * SIZE..3 * SIZE]), top16::<SIZE>(&q[3 * SIZE..]));
    if p0 == p1 && p1 == p2 && p2 == p3 {
        lane[p0] += 4;
    } else {
        lane[p0] += 1;
        lane[p1] += 1;
        lane[p2] += 1;
        lane[p3] += 1;
    }
}

#[inline(always)]
fn top16<const SIZE: usize>(e: &[u8]) -> usize {
    u16::from_le_bytes([e[SIZE - 2], e[SIZE - 1]]) as usize
}

/// A lane as a fixed-size table, so indexing by a u16 needs no bounds check.
fn as_table16(lane: &mut [u32]) -> &mut [u32; 1 << 16] {
    lane.try_into().expect("a 16-bit lane holds 65,536 counters")
}

fn as_table8(lane: &mut [u32]) -> &mut [u32; 256] {
    lane.try_into().expect("an 8-bit lane holds 256 counters")
}

#[cfg(test)]
mod tests {
    use super::PatternCounts;

    fn naive16(bytes: &[u8], size: usize) -> Vec<u64> {
        let mut out = vec![0u64; 1 << 16];
        for e in bytes.chunks_exact(size) {
            out[u16::from_le_bytes([e[size - 2], e[size - 1]]) as usize] += 1;
        }
        out
    }

    fn sample(len: usize) -> Vec<u8> {
        let mut s = 0x9e37_79b9u32;
        (0..len)
            .map(|i| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                // Runs of equal bytes now and then, to exercise the run shortcut.
                if (i / 64) % 3 == 0 {
                    7
                } else {
                    (s >> 24) as u8
                }
            })
            .collect()
    }

    #[test]
    fn every_kernel_counts_exactly_whatever_the_chunking() {
        let bytes = sample(6000);
        for size in [2usize, 4, 8] {
            let want = naive16(&bytes[..bytes.len() / size * size], size);
            for chunk in [size, 3 * size, 4 * size, 17 * size, 1000 * size] {
                let mut counts = PatternCounts::new(16);
                for c in bytes[..bytes.len() / size * size].chunks(chunk) {
                    counts.count_high16(c, size);
                }
                assert_eq!(counts.totals(), &want[..], "size {} chunk {}", size, chunk);
            }
        }
        let mut c8 = PatternCounts::new(8);
        c8.count8(&bytes[..3]);
        c8.count8(&bytes[3..]);
        let mut want8 = vec![0u64; 256];
        bytes.iter().for_each(|&b| want8[b as usize] += 1);
        assert_eq!(c8.totals(), &want8[..]);
    }

    #[test]
    fn merging_adds_counts() {
        let bytes = sample(4096);
        let mut a = PatternCounts::new(16);
        a.count16(&bytes[..1000]);
        let mut b = PatternCounts::new(16);
        b.count16(&bytes[1000..]);
        a.merge(&b);
        assert_eq!(a.totals(), &naive16(&bytes, 2)[..]);
    }
}
