//! Bounded rankings of streamed scores: the k largest, ties going to the earlier position, in O(k) memory. Each
//! entry may carry an item (a channel's statistics, a scalar's coordinates).
use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// One ranked entry: a score, where it came from, and what it stands for.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Ranked<T = ()> {
    /// The score (never NaN).
    pub score: f64,
    /// Position in streaming order (a row-major element index, a column index…).
    pub position: u64,
    /// The ranked thing.
    pub item: T,
}

/// Ranking order: larger score first, earlier position first on ties (−0 and +0 tie).
pub fn rank_order<T>(a: &Ranked<T>, b: &Ranked<T>) -> Ordering {
    b.score.partial_cmp(&a.score).unwrap_or(Ordering::Equal).then(a.position.cmp(&b.position))
}

/// Heap order: the entry ranked last is the greatest, so it sits on top.
#[derive(Clone, Copy, Debug)]
struct Worst<T>(Ranked<T>);

impl<T> PartialEq for Worst<T> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl<T> Eq for Worst<T> {}
impl<T> PartialOrd for Worst<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<T> Ord for Worst<T> {
    fn cmp(&self, other: &Self) -> Ordering {
        rank_order(&self.0, &other.0)
    }
}

/// The k best entries offered so far. NaN scores are never ranked.
#[derive(Clone, Debug)]
pub struct TopK<T = ()> {
    k: usize,
    heap: BinaryHeap<Worst<T>>,
}

impl<T: Copy> TopK<T> {
    /// An empty ranking of at most `k` entries.
    pub fn new(k: usize) -> TopK<T> {
        TopK { k, heap: BinaryHeap::with_capacity(k.min(1 << 16) + 1) }
    }

    /// Whether k entries are held (later ones must then beat the threshold).
    pub fn is_full(&self) -> bool {
        self.heap.len() >= self.k
    }

    /// The score an entry offered later must beat strictly (later positions lose ties); −∞ until k entries are held.
    pub fn threshold(&self) -> f64 {
        match self.heap.peek() {
            Some(worst) if self.is_full() => worst.0.score,
            _ => f64::NEG_INFINITY,
        }
    }

    /// Offers one entry; positions must be offered in increasing order for ties to go to the earlier one.
    pub fn offer(&mut self, score: f64, position: u64, item: T) {
        if self.k == 0 || score.is_nan() {
            return;
        }
        let entry = Worst(Ranked { score, position, item });
        if self.heap.len() < self.k {
            self.heap.push(entry);
        } else if let Some(worst) = self.heap.peek() {
            if entry < *worst {
                self.heap.pop();
                self.heap.push(entry);
            }
        }
    }

    /// The entries, best first.
    pub fn into_sorted(self) -> Vec<Ranked<T>> {
        self.heap.into_sorted_vec().into_iter().map(|w| w.0).collect()
    }
}

impl TopK {
    /// Offers every score of `scores`, the first at position `first`; skips those that cannot enter.
    pub fn offer_all(&mut self, scores: &[f64], first: u64) {
        let mut threshold = self.threshold();
        for (i, &s) in scores.iter().enumerate() {
            if s > threshold {
                self.offer(s, first + i as u64, ());
                threshold = self.threshold();
            }
        }
    }
}

/// The k best of a whole vector of scores (position = index), best first; NaN skipped.
pub fn top_of(scores: &[f64], k: usize) -> Vec<Ranked> {
    let mut top = TopK::new(k);
    top.offer_all(scores, 0);
    top.into_sorted()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_largest_with_earlier_positions_winning_ties() {
        let scores = [1.0, 5.0, f64::NAN, 5.0, 3.0, f64::INFINITY, -0.0, 0.0, 3.0];
        let top = top_of(&scores, 4);
        let got: Vec<(f64, u64)> = top.iter().map(|r| (r.score, r.position)).collect();
        assert_eq!(got, vec![(f64::INFINITY, 5), (5.0, 1), (5.0, 3), (3.0, 4)]);
        let all = top_of(&scores, 100);
        assert_eq!(all.len(), 8);
        assert_eq!((all[6].position, all[7].position), (6, 7)); // −0 and +0 tie: earlier first
        assert!(top_of(&scores, 0).is_empty());
    }

    #[test]
    fn matches_a_full_sort() {
        let mut state = 7u64;
        let scores: Vec<f64> = (0..5000)
            .map(|_| {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ((state >> 40) % 200) as f64 // many ties
            })
            .collect();
        let mut sorted: Vec<Ranked> = scores.iter().enumerate().map(|(i, &s)| Ranked { score: s, position: i as u64, item: () }).collect();
        sorted.sort_by(rank_order);
        for k in [1, 7, 100, 4999, 6000] {
            assert_eq!(top_of(&scores, k), sorted[..k.min(sorted.len())].to_vec());
        }
    }

    #[test]
    fn items_travel_with_their_scores() {
        let mut top = TopK::new(2);
        for (i, name) in ["a", "b", "c"].iter().enumerate() {
            top.offer([2.0, 7.0, 5.0][i], i as u64, *name);
        }
        assert!(top.is_full());
        assert_eq!(top.threshold(), 5.0);
        assert_eq!(top.into_sorted().iter().map(|r| r.item).collect::<Vec<_>>(), vec!["b", "c"]);
    }
}
