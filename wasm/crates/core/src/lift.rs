//! LIFT principal weights of a weight matrix W `[rows, cols]` streamed row-major: the weights largest in the rank-r
//! approximation W_r, weight score |(W_r)_ij| and channel score max_i |(W_r)_ij|. W_r comes from the randomized SVD
//! (`lowrank`, 6 passes) as two factors; each later pass computes its rows from them, never the whole matrix.
//!
//! With overlaps asked for, the principal weights are the top 5 % by |W_r| (`select`), and the job counts how many of
//! them are also in the top 5 % by |W| and, given a base B streamed alongside, by |W − B| (where a fine-tune's delta
//! landed). The |W| and |W − B| selections run during the SVD passes; the |W_r| one takes one to four more, then a
//! last pass counts. Without overlaps the job ends after the first pass over W_r: 7 passes.
use crate::decode::DECODE_BLOCK;
use crate::diff::{decode_range, whole_elements};
use crate::dtype::DType;
use crate::lowrank::{LowRankError, LowRankFactors, LowRankJob};
use crate::saliency::{SaliencyResult, MAX_COLUMNS, MAX_TOP};
use crate::select::TopFraction;
use crate::topk::{top_of, TopK};

/// The principal weights are the top PRINCIPAL_PERCENT % by |W_r| (and compared with the same share by |W|, |W − B|).
pub const PRINCIPAL_PERCENT: u64 = 5;
/// Oversampling and power iterations of the randomized SVD (as the diff's low rank).
const OVERSAMPLE: usize = 8;
const POWER_ITERATIONS: usize = 2;
const SEED: u64 = 0;
/// Largest rank accepted (the SVD keeps (rows + 2·cols)·(rank + 8) f64).
pub const MAX_RANK: u64 = 256;

/// How the principal weights overlap the largest weights and the largest changes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LiftOverlaps {
    /// Principal weights: the top 5 % of the scores |W_r| that are not NaN.
    pub principal: u64,
    /// Of them, those also in the top 5 % by |W|.
    pub with_magnitude: u64,
    /// Of them, those also in the top 5 % by |W − B| (None without a base).
    pub with_delta: Option<u64>,
}

/// What a LIFT job reports.
#[derive(Clone, Debug, PartialEq)]
pub struct LiftResult {
    /// Rankings and channel scores (no column absmax, no activations).
    pub saliency: SaliencyResult,
    /// When asked for.
    pub overlaps: Option<LiftOverlaps>,
}

/// Why a LIFT job refused a call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LiftError {
    /// A matrix too large to analyse, a bad rank or k.
    Params(String),
    /// Partial element groups, the two sides of different lengths, too many elements, a pass cut short.
    Input(&'static str),
    /// Input after the results were final.
    Phase,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// The randomized SVD's passes (and the |W|, |W − B| selections).
    Svd,
    /// Passes over W_r: the rankings in the first, the |W_r| selection until it is found.
    Principal { first: bool },
    /// The membership pass.
    Count,
    Done,
}

/// One matrix's LIFT saliency in progress.
pub struct LiftJob {
    weights: DType,
    base: Option<DType>,
    cols: usize,
    total: u64,
    svd: LowRankJob,
    rank: usize,
    factors: Option<LowRankFactors>,
    phase: Phase,
    seen: u64,
    k: usize,
    top: TopK,
    column_max: Vec<f64>,
    /// The current row of W_r, and which row it is.
    principal_row: Vec<f64>,
    principal_row_index: Option<u64>,
    /// Decoded elements of W and B, and scores, for one block.
    values: Vec<f64>,
    base_values: Vec<f64>,
    scores: Vec<f64>,
    /// Selections when overlaps are asked for: by |W_r|, |W|, |W − B|.
    selections: Option<[Option<TopFraction>; 3]>,
    overlaps: LiftOverlaps,
    result: Option<LiftResult>,
}

impl LiftJob {
    /// LIFT of a `rows` × `cols` matrix of `weights` at `rank`, ranking `k` channels and weights; with `overlaps`,
    /// the overlap counts, against a base of dtype `base` when given (streamed in lockstep).
    pub fn new(weights: DType, base: Option<DType>, rows: u64, cols: u64, rank: u64, k: u64, overlaps: bool) -> Result<LiftJob, LiftError> {
        if rows == 0 || cols == 0 || rank == 0 {
            return Err(LiftError::Params(format!("a {} × {} matrix at rank {} has nothing to approximate", rows, cols, rank)));
        }
        if cols > MAX_COLUMNS || k > MAX_TOP || rank > MAX_RANK {
            return Err(LiftError::Params(format!("{} columns, k = {} or rank {} is more than the {}, {} and {} analysed", cols, k, rank, MAX_COLUMNS, MAX_TOP, MAX_RANK)));
        }
        let total = rows.checked_mul(cols).filter(|&n| n < 1 << 53).ok_or_else(|| LiftError::Params(format!("{} × {} elements are too many", rows, cols)))?;
        if [Some(weights), base].iter().flatten().any(|d| total % d.group_elements() as u64 != 0) {
            return Err(LiftError::Params(format!("{} elements are not whole element groups", total)));
        }
        let svd = LowRankJob::new(None, weights, rows as usize, cols as usize, rank as usize, OVERSAMPLE, POWER_ITERATIONS, SEED).map_err(low_rank_error)?;
        let fraction = || Some(TopFraction::new(PRINCIPAL_PERCENT, 100));
        Ok(LiftJob {
            weights,
            base,
            cols: cols as usize,
            total,
            svd,
            rank: rank as usize,
            factors: None,
            phase: Phase::Svd,
            seen: 0,
            k: k as usize,
            top: TopK::new(k as usize),
            column_max: vec![0.0; cols as usize],
            principal_row: vec![0.0; cols as usize],
            principal_row_index: None,
            values: vec![0.0; DECODE_BLOCK],
            base_values: vec![0.0; DECODE_BLOCK],
            scores: vec![0.0; DECODE_BLOCK],
            selections: if overlaps { Some([fraction(), fraction(), if base.is_some() { fraction() } else { None }]) } else { None },
            overlaps: LiftOverlaps { principal: 0, with_magnitude: 0, with_delta: base.map(|_| 0) },
            result: None,
        })
    }

    /// The next elements of W (and of B, the same elements, when the job has a base), row-major; every pass
    /// repeats the matrix.
    pub fn push(&mut self, bytes: &[u8], base_bytes: &[u8]) -> Result<(), LiftError> {
        if self.phase == Phase::Done {
            return Err(LiftError::Phase);
        }
        let count = whole_elements(self.weights, bytes.len()).ok_or(LiftError::Input("input is not a whole number of element groups"))?;
        let base_count = match self.base {
            Some(base) => whole_elements(base, base_bytes.len()),
            None if base_bytes.is_empty() => Some(count),
            None => None,
        };
        if base_count != Some(count) {
            return Err(LiftError::Input("the base does not hold the same elements as the weights"));
        }
        if self.seen + count as u64 > self.total {
            return Err(LiftError::Input("more elements than the matrix holds"));
        }
        if self.phase == Phase::Svd {
            self.svd.push(&[], bytes).map_err(low_rank_error)?;
        }
        let decode = self.needs_weights();
        let mut done = 0;
        while done < count {
            let take = (count - done).min(DECODE_BLOCK);
            if decode {
                decode_range(self.weights, bytes, done, take, &mut self.values[..take]);
                if let Some(base) = self.base {
                    decode_range(base, base_bytes, done, take, &mut self.base_values[..take]);
                }
            }
            self.consume(take);
            done += take;
        }
        Ok(())
    }

    /// Whether this pass looks at the values of W and B (the SVD decodes W itself, W_r comes from the factors).
    fn needs_weights(&self) -> bool {
        match &self.selections {
            Some(s) => self.phase == Phase::Count || s[1..].iter().flatten().any(|s| !s.found()),
            None => false,
        }
    }

    /// Splits the `n` decoded values at row ends.
    fn consume(&mut self, n: usize) {
        let mut at = 0;
        while at < n {
            let row = self.seen / self.cols as u64;
            let col = (self.seen % self.cols as u64) as usize;
            let len = (n - at).min(self.cols - col);
            match self.phase {
                Phase::Svd => self.select_weights(at, len),
                Phase::Principal { first } => self.principal_part(row, col, at, len, first),
                Phase::Count => self.count_part(row, col, at, len),
                Phase::Done => {}
            }
            self.seen += len as u64;
            at += len;
        }
    }

    /// |W| and |W − B| of values[at..at + len] into the selections still narrowing.
    fn select_weights(&mut self, at: usize, len: usize) {
        let selections = match &mut self.selections {
            Some(s) => s,
            None => return,
        };
        let (values, base, scores) = (&self.values[at..at + len], &self.base_values[at..at + len], &mut self.scores[..len]);
        if let Some(magnitude) = selections[1].as_mut().filter(|s| !s.found()) {
            scores.iter_mut().zip(values).for_each(|(s, v)| *s = v.abs());
            magnitude.offer_all(scores);
        }
        if let Some(delta) = selections[2].as_mut().filter(|s| !s.found()) {
            scores.iter_mut().zip(values).zip(base).for_each(|((s, v), b)| *s = (v - b).abs());
            delta.offer_all(scores);
        }
    }

    /// Row `row` of W_r, computed once per pass.
    fn principal_row(&mut self, row: u64) -> &[f64] {
        if self.principal_row_index != Some(row) {
            if let Some(factors) = &self.factors {
                factors.row_into(row as usize, &mut self.principal_row);
            }
            self.principal_row_index = Some(row);
        }
        &self.principal_row
    }

    fn principal_part(&mut self, row: u64, col: usize, at: usize, len: usize, first: bool) {
        self.principal_row(row);
        let scores = &mut self.scores[..len];
        scores.iter_mut().zip(&self.principal_row[col..col + len]).for_each(|(s, v)| *s = v.abs());
        if first {
            for (m, &s) in self.column_max[col..col + len].iter_mut().zip(scores.iter()) {
                *m = if s > *m || s.is_nan() { s } else { *m };
            }
            self.top.offer_all(scores, self.seen);
        }
        if let Some(principal) = self.selections.as_mut().and_then(|s| s[0].as_mut()) {
            principal.offer_all(scores);
        }
        self.select_weights(at, len);
    }

    fn count_part(&mut self, row: u64, col: usize, at: usize, len: usize) {
        self.principal_row(row);
        let selections = match &mut self.selections {
            Some(s) => s,
            None => return,
        };
        for i in 0..len {
            let (w, principal) = (self.values[at + i], self.principal_row[col + i]);
            let in_principal = selections[0].as_mut().map_or(false, |s| s.is_member(principal.abs()));
            let in_magnitude = selections[1].as_mut().map_or(false, |s| s.is_member(w.abs()));
            let in_delta = selections[2].as_mut().map_or(false, |s| s.is_member((w - self.base_values[at + i]).abs()));
            if in_principal {
                self.overlaps.principal += 1;
                self.overlaps.with_magnitude += u64::from(in_magnitude);
                if let Some(d) = &mut self.overlaps.with_delta {
                    *d += u64::from(in_delta);
                }
            }
        }
    }

    /// Ends a pass: Ok(true) when the matrix must be streamed once more.
    pub fn end_pass(&mut self) -> Result<bool, LiftError> {
        if self.phase == Phase::Done {
            return Ok(false);
        }
        if self.seen != self.total {
            return Err(LiftError::Input("the pass ended before the last element"));
        }
        self.seen = 0;
        self.principal_row_index = None;
        if let Some(selections) = &mut self.selections {
            let narrowing = match self.phase {
                Phase::Svd => &mut selections[1..],
                Phase::Principal { .. } => &mut selections[..],
                _ => &mut selections[..0],
            };
            narrowing.iter_mut().flatten().filter(|s| !s.found()).for_each(TopFraction::end_pass);
        }
        self.phase = match self.phase {
            Phase::Svd => {
                if self.svd.end_pass().map_err(low_rank_error)? {
                    Phase::Svd
                } else {
                    self.factors = self.svd.factors(self.rank);
                    Phase::Principal { first: true }
                }
            }
            Phase::Principal { first } => {
                if first {
                    self.finish_rankings();
                }
                match &self.selections {
                    None => Phase::Done,
                    Some(s) if s.iter().flatten().all(TopFraction::found) => Phase::Count,
                    Some(_) => Phase::Principal { first: false },
                }
            }
            Phase::Count | Phase::Done => Phase::Done,
        };
        if self.phase == Phase::Done {
            if let Some(result) = &mut self.result {
                result.overlaps = self.selections.as_ref().map(|_| self.overlaps);
            }
            self.factors = None;
        }
        Ok(self.phase != Phase::Done)
    }

    fn finish_rankings(&mut self) {
        let channel_scores = std::mem::take(&mut self.column_max);
        let top = std::mem::replace(&mut self.top, TopK::new(0));
        let saliency = SaliencyResult {
            top_channels: top_of(&channel_scores, self.k),
            top_weights: top.into_sorted(),
            channel_scores,
            column_absmax: None,
            activations: None,
        };
        self.result = Some(LiftResult { saliency, overlaps: None });
    }

    /// Columns of the matrix.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// The results, once `end_pass` returned false.
    pub fn result(&self) -> Option<&LiftResult> {
        self.result.as_ref().filter(|_| self.phase == Phase::Done)
    }
}

fn low_rank_error(error: LowRankError) -> LiftError {
    match error {
        LowRankError::BadInput => LiftError::Input("input is not a whole number of element groups"),
        LowRankError::WrongPhase => LiftError::Input("a pass did not cover the matrix exactly once"),
        LowRankError::BadParams => LiftError::Params("empty matrix or no rank asked for".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::gaussian;
    use crate::topk::{rank_order, Ranked};

    /// Σ_c u_c σ_c v_cᵀ with orthonormal u (rows) and v (cols) from seeded Gaussians (Gram–Schmidt), and its
    /// truncation to the first `rank` terms.
    fn spectrum(rows: usize, cols: usize, sigma: &[f64], rank: usize, seed: u64) -> (Vec<f64>, Vec<f64>) {
        let basis = |n: usize, seed: u64| {
            let mut vectors: Vec<Vec<f64>> = Vec::new();
            for c in 0..sigma.len() {
                let mut v: Vec<f64> = (0..n).map(|i| gaussian(seed, (c * n + i) as u64)).collect();
                for _ in 0..2 {
                    for p in &vectors {
                        let dot: f64 = v.iter().zip(p).map(|(a, b)| a * b).sum();
                        v.iter_mut().zip(p).for_each(|(a, b)| *a -= dot * b);
                    }
                }
                let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
                vectors.push(v.iter().map(|x| x / norm).collect());
            }
            vectors
        };
        let (u, v) = (basis(rows, seed), basis(cols, seed + 1));
        let sum = |terms: usize| -> Vec<f64> { (0..rows * cols).map(|n| (0..terms).map(|c| u[c][n / cols] * sigma[c] * v[c][n % cols]).sum()).collect() };
        (sum(sigma.len()), sum(rank))
    }

    fn bytes(values: &[f64]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    fn run(w: &[f64], base: Option<&[f64]>, rows: u64, cols: u64, rank: u64, k: u64, overlaps: bool, chunk: usize) -> (LiftResult, usize) {
        let mut job = LiftJob::new(DType::F64, base.map(|_| DType::F64), rows, cols, rank, k, overlaps).unwrap();
        let (w, base) = (bytes(w), base.map(bytes).unwrap_or_default());
        let mut passes = 0;
        loop {
            passes += 1;
            for (i, part) in w.chunks(chunk * 8).enumerate() {
                let b = if base.is_empty() { &[][..] } else { &base[i * chunk * 8..i * chunk * 8 + part.len()] };
                job.push(part, b).unwrap();
            }
            if !job.end_pass().unwrap() {
                return (job.result().unwrap().clone(), passes);
            }
        }
    }

    fn ranked(scores: &[f64]) -> Vec<Ranked> {
        let mut all: Vec<Ranked> = scores.iter().enumerate().map(|(i, &s)| Ranked { score: s, position: i as u64, item: () }).collect();
        all.sort_by(rank_order);
        all
    }

    /// Positions of the top 5 % by a full sort.
    fn top_share(scores: &[f64]) -> Vec<u64> {
        let all = ranked(scores);
        let m = (all.len() + 19) / 20;
        all[..m].iter().map(|r| r.position).collect()
    }

    #[test]
    fn principal_weights_are_those_of_the_known_truncation() {
        let (rows, cols, rank) = (40, 30, 2);
        let (w, truncated) = spectrum(rows, cols, &[9.0, 5.0, 2.5, 1.0, 0.125], rank, 7);
        let (got, passes) = run(&w, None, rows as u64, cols as u64, rank as u64, 50, false, 97);
        assert_eq!(passes, 7);
        let want = ranked(&truncated.iter().map(|x| x.abs()).collect::<Vec<_>>());
        let positions: Vec<u64> = got.saliency.top_weights.iter().map(|r| r.position).collect();
        assert_eq!(positions, want[..50].iter().map(|r| r.position).collect::<Vec<_>>());
        for (g, r) in got.saliency.top_weights.iter().zip(&want) {
            assert!((g.score - r.score).abs() <= 1e-12 * r.score.max(1.0), "{} vs {}", g.score, r.score);
        }
        for j in 0..cols {
            let column = (0..rows).map(|i| truncated[i * cols + j].abs()).fold(0.0, f64::max);
            assert!((got.saliency.channel_scores[j] - column).abs() <= 1e-12 * column.max(1.0));
        }
        assert_eq!(got.saliency.top_channels.len(), 30);
        assert_eq!(got.overlaps, None);
    }

    #[test]
    fn overlaps_count_the_shared_top_shares() {
        let (rows, cols, rank) = (36, 25, 3);
        let (w, truncated) = spectrum(rows, cols, &[6.0, 4.0, 3.0, 0.5, 0.25], rank, 21);
        let base: Vec<f64> = w.iter().enumerate().map(|(i, x)| x - if i % 7 == 0 { 0.01 * gaussian(5, i as u64) } else { 0.0 }).collect();
        let (got, _) = run(&w, Some(&base), rows as u64, cols as u64, rank as u64, 5, true, 64);
        let principal = top_share(&truncated.iter().map(|x| x.abs()).collect::<Vec<_>>());
        let magnitude = top_share(&w.iter().map(|x| x.abs()).collect::<Vec<_>>());
        let delta = top_share(&w.iter().zip(&base).map(|(a, b)| (a - b).abs()).collect::<Vec<_>>());
        let shared = |other: &[u64]| principal.iter().filter(|p| other.contains(p)).count() as u64;
        let overlaps = got.overlaps.unwrap();
        assert_eq!(overlaps, LiftOverlaps { principal: 45, with_magnitude: shared(&magnitude), with_delta: Some(shared(&delta)) });
        assert!(overlaps.with_magnitude > 0 && overlaps.with_magnitude < 45);
    }

    #[test]
    fn results_do_not_depend_on_the_chunking() {
        let (w, _) = spectrum(24, 16, &[3.0, 2.0, 1.0], 2, 3);
        let base: Vec<f64> = w.iter().map(|x| x * 0.9).collect();
        let whole = run(&w, Some(&base), 24, 16, 2, 10, true, 384);
        for chunk in [1, 5, 16, 100] {
            assert_eq!(run(&w, Some(&base), 24, 16, 2, 10, true, chunk), whole, "chunks of {}", chunk);
        }
    }

    #[test]
    fn refuses_bad_parameters_and_input() {
        assert!(LiftJob::new(DType::F32, None, 0, 4, 2, 1, false).is_err());
        assert!(LiftJob::new(DType::F32, None, 4, 4, 0, 1, false).is_err());
        assert!(LiftJob::new(DType::F32, None, 4, 4, MAX_RANK + 1, 1, false).is_err());
        assert!(LiftJob::new(DType::F32, None, 4, 4, 2, MAX_TOP + 1, false).is_err());
        assert!(LiftJob::new(DType::Q4_0, None, 1, 16, 2, 1, false).is_err());
        let mut job = LiftJob::new(DType::F32, Some(DType::F16), 2, 2, 1, 1, true).unwrap();
        assert_eq!(job.push(&[0; 8], &[0; 2]), Err(LiftError::Input("the base does not hold the same elements as the weights")));
        assert_eq!(job.push(&[0; 3], &[0; 2]), Err(LiftError::Input("input is not a whole number of element groups")));
        job.push(&[0; 8], &[0; 4]).unwrap();
        assert!(job.end_pass().is_err());
        let mut alone = LiftJob::new(DType::F32, None, 1, 2, 1, 1, false).unwrap();
        assert!(alone.push(&[0; 8], &[0; 4]).is_err());
        assert!(alone.push(&[0; 16], &[]).is_err());
    }
}
