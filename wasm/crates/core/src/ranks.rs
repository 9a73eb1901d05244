//! The exact r-th largest of streamed 64-bit keys in a few passes with bounded memory: each pass counts the next 16
//! bits of the keys that share the prefix found so far (radix selection). A bucket whose keys are all equal ends the
//! search early, so 8- and 16-bit types resolve in one or two passes however long the tensor is.
//!
//! Keys here are `|x|.to_bits()` of finite f64 values, which order like the magnitudes.

const BUCKETS: usize = 1 << 16;

/// Counts of the next 16 key bits among keys with a given prefix, with the smallest and largest key per bucket.
#[derive(Clone)]
pub struct Histogram16 {
    prefix: u64,
    known_bits: u32,
    counts: Vec<u64>,
    lo: Vec<u64>,
    hi: Vec<u64>,
}

impl Histogram16 {
    /// A histogram of keys whose top `known_bits` bits equal those of `prefix` (0 bits: every key).
    pub fn new(prefix: u64, known_bits: u32) -> Histogram16 {
        Histogram16 { prefix, known_bits, counts: vec![0; BUCKETS], lo: vec![u64::MAX; BUCKETS], hi: vec![0; BUCKETS] }
    }

    fn matches(&self, key: u64) -> bool {
        self.known_bits == 0 || (key ^ self.prefix) >> (64 - self.known_bits) == 0
    }

    /// Counts one key (ignored when it does not share the prefix).
    pub fn add(&mut self, key: u64) {
        if self.matches(key) {
            let bucket = ((key >> (48 - self.known_bits)) & 0xffff) as usize;
            self.counts[bucket] += 1;
            if key < self.lo[bucket] {
                self.lo[bucket] = key;
            }
            if key > self.hi[bucket] {
                self.hi[bucket] = key;
            }
        }
    }
}

/// Where the search for one rank stands.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Search {
    /// Keys sharing `prefix` (top `known_bits`) hold the answer; `greater` keys lie above that prefix.
    Narrowing { prefix: u64, known_bits: u32, greater: u64 },
    /// The key of that rank, and how many keys are strictly greater.
    Found { key: u64, greater: u64 },
    /// Fewer keys than the rank.
    Absent,
}

/// Finds the keys of several ranks (1 = the largest) at once.
#[derive(Clone)]
pub struct RankSearch {
    ranks: Vec<u64>,
    searches: Vec<Search>,
    histograms: Vec<Histogram16>,
}

impl RankSearch {
    /// Starts from a first pass over every key (a histogram with no prefix).
    pub fn start(ranks: &[u64], first: &Histogram16) -> RankSearch {
        let mut search = RankSearch {
            ranks: ranks.to_vec(),
            searches: vec![Search::Narrowing { prefix: 0, known_bits: 0, greater: 0 }; ranks.len()],
            histograms: Vec::new(),
        };
        search.settle(std::slice::from_ref(first));
        search
    }

    /// True when every rank is found (or absent): no more passes are needed.
    pub fn is_done(&self) -> bool {
        self.histograms.is_empty()
    }

    /// Counts one key of the current pass.
    pub fn add(&mut self, key: u64) {
        for histogram in &mut self.histograms {
            histogram.add(key);
        }
    }

    /// Ends a pass: narrows every open search by the 16 bits just counted.
    pub fn end_pass(&mut self) {
        let histograms = std::mem::take(&mut self.histograms);
        self.settle(&histograms);
    }

    /// The key of rank `ranks[i]` and the number of keys strictly greater, or None when there are fewer keys.
    pub fn found(&self, i: usize) -> Option<(u64, u64)> {
        match self.searches[i] {
            Search::Found { key, greater } => Some((key, greater)),
            _ => None,
        }
    }

    /// Narrows each open search with the histogram of its prefix, then opens the histograms the next pass needs.
    fn settle(&mut self, histograms: &[Histogram16]) {
        for (search, &rank) in self.searches.iter_mut().zip(&self.ranks) {
            let (prefix, known_bits, greater) = match *search {
                Search::Narrowing { prefix, known_bits, greater } => (prefix, known_bits, greater),
                _ => continue,
            };
            let histogram = match histograms.iter().find(|h| h.prefix == prefix && h.known_bits == known_bits) {
                Some(h) => h,
                None => continue,
            };
            let mut above = greater;
            *search = Search::Absent;
            for bucket in (0..BUCKETS).rev() {
                let count = histogram.counts[bucket];
                if above + count >= rank && count > 0 {
                    let known_bits = known_bits + 16;
                    *search = if histogram.lo[bucket] == histogram.hi[bucket] || known_bits == 64 {
                        Search::Found { key: histogram.hi[bucket], greater: above }
                    } else {
                        Search::Narrowing { prefix: histogram.lo[bucket] & !(u64::MAX >> known_bits), known_bits, greater: above }
                    };
                    break;
                }
                above += count;
            }
        }
        for search in &self.searches {
            if let Search::Narrowing { prefix, known_bits, .. } = *search {
                if !self.histograms.iter().any(|h| h.prefix == prefix && h.known_bits == known_bits) {
                    self.histograms.push(Histogram16::new(prefix, known_bits));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(keys: &[u64], ranks: &[u64]) -> (Vec<Option<(u64, u64)>>, usize) {
        let mut first = Histogram16::new(0, 0);
        keys.iter().for_each(|&k| first.add(k));
        let mut search = RankSearch::start(ranks, &first);
        let mut passes = 1;
        while !search.is_done() {
            keys.iter().for_each(|&k| search.add(k));
            search.end_pass();
            passes += 1;
        }
        ((0..ranks.len()).map(|i| search.found(i)).collect(), passes)
    }

    #[test]
    fn finds_exact_ranks_with_ties() {
        let values = [0.5f64, 3.0, 3.0, -7.25, 1e-30, 0.0, 3.0, 2.9999999999999996, 1e300];
        let keys: Vec<u64> = values.iter().map(|v| v.abs().to_bits()).collect();
        let mut sorted = keys.clone();
        sorted.sort_unstable_by(|a, b| b.cmp(a));
        let ranks: Vec<u64> = (1..=keys.len() as u64 + 1).collect();
        let (found, _) = run(&keys, &ranks);
        for (i, &rank) in ranks.iter().enumerate() {
            if rank as usize > keys.len() {
                assert_eq!(found[i], None);
                continue;
            }
            let key = sorted[rank as usize - 1];
            let greater = sorted.iter().filter(|&&k| k > key).count() as u64;
            assert_eq!(found[i], Some((key, greater)), "rank {}", rank);
        }
    }

    #[test]
    fn sixteen_bit_values_resolve_in_two_passes_and_doubles_in_at_most_four() {
        let halfs: Vec<u64> = (0..5000u32).map(|i| (crate::decode::bf16_to_f64((i * 7919 % 32768) as u16)).to_bits()).collect();
        let (_, passes) = run(&halfs, &[1, 50, 2500]);
        assert!(passes <= 2, "{} passes", passes);
        let doubles: Vec<u64> = (0..5000u64).map(|i| ((i * 2654435761) % 1_000_003) as f64 / 7.0).map(f64::to_bits).collect();
        let (found, passes) = run(&doubles, &[1, 17, 4999]);
        assert!(passes <= 4);
        let mut sorted = doubles.clone();
        sorted.sort_unstable_by(|a, b| b.cmp(a));
        assert_eq!(found[1].unwrap().0, sorted[16]);
        assert_eq!(found[2].unwrap().0, sorted[4998]);
    }
}
