//! The leading singular values of a delta D = B − A (or of B alone) by randomized SVD (Halko, Martinsson & Tropp
//! 2011): a Gaussian sketch of k + oversampling columns, power iterations with re-orthonormalization, then the exact
//! SVD of the small projected matrix. D streams row by row, once per pass; memory is O((rows + cols)·(k + p)).
//!
//! Passes: Y = DΩ; per power iteration Z = DᵀQ then Y = DZ; finally Bᵀ = DᵀQ, whose singular values are D's
//! leading ones. ‖D‖²_F is summed exactly in the first pass, for energy fractions and the stable rank.
use crate::decode::DECODE_BLOCK;
use crate::diff::{decode_range, whole_elements};
use crate::dtype::DType;
use crate::hash::gaussian;

/// Why a low-rank job refused input or parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LowRankError {
    /// Partial element groups, or the two sides hold different element counts.
    BadInput,
    /// More elements than the matrix holds in a pass, or input after the last pass.
    WrongPhase,
    /// Empty matrix or no singular values asked for.
    BadParams,
}

/// Leading singular values and what follows from them.
#[derive(Clone, Debug, PartialEq)]
pub struct LowRankResult {
    /// The k leading singular values, largest first.
    pub singular_values: Vec<f64>,
    /// ‖D‖²_F, exact.
    pub frobenius_squared: f64,
    /// ‖D‖²_F / σ₁² (NaN when σ₁ is 0).
    pub stable_rank: f64,
    /// exp(−Σ pᵢ log pᵢ), pᵢ = σᵢ/Σσ over the computed values (NaN when all are 0).
    pub effective_rank: f64,
    /// energy[r − 1] = Σ_{i≤r} σᵢ² / ‖D‖²_F for r = 1..k (NaN when D is 0).
    pub energy: Vec<f64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pass {
    Sketch,
    Transposed { iteration: usize },
    Forward { iteration: usize },
    Project,
    Done,
}

/// A streaming randomized SVD of a rows × cols delta.
pub struct LowRankJob {
    a: Option<DType>,
    b: DType,
    rows: usize,
    cols: usize,
    k: usize,
    width: usize,
    power_iterations: usize,
    /// cols × width, row-major: the Gaussian test matrix, then Z, then Bᵀ.
    omega: Vec<f64>,
    z: Vec<f64>,
    /// rows × width, row-major: Y, orthonormalized into Q.
    q: Vec<f64>,
    pass: Pass,
    row: usize,
    row_a: Vec<f64>,
    row_b: Vec<f64>,
    filled: usize,
    frobenius_squared: f64,
    result: Option<LowRankResult>,
}

impl LowRankJob {
    /// `a` None means D = B. `k` singular values are asked for, computed from k + `oversample` sketch columns.
    pub fn new(a: Option<DType>, b: DType, rows: usize, cols: usize, k: usize, oversample: usize, power_iterations: usize, seed: u64) -> Result<LowRankJob, LowRankError> {
        if rows == 0 || cols == 0 || k == 0 {
            return Err(LowRankError::BadParams);
        }
        let k = k.min(rows).min(cols);
        let width = (k + oversample).min(rows).min(cols);
        let omega = (0..cols * width).map(|i| gaussian(seed, i as u64)).collect();
        Ok(LowRankJob {
            a,
            b,
            rows,
            cols,
            k,
            width,
            power_iterations,
            omega,
            z: vec![0.0; cols * width],
            q: vec![0.0; rows * width],
            pass: Pass::Sketch,
            row: 0,
            row_a: vec![0.0; cols],
            row_b: vec![0.0; cols],
            filled: 0,
            frobenius_squared: 0.0,
            result: None,
        })
    }

    /// The next elements of D's row-major stream, in both sides' dtypes (the same elements).
    pub fn push(&mut self, a_bytes: &[u8], b_bytes: &[u8]) -> Result<(), LowRankError> {
        if self.pass == Pass::Done {
            return Err(LowRankError::WrongPhase);
        }
        let count = whole_elements(self.b, b_bytes.len()).ok_or(LowRankError::BadInput)?;
        if let Some(a) = self.a {
            if whole_elements(a, a_bytes.len()) != Some(count) {
                return Err(LowRankError::BadInput);
            }
        }
        if self.row * self.cols + self.filled + count > self.rows * self.cols {
            return Err(LowRankError::WrongPhase);
        }
        let mut done = 0;
        while done < count {
            let take = (self.cols - self.filled).min(count - done).min(DECODE_BLOCK);
            let at = self.filled;
            decode_range(self.b, b_bytes, done, take, &mut self.row_b[at..at + take]);
            match self.a {
                Some(a) => decode_range(a, a_bytes, done, take, &mut self.row_a[at..at + take]),
                None => self.row_a[at..at + take].iter_mut().for_each(|v| *v = 0.0),
            }
            self.filled += take;
            done += take;
            if self.filled == self.cols {
                self.process_row();
                self.filled = 0;
                self.row += 1;
            }
        }
        Ok(())
    }

    fn process_row(&mut self) {
        for (b, a) in self.row_b.iter_mut().zip(&self.row_a) {
            *b -= a;
        }
        let d = &self.row_b;
        let w = self.width;
        let q_row = &mut self.q[self.row * w..(self.row + 1) * w];
        match self.pass {
            Pass::Sketch | Pass::Forward { .. } => {
                let source = if self.pass == Pass::Sketch { &self.omega } else { &self.z };
                q_row.iter_mut().for_each(|v| *v = 0.0);
                for (j, &dj) in d.iter().enumerate() {
                    if dj != 0.0 {
                        axpy(q_row, dj, &source[j * w..(j + 1) * w]);
                    }
                }
                if self.pass == Pass::Sketch {
                    self.frobenius_squared += d.iter().map(|x| x * x).sum::<f64>();
                }
            }
            Pass::Transposed { .. } | Pass::Project => {
                for (j, &dj) in d.iter().enumerate() {
                    if dj != 0.0 {
                        axpy(&mut self.z[j * w..(j + 1) * w], dj, q_row);
                    }
                }
            }
            Pass::Done => {}
        }
    }

    /// Ends a pass over D. True: stream D again; false: the result is ready.
    pub fn end_pass(&mut self) -> Result<bool, LowRankError> {
        if self.pass == Pass::Done {
            return Ok(false);
        }
        if self.row != self.rows || self.filled != 0 {
            return Err(LowRankError::WrongPhase);
        }
        self.row = 0;
        let w = self.width;
        self.pass = match self.pass {
            Pass::Sketch | Pass::Forward { .. } => {
                let next_iteration = match self.pass {
                    Pass::Forward { iteration } => iteration + 1,
                    _ => 0,
                };
                orthonormalize(&mut self.q, self.rows, w);
                self.z.iter_mut().for_each(|v| *v = 0.0);
                if next_iteration < self.power_iterations {
                    Pass::Transposed { iteration: next_iteration }
                } else {
                    Pass::Project
                }
            }
            Pass::Transposed { iteration } => {
                orthonormalize(&mut self.z, self.cols, w);
                Pass::Forward { iteration }
            }
            Pass::Project => {
                self.result = Some(self.summarize());
                Pass::Done
            }
            Pass::Done => Pass::Done,
        };
        Ok(self.pass != Pass::Done)
    }

    fn summarize(&mut self) -> LowRankResult {
        let mut sigma = singular_values(&self.z, self.cols, self.width);
        sigma.truncate(self.k);
        let total = self.frobenius_squared;
        let mut cumulative = 0.0;
        let energy = sigma
            .iter()
            .map(|s| {
                cumulative += s * s;
                if total > 0.0 {
                    (cumulative / total).min(1.0)
                } else {
                    f64::NAN
                }
            })
            .collect();
        let sum: f64 = sigma.iter().sum();
        let effective_rank = if sum > 0.0 {
            let entropy: f64 = sigma.iter().filter(|&&s| s > 0.0).map(|s| s / sum).map(|p| -p * p.ln()).sum();
            entropy.exp()
        } else {
            f64::NAN
        };
        let stable_rank = if sigma.first().map_or(false, |&s| s > 0.0) { total / (sigma[0] * sigma[0]) } else { f64::NAN };
        LowRankResult { singular_values: sigma, frobenius_squared: total, stable_rank, effective_rank, energy }
    }

    /// The result, once the last pass ended.
    pub fn result(&self) -> Option<&LowRankResult> {
        self.result.as_ref()
    }

    /// The rank-`rank` approximation of D (at most the k asked for), once the last pass ended. With Bᵀ = DᵀQ =
    /// VΣJᵀ (Jacobi), D ≈ QB = (QJ) Σ Vᵀ: the left factor is QJ's leading columns, the right one (VΣ)ᵀ's rows.
    pub fn factors(&self, rank: usize) -> Option<LowRankFactors> {
        self.result.as_ref()?;
        let (w, rank) = (self.width, rank.min(self.k));
        let jacobi = Jacobi::new(&self.z, self.cols, w);
        let leading: Vec<usize> = jacobi.order().into_iter().take(rank).collect();
        let mut left = vec![0.0; self.rows * rank];
        for (i, q_row) in self.q.chunks_exact(w).enumerate() {
            for (c, &column) in leading.iter().enumerate() {
                left[i * rank + c] = q_row.iter().zip(&jacobi.rotation[column]).map(|(q, j)| q * j).sum();
            }
        }
        let right = leading.iter().flat_map(|&column| jacobi.columns[column].iter().copied()).collect();
        Some(LowRankFactors { rank, cols: self.cols, left, right })
    }
}

fn axpy(y: &mut [f64], alpha: f64, x: &[f64]) {
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi += alpha * xi;
    }
}

/// Modified Gram–Schmidt, twice, on the columns of a rows × width row-major matrix. Columns that vanish (the
/// matrix has lower rank) become zero instead of amplified noise.
fn orthonormalize(m: &mut [f64], rows: usize, width: usize) {
    for c in 0..width {
        let original: f64 = (0..rows).map(|i| m[i * width + c] * m[i * width + c]).sum::<f64>().sqrt();
        for _ in 0..2 {
            for p in 0..c {
                let dot: f64 = (0..rows).map(|i| m[i * width + c] * m[i * width + p]).sum();
                for i in 0..rows {
                    m[i * width + c] -= dot * m[i * width + p];
                }
            }
        }
        let norm: f64 = (0..rows).map(|i| m[i * width + c] * m[i * width + c]).sum::<f64>().sqrt();
        let scale = if norm > 1e-12 * original && norm > 0.0 { 1.0 / norm } else { 0.0 };
        for i in 0..rows {
            m[i * width + c] *= scale;
        }
    }
}

/// One-sided Jacobi on the columns of a rows × width row-major matrix M: orthogonal rotations J (width × width) such
/// that the columns of MJ are orthogonal. Their norms are M's singular values; MJ = VΣ and M = VΣJᵀ.
struct Jacobi {
    /// The columns of MJ, in M's column order.
    columns: Vec<Vec<f64>>,
    /// The columns of J.
    rotation: Vec<Vec<f64>>,
    /// Column norms (the singular values), in column order.
    norms: Vec<f64>,
}

impl Jacobi {
    fn new(m: &[f64], rows: usize, width: usize) -> Jacobi {
        // Column-major copies: the rotations work on whole columns.
        let mut cols: Vec<Vec<f64>> = (0..width).map(|c| (0..rows).map(|i| m[i * width + c]).collect()).collect();
        let mut rotation: Vec<Vec<f64>> = (0..width).map(|c| (0..width).map(|r| if r == c { 1.0 } else { 0.0 }).collect()).collect();
        for _sweep in 0..60 {
            let mut rotated = false;
            for p in 0..width {
                for q in p + 1..width {
                    let (alpha, beta, gamma) = cols[p].iter().zip(&cols[q]).fold((0.0, 0.0, 0.0), |(a, b, g), (x, y)| (a + x * x, b + y * y, g + x * y));
                    if gamma == 0.0 || gamma.abs() <= 1e-15 * (alpha * beta).sqrt() {
                        continue;
                    }
                    rotated = true;
                    let zeta = (beta - alpha) / (2.0 * gamma);
                    let t = zeta.signum() / (zeta.abs() + (1.0 + zeta * zeta).sqrt());
                    let t = if zeta == 0.0 { 1.0 } else { t };
                    let c = 1.0 / (1.0 + t * t).sqrt();
                    let s = c * t;
                    rotate(&mut cols, p, q, c, s);
                    rotate(&mut rotation, p, q, c, s);
                }
            }
            if !rotated {
                break;
            }
        }
        let norms = cols.iter().map(|c| c.iter().map(|x| x * x).sum::<f64>().sqrt()).collect();
        Jacobi { columns: cols, rotation, norms }
    }

    /// Column indices by decreasing singular value (stable).
    fn order(&self) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.norms.len()).collect();
        order.sort_by(|&a, &b| self.norms[b].partial_cmp(&self.norms[a]).unwrap_or(std::cmp::Ordering::Equal));
        order
    }
}

/// Columns p and q (p < q) of `cols` become c·x − s·y and s·x + c·y.
fn rotate(cols: &mut [Vec<f64>], p: usize, q: usize, c: f64, s: f64) {
    let (left, right) = cols.split_at_mut(q);
    for (x, y) in left[p].iter_mut().zip(right[0].iter_mut()) {
        let (xv, yv) = (*x, *y);
        *x = c * xv - s * yv;
        *y = s * xv + c * yv;
    }
}

/// Singular values of a rows × width row-major matrix by one-sided Jacobi rotations, largest first.
pub fn singular_values(m: &[f64], rows: usize, width: usize) -> Vec<f64> {
    let jacobi = Jacobi::new(m, rows, width);
    jacobi.order().into_iter().map(|c| jacobi.norms[c]).collect()
}

/// A rank-r approximation W_r = U_r Σ_r V_rᵀ kept as two factors: `left` = U_r (rows × r, row-major) and `right` =
/// Σ_r V_rᵀ (r × cols, row-major), so a row of W_r costs r·cols multiply-adds and the matrix is never formed.
#[derive(Clone, Debug, PartialEq)]
pub struct LowRankFactors {
    /// r.
    pub rank: usize,
    /// Columns of W_r.
    pub cols: usize,
    /// U_r, rows × r.
    pub left: Vec<f64>,
    /// Σ_r V_rᵀ, r × cols.
    pub right: Vec<f64>,
}

impl LowRankFactors {
    /// Row `i` of W_r into `out` (cols values).
    pub fn row_into(&self, i: usize, out: &mut [f64]) {
        out.iter_mut().for_each(|v| *v = 0.0);
        let r = self.rank;
        for (c, &u) in self.left[i * r..(i + 1) * r].iter().enumerate() {
            if u != 0.0 {
                axpy(out, u, &self.right[c * self.cols..(c + 1) * self.cols]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A rows × r matrix with orthonormal columns, from seeded Gaussians.
    fn orthonormal(rows: usize, r: usize, seed: u64) -> Vec<f64> {
        let mut m: Vec<f64> = (0..rows * r).map(|i| gaussian(seed, i as u64)).collect();
        orthonormalize(&mut m, rows, r);
        m
    }

    /// U diag(σ) Vᵀ as F64 bytes, row-major.
    fn matrix(rows: usize, cols: usize, sigma: &[f64], seed: u64) -> Vec<f64> {
        let r = sigma.len();
        let u = orthonormal(rows, r, seed);
        let v = orthonormal(cols, r, seed + 1);
        let mut d = vec![0.0; rows * cols];
        for i in 0..rows {
            for j in 0..cols {
                d[i * cols + j] = (0..r).map(|k| u[i * r + k] * sigma[k] * v[j * r + k]).sum();
            }
        }
        d
    }

    fn bytes(values: &[f64]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    fn run(a: Option<&[f64]>, b: &[f64], rows: usize, cols: usize, k: usize, chunk: usize) -> LowRankResult {
        let mut job = LowRankJob::new(a.map(|_| DType::F64), DType::F64, rows, cols, k, 8, 2, 1234).unwrap();
        let a_bytes = a.map(bytes).unwrap_or_default();
        let b_bytes = bytes(b);
        loop {
            for (i, cb) in b_bytes.chunks(chunk * 8).enumerate() {
                let ca = if a.is_some() { &a_bytes[i * chunk * 8..i * chunk * 8 + cb.len()] } else { &[][..] };
                job.push(ca, cb).unwrap();
            }
            if !job.end_pass().unwrap() {
                break;
            }
        }
        job.result().unwrap().clone()
    }

    #[test]
    fn recovers_the_singular_values_of_a_low_rank_delta_exactly() {
        let (rows, cols) = (70, 50);
        let sigma = [9.0, 5.0, 2.5, 1.0, 0.125];
        let d = matrix(rows, cols, &sigma, 5);
        let base: Vec<f64> = (0..rows * cols).map(|i| gaussian(99, i as u64)).collect();
        let tuned: Vec<f64> = base.iter().zip(&d).map(|(x, y)| x + y).collect();
        let r = run(Some(&base), &tuned, rows, cols, 8, 333);
        for (got, want) in r.singular_values.iter().zip(sigma.iter()) {
            assert!((got - want).abs() < 1e-9 * want.max(1.0), "{:?}", r.singular_values);
        }
        assert!(r.singular_values[sigma.len()..].iter().all(|&s| s < 1e-9), "{:?}", r.singular_values);
        let total: f64 = sigma.iter().map(|s| s * s).sum();
        assert!((r.frobenius_squared - total).abs() < 1e-9 * total);
        assert!((r.energy[0] - 81.0 / total).abs() < 1e-9);
        assert!((r.energy[4] - 1.0).abs() < 1e-9);
        assert!((r.stable_rank - total / 81.0).abs() < 1e-9);
        let sum: f64 = sigma.iter().sum();
        let entropy: f64 = sigma.iter().map(|s| s / sum).map(|p| -p * p.ln()).sum();
        assert!((r.effective_rank - entropy.exp()).abs() < 1e-6);
    }

    #[test]
    fn leading_values_of_a_decaying_full_rank_spectrum_are_accurate() {
        let (rows, cols) = (64, 48);
        let sigma: Vec<f64> = (0..48).map(|i| 0.5f64.powi(i)).collect();
        let d = matrix(rows, cols, &sigma, 11);
        let r = run(None, &d, rows, cols, 6, 1000);
        for i in 0..6 {
            assert!((r.singular_values[i] - sigma[i]).abs() < 1e-8 * sigma[i], "σ{}: {} vs {}", i, r.singular_values[i], sigma[i]);
        }
    }

    #[test]
    fn results_do_not_depend_on_the_chunking() {
        let d = matrix(30, 20, &[3.0, 2.0, 1.0, 0.5], 3);
        let whole = run(None, &d, 30, 20, 4, 600);
        for chunk in [1, 7, 20, 61] {
            assert_eq!(run(None, &d, 30, 20, 4, chunk), whole, "chunks of {}", chunk);
        }
    }

    #[test]
    fn jacobi_singular_values_of_a_known_matrix() {
        // [[3, 0], [4, 5]] has singular values sqrt(45) and sqrt(5).
        let s = singular_values(&[3.0, 0.0, 4.0, 5.0], 2, 2);
        assert!((s[0] - 45f64.sqrt()).abs() < 1e-12 && (s[1] - 5f64.sqrt()).abs() < 1e-12, "{:?}", s);
    }

    #[test]
    fn zero_delta_and_bad_input() {
        let r = run(None, &[0.0; 12], 3, 4, 2, 5);
        assert_eq!(r.singular_values, vec![0.0, 0.0]);
        assert!(r.stable_rank.is_nan() && r.effective_rank.is_nan() && r.energy[0].is_nan());
        assert_eq!(LowRankJob::new(None, DType::F32, 0, 4, 2, 8, 2, 0).err(), Some(LowRankError::BadParams));
        let mut job = LowRankJob::new(None, DType::F32, 2, 2, 1, 8, 2, 0).unwrap();
        assert_eq!(job.push(&[], &[0; 3]), Err(LowRankError::BadInput));
        assert_eq!(job.push(&[], &[0; 20]), Err(LowRankError::WrongPhase));
        assert_eq!(job.end_pass(), Err(LowRankError::WrongPhase));
    }
}
