//! The exact top fraction of a stream of non-negative scores: which scores are among the m = ⌈n·fraction⌉ largest of
//! the n that are not NaN, in the ranking order of `topk` (larger first, the earlier position on ties). Radix
//! selection (`ranks`) finds the m-th largest value t in one to four passes; a last pass then asks `is_member` of
//! every score in streaming order, which admits the scores above t and the earliest of its ties.
use crate::ranks::{Histogram16, RankSearch};

/// One selection: passes over the scores until `found`, then membership in streaming order.
#[derive(Clone)]
pub struct TopFraction {
    numerator: u64,
    denominator: u64,
    /// Scores that are not NaN, counted in the first pass: n.
    count: u64,
    first: Option<Histogram16>,
    search: Option<RankSearch>,
    /// The m-th largest score and how many of its ties are still to be admitted.
    threshold: Option<(f64, u64)>,
}

impl TopFraction {
    /// Selects the top `numerator / denominator` of the scores (rounded up to a whole score).
    pub fn new(numerator: u64, denominator: u64) -> TopFraction {
        TopFraction { numerator, denominator, count: 0, first: Some(Histogram16::new(0, 0)), search: None, threshold: None }
    }

    /// Whether the selection passes are over (membership can be asked).
    pub fn found(&self) -> bool {
        self.first.is_none() && self.search.as_ref().map_or(true, RankSearch::is_done)
    }

    /// The size of the set, m (once the first pass ended).
    pub fn members(&self) -> u64 {
        let m = (self.count as u128 * self.numerator as u128 + self.denominator as u128 - 1) / self.denominator as u128;
        (m as u64).min(self.count)
    }

    /// Offers the scores of a selection pass (the same scores in the same order every pass).
    pub fn offer_all(&mut self, scores: &[f64]) {
        if let Some(first) = &mut self.first {
            for s in scores.iter().filter(|s| !s.is_nan()) {
                first.add(s.to_bits());
                self.count += 1;
            }
        } else if let Some(search) = self.search.as_mut().filter(|s| !s.is_done()) {
            scores.iter().filter(|s| !s.is_nan()).for_each(|s| search.add(s.to_bits()));
        }
    }

    /// Ends a selection pass.
    pub fn end_pass(&mut self) {
        if let Some(first) = self.first.take() {
            let m = self.members();
            self.search = if m > 0 { Some(RankSearch::start(&[m], &first)) } else { None };
        } else if let Some(search) = &mut self.search {
            search.end_pass();
        }
        if let Some((key, greater)) = self.search.as_ref().and_then(|s| s.found(0)) {
            self.threshold = Some((f64::from_bits(key), self.members() - greater));
        }
    }

    /// Whether `score`, the next of the membership pass, is in the set; ask for every score in streaming order.
    pub fn is_member(&mut self, score: f64) -> bool {
        match &mut self.threshold {
            Some((t, _)) if score > *t => true,
            Some((t, ties)) if score == *t && *ties > 0 => {
                *ties -= 1;
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topk::{rank_order, Ranked};

    /// The positions of the top fraction by a full sort.
    fn reference(scores: &[f64], numerator: u64, denominator: u64) -> Vec<bool> {
        let mut all: Vec<Ranked> = scores.iter().enumerate().filter(|(_, s)| !s.is_nan()).map(|(i, &s)| Ranked { score: s, position: i as u64, item: () }).collect();
        all.sort_by(rank_order);
        let m = (all.len() as u64 * numerator + denominator - 1) / denominator;
        let mut member = vec![false; scores.len()];
        for r in &all[..m as usize] {
            member[r.position as usize] = true;
        }
        member
    }

    fn select(scores: &[f64], numerator: u64, denominator: u64, chunk: usize) -> (Vec<bool>, usize) {
        let mut top = TopFraction::new(numerator, denominator);
        let mut passes = 0;
        while !top.found() {
            scores.chunks(chunk).for_each(|part| top.offer_all(part));
            top.end_pass();
            passes += 1;
        }
        (scores.iter().map(|&s| top.is_member(s)).collect(), passes)
    }

    fn generated(n: usize, seed: u64, map: impl Fn(f64) -> f64) -> Vec<f64> {
        let mut state = seed;
        (0..n)
            .map(|_| {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                map((state >> 11) as f64 / (1u64 << 53) as f64)
            })
            .collect()
    }

    #[test]
    fn matches_a_full_sort_for_distinct_values() {
        let scores = generated(10_000, 3, |u| u * 7.0);
        let (got, passes) = select(&scores, 5, 100, 333);
        assert_eq!(got, reference(&scores, 5, 100));
        assert!(passes <= 4);
        assert_eq!(got.iter().filter(|&&m| m).count(), 500);
    }

    #[test]
    fn ties_at_the_threshold_go_to_the_earliest() {
        // Few distinct values (like bf16 weights): one pass suffices, and the tied scores are split by position.
        let scores = generated(4_001, 5, |u| (u * 8.0).floor());
        let (got, passes) = select(&scores, 5, 100, 1000);
        assert_eq!(got, reference(&scores, 5, 100));
        assert_eq!(passes, 1);
        assert_eq!(got.iter().filter(|&&m| m).count(), 201);
    }

    #[test]
    fn nan_is_never_a_member_and_infinity_always_is() {
        let mut scores = generated(1000, 9, |u| u);
        scores[10] = f64::NAN;
        scores[20] = f64::INFINITY;
        scores[30] = 0.0;
        let (got, _) = select(&scores, 1, 20, 64);
        assert_eq!(got, reference(&scores, 1, 20));
        assert!(got[20] && !got[10]);
        let (none, _) = select(&[f64::NAN, f64::NAN], 1, 20, 1);
        assert_eq!(none, vec![false, false]);
        let (zeros, _) = select(&[0.0; 5], 1, 20, 2);
        assert_eq!(zeros, vec![true, false, false, false, false]);
    }

    #[test]
    fn chunking_does_not_matter() {
        let scores = generated(3000, 13, |u| u * u);
        let whole = select(&scores, 5, 100, 3000);
        for chunk in [1, 7, 256] {
            assert_eq!(select(&scores, 5, 100, chunk), whole);
        }
    }
}
