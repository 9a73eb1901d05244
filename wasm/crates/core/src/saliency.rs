//! Saliency of a weight matrix `[rows, cols]` (rows = output channels, columns = input channels), streamed in
//! row-major order, optionally joined with one activation statistic per input channel, a_j:
//!
//! | method | weight score | channel score | a_j |
//! |---|---|---|---|
//! | magnitude | \|W_ij\| | max_i \|W_ij\| | — |
//! | wanda | \|W_ij\|·a_j | Σ_i \|W_ij\|·a_j | ‖X_j‖₂ |
//! | awq | \|W_ij\|·a_j | a_j | mean\|X_j\| |
//! | smoothquant | \|W_ij·s_j\|, s_j = a_j^α / (max_i \|W_ij\|)^(1−α) | s_j | max\|X_j\| |
//! | obs | W_ij²·a_j | Σ_i W_ij²·a_j | H_jj = Σ_t x_tj² |
//!
//! Everything is f64 on exactly decoded values, IEEE arithmetic in the order written above (NaN propagates: a NaN
//! score is never ranked; a column sum or max with a NaN term is NaN). Column sums add rows in order, so results
//! never depend on how the bytes were chunked. SmoothQuant needs the column maxima first: two passes.
use crate::decode::Decoder;
use crate::dtype::DType;
use crate::topk::{top_of, Ranked, TopK};

/// Widest matrix analysed (one f64 accumulator, and one activation value, per column).
pub const MAX_COLUMNS: u64 = 1 << 20;
/// Largest k accepted for the rankings.
pub const MAX_TOP: u64 = 1 << 16;

/// How weights and channels are scored (see the module table).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Method {
    /// |W|.
    Magnitude,
    /// |W|·‖X‖₂ (Wanda).
    Wanda,
    /// Activation-aware channel salience mean|X| (AWQ).
    Awq,
    /// Migration scales s_j(α) (SmoothQuant).
    SmoothQuant {
        /// Migration strength in [0, 1].
        alpha: f64,
    },
    /// The diagonal OBS/GPTQ saliency W²·H_jj.
    Obs,
}

impl Method {
    /// The method of an ABI code (1 magnitude, 2 wanda, 3 awq, 4 smoothquant, 5 obs); alpha only for SmoothQuant.
    pub fn from_code(code: u32, alpha: f64) -> Option<Method> {
        match code {
            1 => Some(Method::Magnitude),
            2 => Some(Method::Wanda),
            3 => Some(Method::Awq),
            4 if (0.0..=1.0).contains(&alpha) => Some(Method::SmoothQuant { alpha }),
            5 => Some(Method::Obs),
            _ => None,
        }
    }

    /// Whether the method needs one activation statistic per input channel.
    pub fn needs_activations(self) -> bool {
        self != Method::Magnitude
    }
}

/// Why a saliency job refused a call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SaliencyError {
    /// A matrix too large to analyse, a bad k or method.
    Params(String),
    /// Partial element groups, too many elements, too few at the end, a misplaced or missing activation vector.
    Input(&'static str),
    /// Input after the results were final.
    Phase,
}

/// What a saliency job reports.
#[derive(Clone, Debug, PartialEq)]
pub struct SaliencyResult {
    /// The k best input channels by channel score (position = column).
    pub top_channels: Vec<Ranked>,
    /// The k best weights by weight score (position = row · cols + col).
    pub top_weights: Vec<Ranked>,
    /// Every column's channel score.
    pub channel_scores: Vec<f64>,
    /// max_i |W_ij| per column, for the methods that compute it (magnitude, where it is the channel score, and
    /// SmoothQuant).
    pub column_absmax: Option<Vec<f64>>,
    /// The activation statistic a_j the job was given.
    pub activations: Option<Vec<f64>>,
}

/// One tensor's saliency in progress.
pub struct SaliencyJob {
    decoder: Decoder,
    method: Method,
    cols: usize,
    total: u64,
    activations: Option<Vec<f64>>,
    /// Per column: max |W| (magnitude, SmoothQuant's first pass) or the sum of weight scores (Wanda, OBS).
    columns: Vec<f64>,
    /// SmoothQuant's s_j, once the first pass has ended.
    scales: Vec<f64>,
    /// Elements seen in this pass.
    seen: u64,
    first_pass: bool,
    k: usize,
    top: TopK,
    scores: Vec<f64>,
    result: Option<SaliencyResult>,
}

impl SaliencyJob {
    /// A job for a `rows` × `cols` matrix of `dtype` keeping the `k` best channels and weights.
    pub fn new(dtype: DType, rows: u64, cols: u64, method: Method, k: u64) -> Result<SaliencyJob, SaliencyError> {
        if rows == 0 || cols == 0 {
            return Err(SaliencyError::Params(format!("a {} × {} matrix has no elements", rows, cols)));
        }
        if cols > MAX_COLUMNS {
            return Err(SaliencyError::Params(format!("{} columns is more than the {} analysed", cols, MAX_COLUMNS)));
        }
        if k > MAX_TOP {
            return Err(SaliencyError::Params(format!("k = {} is more than {}", k, MAX_TOP)));
        }
        let total = rows.checked_mul(cols).filter(|&n| n < 1 << 53);
        let total = total.ok_or_else(|| SaliencyError::Params(format!("{} × {} elements are too many", rows, cols)))?;
        if total % dtype.group_elements() as u64 != 0 {
            return Err(SaliencyError::Params(format!("{} elements are not whole groups of {:?}", total, dtype)));
        }
        Ok(SaliencyJob {
            decoder: Decoder::new(dtype),
            method,
            cols: cols as usize,
            total,
            activations: None,
            columns: if method == Method::Awq { Vec::new() } else { vec![0.0; cols as usize] },
            scales: Vec::new(),
            seen: 0,
            first_pass: true,
            k: k as usize,
            top: TopK::new(k as usize),
            scores: Vec::new(),
            result: None,
        })
    }

    /// Gives the activation statistic a_j of every column (before the first weights).
    pub fn set_activations(&mut self, values: Vec<f64>) -> Result<(), SaliencyError> {
        if self.result.is_some() {
            return Err(SaliencyError::Phase);
        }
        if self.seen > 0 || !self.first_pass {
            return Err(SaliencyError::Input("the activation vector must come before the first weights"));
        }
        if values.len() != self.cols {
            return Err(SaliencyError::Input("the activation vector must hold one value per column"));
        }
        self.activations = Some(values);
        Ok(())
    }

    /// Feeds the next whole element groups of the matrix, row-major. Later passes repeat the bytes.
    pub fn push(&mut self, bytes: &[u8]) -> Result<(), SaliencyError> {
        if self.result.is_some() {
            return Err(SaliencyError::Phase);
        }
        if self.method.needs_activations() && self.activations.is_none() {
            return Err(SaliencyError::Input("this method needs the activation vector before the weights"));
        }
        let dtype = self.decoder.dtype();
        if bytes.len() % dtype.group_bytes() != 0 {
            return Err(SaliencyError::Input("input is not a whole number of element groups"));
        }
        if self.seen + self.decoder.elements_in(bytes.len()) as u64 > self.total {
            return Err(SaliencyError::Input("more elements than the matrix holds"));
        }
        let mut decoder = std::mem::replace(&mut self.decoder, Decoder::new(dtype));
        decoder.for_each_block(bytes, |values| self.consume(values));
        self.decoder = decoder;
        Ok(())
    }

    /// Splits decoded values at row ends, so each part covers consecutive columns of one row.
    fn consume(&mut self, mut values: &[f64]) {
        while !values.is_empty() {
            let col = (self.seen % self.cols as u64) as usize;
            let n = values.len().min(self.cols - col);
            self.score_row_part(&values[..n], col);
            self.seen += n as u64;
            values = &values[n..];
        }
    }

    fn score_row_part(&mut self, part: &[f64], col: usize) {
        let n = part.len();
        let columns = if self.columns.is_empty() { &mut [][..] } else { &mut self.columns[col..col + n] };
        if matches!(self.method, Method::SmoothQuant { .. }) && self.first_pass {
            max_abs_into(columns, part);
            return;
        }
        if self.scores.len() < n {
            self.scores.resize(n, 0.0);
        }
        let scores = &mut self.scores[..n];
        let factors = self.activations.as_ref().map_or(&[][..], |a| &a[col..col + n]);
        match self.method {
            Method::Magnitude => {
                for (s, &v) in scores.iter_mut().zip(part) {
                    *s = v.abs();
                }
                max_abs_into(columns, part);
            }
            Method::Wanda | Method::Awq => {
                for ((s, &v), &a) in scores.iter_mut().zip(part).zip(factors) {
                    *s = v.abs() * a;
                }
                add_into(columns, scores);
            }
            Method::Obs => {
                for ((s, &v), &a) in scores.iter_mut().zip(part).zip(factors) {
                    *s = v * v * a;
                }
                add_into(columns, scores);
            }
            Method::SmoothQuant { .. } => {
                for ((s, &v), &scale) in scores.iter_mut().zip(part).zip(&self.scales[col..col + n]) {
                    *s = (v * scale).abs();
                }
            }
        }
        self.top.offer_all(scores, self.seen);
    }

    /// Ends a pass: Ok(true) when the same bytes must be streamed once more (SmoothQuant's first pass).
    pub fn end_pass(&mut self) -> Result<bool, SaliencyError> {
        if self.result.is_some() {
            return Ok(false);
        }
        if self.seen != self.total {
            return Err(SaliencyError::Input("the pass ended before the last element"));
        }
        self.seen = 0;
        if let (Method::SmoothQuant { alpha }, true) = (self.method, self.first_pass) {
            let activations = self.activations.as_deref().unwrap_or(&[]);
            self.scales = activations.iter().zip(&self.columns).map(|(&x, &w)| x.powf(alpha) / w.powf(1.0 - alpha)).collect();
            self.first_pass = false;
            return Ok(true);
        }
        self.first_pass = false;
        let channel_scores = match self.method {
            Method::Awq => self.activations.clone().unwrap_or_default(),
            Method::SmoothQuant { .. } => std::mem::take(&mut self.scales),
            _ => self.columns.clone(),
        };
        let column_absmax = match self.method {
            Method::Magnitude | Method::SmoothQuant { .. } => Some(std::mem::take(&mut self.columns)),
            _ => None,
        };
        let top = std::mem::replace(&mut self.top, TopK::new(0));
        self.result = Some(SaliencyResult {
            top_channels: top_of(&channel_scores, self.k),
            top_weights: top.into_sorted(),
            channel_scores,
            column_absmax,
            activations: self.activations.take(),
        });
        Ok(false)
    }

    /// Columns of the matrix.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// The results, once `end_pass` returned false.
    pub fn result(&self) -> Option<&SaliencyResult> {
        self.result.as_ref()
    }
}

/// `acc[j] = max(acc[j], |x[j]|)`, NaN sticky.
fn max_abs_into(acc: &mut [f64], x: &[f64]) {
    for (a, &v) in acc.iter_mut().zip(x) {
        let m = v.abs();
        *a = if m > *a || m.is_nan() { m } else { *a };
    }
}

fn add_into(acc: &mut [f64], x: &[f64]) {
    for (a, &v) in acc.iter_mut().zip(x) {
        *a += v;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pushes `values` as F32 in chunks of `chunk` elements, with the activation vector first.
    fn run(values: &[f32], rows: u64, cols: u64, method: Method, activations: Option<&[f64]>, k: u64, chunk: usize) -> SaliencyResult {
        let mut job = SaliencyJob::new(DType::F32, rows, cols, method, k).unwrap();
        if let Some(a) = activations {
            job.set_activations(a.to_vec()).unwrap();
        }
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        loop {
            for part in bytes.chunks(chunk * 4) {
                job.push(part).unwrap();
            }
            if !job.end_pass().unwrap() {
                return job.result().unwrap().clone();
            }
        }
    }

    fn generated(rows: usize, cols: usize, seed: u64) -> (Vec<f32>, Vec<f64>) {
        let mut state = seed;
        let mut next = || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((state >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
        };
        let w: Vec<f32> = (0..rows * cols).map(|_| next() as f32).collect();
        let a: Vec<f64> = (0..cols).map(|_| next().abs() * 10.0).collect();
        (w, a)
    }

    /// Straightforward float64 reference: every score, then a full sort.
    fn reference(w: &[f32], cols: usize, method: Method, a: &[f64]) -> (Vec<f64>, Vec<f64>) {
        let rows = w.len() / cols;
        let at = |i: usize, j: usize| w[i * cols + j] as f64;
        let colmax: Vec<f64> = (0..cols).map(|j| (0..rows).map(|i| at(i, j).abs()).fold(0.0, f64::max)).collect();
        let weight = |i: usize, j: usize| match method {
            Method::Magnitude => at(i, j).abs(),
            Method::Wanda | Method::Awq => at(i, j).abs() * a[j],
            Method::Obs => at(i, j) * at(i, j) * a[j],
            Method::SmoothQuant { alpha } => (at(i, j) * (a[j].powf(alpha) / colmax[j].powf(1.0 - alpha))).abs(),
        };
        let weights: Vec<f64> = (0..rows * cols).map(|n| weight(n / cols, n % cols)).collect();
        let channels: Vec<f64> = (0..cols)
            .map(|j| match method {
                Method::Magnitude => colmax[j],
                Method::Awq => a[j],
                Method::SmoothQuant { alpha } => a[j].powf(alpha) / colmax[j].powf(1.0 - alpha),
                _ => (0..rows).fold(0.0, |s, i| s + weight(i, j)),
            })
            .collect();
        (weights, channels)
    }

    fn ranked(scores: &[f64], k: usize) -> Vec<Ranked> {
        let mut all: Vec<Ranked> = scores.iter().enumerate().filter(|(_, s)| !s.is_nan()).map(|(i, &s)| Ranked { score: s, position: i as u64, item: () }).collect();
        all.sort_by(crate::topk::rank_order);
        all.truncate(k);
        all
    }

    const METHODS: [Method; 5] = [Method::Magnitude, Method::Wanda, Method::Awq, Method::SmoothQuant { alpha: 0.5 }, Method::Obs];

    #[test]
    fn every_method_matches_a_straightforward_reference() {
        let (rows, cols) = (37, 53);
        let (w, a) = generated(rows, cols, 3);
        for method in METHODS {
            let activations = if method.needs_activations() { Some(&a[..]) } else { None };
            let got = run(&w, rows as u64, cols as u64, method, activations, 25, 1000);
            let (weights, channels) = reference(&w, cols, method, &a);
            assert_eq!(got.top_weights, ranked(&weights, 25), "{:?}", method);
            assert_eq!(got.top_channels, ranked(&channels, 25), "{:?}", method);
            assert_eq!(got.channel_scores, channels, "{:?}", method);
        }
    }

    #[test]
    fn results_do_not_depend_on_chunking() {
        let (rows, cols) = (19, 31);
        let (w, a) = generated(rows, cols, 11);
        for method in METHODS {
            let results: Vec<SaliencyResult> =
                [1, 5, 31, 64, 10_000].iter().map(|&chunk| run(&w, rows as u64, cols as u64, method, Some(&a), 40, chunk)).collect();
            assert!(results.iter().all(|r| r == &results[0]), "{:?}", method);
        }
    }

    #[test]
    fn nan_is_never_ranked_and_ties_go_to_the_earlier_weight() {
        // 2 × 3: a NaN weight poisons its column's sum; equal scores keep row-major order.
        let w = [1.0f32, f32::NAN, 2.0, 2.0, 1.0, 1.0];
        let a = [1.0, 1.0, 1.0];
        let got = run(&w, 2, 3, Method::Wanda, Some(&a), 10, 2);
        let positions: Vec<u64> = got.top_weights.iter().map(|r| r.position).collect();
        assert_eq!(positions, vec![2, 3, 0, 4, 5]);
        assert!(got.channel_scores[1].is_nan());
        assert_eq!(got.top_channels.iter().map(|r| r.position).collect::<Vec<_>>(), vec![0, 2]);
        let magnitude = run(&w, 2, 3, Method::Magnitude, None, 10, 2);
        assert!(magnitude.channel_scores[1].is_nan());
    }

    #[test]
    fn smoothquant_scales_flatten_as_alpha_says() {
        // Column maxima 2 and 8, activation maxima 8 and 2: α = 0.5 gives s = 2 and 0.5, equal ranges after.
        let w = [2.0f32, -8.0, 1.0, 4.0];
        let got = run(&w, 2, 2, Method::SmoothQuant { alpha: 0.5 }, Some(&[8.0, 2.0]), 4, 1);
        assert_eq!(got.channel_scores, vec![2.0, 0.5]);
        assert_eq!(got.column_absmax, Some(vec![2.0, 8.0]));
        assert_eq!(got.top_weights.iter().map(|r| (r.position, r.score)).collect::<Vec<_>>(), vec![(0, 4.0), (1, 4.0), (2, 2.0), (3, 2.0)]);
        let zero = run(&[0.0, 1.0, 0.0, 1.0], 2, 2, Method::SmoothQuant { alpha: 0.5 }, Some(&[1.0, 1.0]), 4, 3);
        assert_eq!(zero.channel_scores[0], f64::INFINITY); // a zero column: 1 / 0
    }

    #[test]
    fn refuses_bad_parameters_and_misplaced_input() {
        assert!(SaliencyJob::new(DType::F32, 0, 4, Method::Magnitude, 1).is_err());
        assert!(SaliencyJob::new(DType::F32, 1, MAX_COLUMNS + 1, Method::Magnitude, 1).is_err());
        assert!(SaliencyJob::new(DType::F32, 1, 4, Method::Magnitude, MAX_TOP + 1).is_err());
        assert!(SaliencyJob::new(DType::Q4_0, 1, 16, Method::Magnitude, 1).is_err());
        assert_eq!(Method::from_code(4, 1.5), None);
        let mut job = SaliencyJob::new(DType::F32, 1, 2, Method::Wanda, 1).unwrap();
        assert_eq!(job.push(&[0; 8]), Err(SaliencyError::Input("this method needs the activation vector before the weights")));
        assert!(job.set_activations(vec![1.0]).is_err());
        job.set_activations(vec![1.0, 2.0]).unwrap();
        assert!(job.push(&[0; 3]).is_err());
        job.push(&[0; 4]).unwrap();
        assert!(job.set_activations(vec![1.0, 2.0]).is_err());
        assert!(job.end_pass().is_err());
        job.push(&[0; 4]).unwrap();
        assert!(job.push(&[0; 4]).is_err());
        assert_eq!(job.end_pass(), Ok(false));
        assert_eq!(job.push(&[0; 4]), Err(SaliencyError::Phase));
    }
}
