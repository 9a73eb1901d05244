//! Outlier channels and scalars of a tensor seen as a matrix `[dim0, product of the rest]` (rows = output channels,
//! columns = input channels), in one streaming pass over finite values:
//!
//! - per row and per column: absmax, RMS = sqrt(mean x²), excess kurtosis;
//! - channel outlier ratios: max / median of the row (column) absmaxes, numpy's median;
//! - the top k rows and columns by absmax, and the top k scalars by |x| with their z-score
//!   z = (|x| − mean|W|) / std|W| (population std).
//!
//! Memory is O(columns) for the per-column accumulators plus one f64 per row (the median needs every row absmax),
//! and O(k) for the rankings. Rows and columns accumulate in a fixed order (columns row by row, rows in four lanes
//! by column index), so results never depend on chunking.
use crate::decode::Decoder;
use crate::finite::all_finite;
use crate::dtype::DType;
use crate::topk::TopK;

/// Widest matrix analysed (the per-column accumulators take 64 bytes per column).
pub const MAX_COLUMNS: u64 = 1 << 20;
/// Tallest matrix analysed (one f64 per row for the median).
pub const MAX_ROWS: u64 = 1 << 24;
/// Largest k accepted for the rankings.
pub const MAX_TOP: u64 = 1 << 16;

/// Shifted power sums of a set of values: Σ(x − shift)^k for k = 1..4, plus Σx², max |x| and the count.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct PowerSums {
    s1: f64,
    s2: f64,
    s3: f64,
    s4: f64,
    squares: f64,
    absmax: f64,
    count: f64,
}

impl PowerSums {
    fn add(&mut self, x: f64, shift: f64) {
        let d = x - shift;
        let d2 = d * d;
        self.s1 += d;
        self.s2 += d2;
        self.s3 += d2 * d;
        self.s4 += d2 * d2;
        self.squares += x * x;
        self.absmax = if x.abs() > self.absmax { x.abs() } else { self.absmax };
        self.count += 1.0;
    }

    fn merge(&mut self, other: &PowerSums) {
        self.s1 += other.s1;
        self.s2 += other.s2;
        self.s3 += other.s3;
        self.s4 += other.s4;
        self.squares += other.squares;
        self.absmax = if other.absmax > self.absmax { other.absmax } else { self.absmax };
        self.count += other.count;
    }

    fn rms(&self) -> f64 {
        if self.count > 0.0 {
            (self.squares / self.count).sqrt()
        } else {
            f64::NAN
        }
    }

    /// Excess kurtosis E[(x−μ)⁴]/σ⁴ − 3 from the shifted sums; NaN when undefined.
    fn kurtosis(&self) -> f64 {
        let n = self.count;
        if n == 0.0 {
            return f64::NAN;
        }
        let m = self.s1 / n;
        let m2 = self.s2 / n - m * m;
        if m2 <= 0.0 {
            return f64::NAN;
        }
        let m4 = self.s4 / n - 4.0 * m * self.s3 / n + 6.0 * m * m * self.s2 / n - 3.0 * m * m * m * m;
        m4 / (m2 * m2) - 3.0
    }

    /// Population variance from the shifted sums.
    fn variance(&self) -> f64 {
        let m = self.s1 / self.count;
        (self.s2 / self.count - m * m).max(0.0)
    }
}

/// The per-column PowerSums of a matrix, one vector per field so that whole rows update lane-wise (vectorized).
/// Each column's shift is its first finite value.
struct ColumnSums {
    shift: Vec<f64>,
    s1: Vec<f64>,
    s2: Vec<f64>,
    s3: Vec<f64>,
    s4: Vec<f64>,
    squares: Vec<f64>,
    absmax: Vec<f64>,
    count: Vec<f64>,
    /// Columns without a finite value yet (so without a shift).
    unshifted: usize,
}

impl ColumnSums {
    fn new(cols: usize) -> ColumnSums {
        let zeros = || vec![0.0; cols];
        ColumnSums { shift: zeros(), s1: zeros(), s2: zeros(), s3: zeros(), s4: zeros(), squares: zeros(), absmax: zeros(), count: zeros(), unshifted: cols }
    }

    /// Adds finite `x` to column `c` (PowerSums::add, field by field).
    fn add(&mut self, c: usize, x: f64) {
        if self.count[c] == 0.0 {
            self.shift[c] = x;
            self.unshifted -= 1;
        }
        let d = x - self.shift[c];
        let d2 = d * d;
        self.s1[c] += d;
        self.s2[c] += d2;
        self.s3[c] += d2 * d;
        self.s4[c] += d2 * d2;
        self.squares[c] += x * x;
        self.absmax[c] = if x.abs() > self.absmax[c] { x.abs() } else { self.absmax[c] };
        self.count[c] += 1.0;
    }

    /// Adds finite values to consecutive columns from `from`, every one already shifted: the same arithmetic as
    /// `add`, as one lane-wise loop.
    fn add_run(&mut self, from: usize, values: &[f64]) {
        let to = from + values.len();
        let (shift, s1, s2, s3, s4) = (&self.shift[from..to], &mut self.s1[from..to], &mut self.s2[from..to], &mut self.s3[from..to], &mut self.s4[from..to]);
        let (squares, absmax, count) = (&mut self.squares[from..to], &mut self.absmax[from..to], &mut self.count[from..to]);
        for k in 0..values.len() {
            let x = values[k];
            let d = x - shift[k];
            let d2 = d * d;
            s1[k] += d;
            s2[k] += d2;
            s3[k] += d2 * d;
            s4[k] += d2 * d2;
            squares[k] += x * x;
            absmax[k] = if x.abs() > absmax[k] { x.abs() } else { absmax[k] };
            count[k] += 1.0;
        }
    }

    fn sums(&self, c: usize) -> PowerSums {
        PowerSums {
            s1: self.s1[c], s2: self.s2[c], s3: self.s3[c], s4: self.s4[c], squares: self.squares[c], absmax: self.absmax[c], count: self.count[c],
        }
    }
}

/// One channel in a ranking.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Channel {
    /// Row or column index.
    pub index: u64,
    /// Largest |x|.
    pub absmax: f64,
    /// sqrt(mean x²).
    pub rms: f64,
    /// Excess kurtosis (NaN when undefined).
    pub kurtosis: f64,
}

/// One scalar in a ranking.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scalar {
    /// Row and column.
    pub row: u64,
    /// Column.
    pub col: u64,
    /// The value.
    pub value: f64,
    /// (|value| − mean|W|) / std|W|; NaN when std|W| is 0.
    pub z: f64,
}

/// Why a channel job refused a call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChannelError {
    /// A matrix too large to analyse, or a bad k.
    Params(String),
    /// Partial element groups, too many elements, or too few at the end.
    Input(&'static str),
    /// Input after the results were final.
    Phase,
}

/// Everything the outlier analysis reports for one tensor.
#[derive(Clone, Debug, PartialEq)]
pub struct ChannelResult {
    /// Finite elements.
    pub count: f64,
    /// mean |W| over finite elements.
    pub mean_abs: f64,
    /// Population std of |W|.
    pub std_abs: f64,
    /// Median of the row absmaxes (rows with a finite value).
    pub row_median: f64,
    /// Median of the column absmaxes.
    pub col_median: f64,
    /// Largest row absmax / row median (NaN when the median is 0 or undefined).
    pub row_ratio: f64,
    /// Largest column absmax / column median.
    pub col_ratio: f64,
    /// Top rows by absmax.
    pub top_rows: Vec<Channel>,
    /// Top columns by absmax.
    pub top_cols: Vec<Channel>,
    /// Top scalars by |value|.
    pub top_scalars: Vec<Scalar>,
}

/// The outlier analysis of one tensor in progress.
pub struct ChannelJob {
    decoder: Decoder,
    rows: u64,
    cols: u64,
    row: u64,
    col: u64,
    columns: ColumnSums,
    row_shift: Option<f64>,
    row_lanes: [PowerSums; 4],
    row_absmax: Vec<f64>,
    top_rows: TopK<Channel>,
    top_scalars: TopK<(u64, u64, f64)>,
    abs_shift: Option<f64>,
    abs_lanes: [PowerSums; 4],
    abs_total: PowerSums,
    k: usize,
    result: Option<ChannelResult>,
}

impl ChannelJob {
    /// A job over a `rows × cols` matrix of `dtype`, ranking the top `k` rows, columns and scalars.
    pub fn new(dtype: DType, rows: u64, cols: u64, k: u64) -> Result<ChannelJob, ChannelError> {
        if rows == 0 || cols == 0 {
            return Err(ChannelError::Params("the matrix has no element".into()));
        }
        if cols > MAX_COLUMNS {
            return Err(ChannelError::Params(format!("{} columns is more than the {} analysed per matrix", cols, MAX_COLUMNS)));
        }
        if rows > MAX_ROWS {
            return Err(ChannelError::Params(format!("{} rows is more than the {} analysed per matrix", rows, MAX_ROWS)));
        }
        if k > MAX_TOP {
            return Err(ChannelError::Params(format!("top {} is more than {}", k, MAX_TOP)));
        }
        let k = k as usize;
        Ok(ChannelJob {
            decoder: Decoder::new(dtype),
            rows,
            cols,
            row: 0,
            col: 0,
            columns: ColumnSums::new(cols as usize),
            row_shift: None,
            row_lanes: [PowerSums::default(); 4],
            row_absmax: Vec::with_capacity(rows as usize),
            top_rows: TopK::new(k),
            top_scalars: TopK::new(k),
            abs_shift: None,
            abs_lanes: [PowerSums::default(); 4],
            abs_total: PowerSums::default(),
            k,
            result: None,
        })
    }

    /// Feeds the next bytes of the matrix (whole element groups, row-major).
    pub fn push(&mut self, bytes: &[u8]) -> Result<(), ChannelError> {
        if self.result.is_some() {
            return Err(ChannelError::Phase);
        }
        if bytes.len() % self.decoder.dtype().group_bytes() != 0 {
            return Err(ChannelError::Input("input is not a whole number of elements"));
        }
        if self.row >= self.rows && !bytes.is_empty() {
            return Err(ChannelError::Input("more elements than the matrix holds"));
        }
        let dtype = self.decoder.dtype();
        let mut decoder = std::mem::replace(&mut self.decoder, Decoder::new(dtype));
        decoder.for_each_block(bytes, |values| self.consume(values));
        self.decoder = decoder;
        Ok(())
    }

    fn consume(&mut self, mut values: &[f64]) {
        while !values.is_empty() && self.row < self.rows {
            let take = ((self.cols - self.col) as usize).min(values.len());
            self.consume_row_part(&values[..take]);
            self.col += take as u64;
            values = &values[take..];
            if self.col == self.cols {
                self.end_row();
            }
        }
    }

    /// Values of the current row from column `self.col` on.
    fn consume_row_part(&mut self, part: &[f64]) {
        let first_col = self.col as usize;
        let row = self.row;
        if self.columns.unshifted == 0 && all_finite(part) {
            self.add_finite_run(first_col, part);
        } else {
            for (k, &x) in part.iter().enumerate() {
                if x - x == 0.0 {
                    self.add_row_value(first_col + k, x);
                    self.columns.add(first_col + k, x);
                }
            }
        }
        // Scalars can only enter the ranking when this row reached past its threshold.
        let row_absmax = self.row_lanes.iter().fold(0.0, |m: f64, l| m.max(l.absmax));
        if row_absmax > self.top_scalars.threshold() || !self.top_scalars.is_full() {
            for (k, &x) in part.iter().enumerate() {
                if x - x == 0.0 && x.abs() >= self.top_scalars.threshold() {
                    let col = (first_col + k) as u64;
                    self.top_scalars.offer(x.abs(), row * self.cols + col, (row, col, x));
                }
            }
        }
    }

    /// Adds one finite value to the row's lane (by column index) and to the |W| moments.
    fn add_row_value(&mut self, c: usize, x: f64) {
        let row_shift = *self.row_shift.get_or_insert(x);
        let abs_shift = *self.abs_shift.get_or_insert(x.abs());
        self.row_lanes[c % 4].add(x, row_shift);
        self.abs_lanes[c % 4].add(x.abs(), abs_shift);
    }

    /// A run of finite values from column `from`: the same arithmetic as value by value, in lane-wise loops.
    fn add_finite_run(&mut self, from: usize, values: &[f64]) {
        self.columns.add_run(from, values);
        let head = ((4 - from % 4) % 4).min(values.len());
        for (k, &x) in values[..head].iter().enumerate() {
            self.add_row_value(from + k, x);
        }
        let first = match values.get(head) {
            Some(&first) => first,
            None => return,
        };
        let row_shift = *self.row_shift.get_or_insert(first);
        let abs_shift = *self.abs_shift.get_or_insert(first.abs());
        let (mut lanes, mut abs_lanes) = (self.row_lanes, self.abs_lanes);
        let quads = values[head..].chunks_exact(4);
        let tail = quads.remainder();
        for quad in quads {
            for l in 0..4 {
                lanes[l].add(quad[l], row_shift);
                abs_lanes[l].add(quad[l].abs(), abs_shift);
            }
        }
        for (l, &x) in tail.iter().enumerate() {
            lanes[l].add(x, row_shift);
            abs_lanes[l].add(x.abs(), abs_shift);
        }
        self.row_lanes = lanes;
        self.abs_lanes = abs_lanes;
    }

    fn end_row(&mut self) {
        let mut total = self.row_lanes[0];
        for lane in &self.row_lanes[1..] {
            total.merge(lane);
        }
        let mut abs_total = self.abs_lanes[0];
        for lane in &self.abs_lanes[1..] {
            abs_total.merge(lane);
        }
        self.abs_total.merge(&abs_total);
        if total.count > 0.0 {
            self.row_absmax.push(total.absmax);
            let channel = Channel { index: self.row, absmax: total.absmax, rms: total.rms(), kurtosis: total.kurtosis() };
            self.top_rows.offer(total.absmax, self.row, channel);
        } else {
            self.row_absmax.push(f64::NAN);
        }
        self.row_lanes = [PowerSums::default(); 4];
        self.abs_lanes = [PowerSums::default(); 4];
        self.row_shift = None;
        self.col = 0;
        self.row += 1;
    }

    /// Ends the (only) pass and computes the results; every element must have arrived.
    pub fn end_pass(&mut self) -> Result<(), ChannelError> {
        if self.result.is_some() {
            return Ok(());
        }
        if self.row < self.rows {
            return Err(ChannelError::Input("the stream ended before the last row"));
        }
        let mut top_cols = TopK::new(self.k);
        let mut col_absmax = Vec::with_capacity(self.cols as usize);
        for c in 0..self.cols as usize {
            let sums = self.columns.sums(c);
            if sums.count > 0.0 {
                col_absmax.push(sums.absmax);
                let channel = Channel { index: c as u64, absmax: sums.absmax, rms: sums.rms(), kurtosis: sums.kurtosis() };
                top_cols.offer(sums.absmax, c as u64, channel);
            }
        }
        let mut row_absmax: Vec<f64> = self.row_absmax.iter().copied().filter(|a| !a.is_nan()).collect();
        let row_ratio = outlier_ratio(&mut row_absmax);
        let col_ratio = outlier_ratio(&mut col_absmax);
        let top_rows = std::mem::replace(&mut self.top_rows, TopK::new(0)).into_sorted().into_iter().map(|r| r.item).collect();
        let top_cols = top_cols.into_sorted().into_iter().map(|r| r.item).collect();
        let total = &self.abs_total;
        let (mean_abs, std_abs) = if total.count > 0.0 {
            (self.abs_shift.unwrap_or(0.0) + total.s1 / total.count, total.variance().sqrt())
        } else {
            (f64::NAN, f64::NAN)
        };
        let top_scalars = std::mem::replace(&mut self.top_scalars, TopK::new(0))
            .into_sorted()
            .into_iter()
            .map(|r| r.item)
            .map(|(row, col, value)| Scalar { row, col, value, z: if std_abs > 0.0 { (value.abs() - mean_abs) / std_abs } else { f64::NAN } })
            .collect();
        self.result = Some(ChannelResult {
            count: total.count,
            mean_abs,
            std_abs,
            row_median: row_ratio.1,
            col_median: col_ratio.1,
            row_ratio: row_ratio.0,
            col_ratio: col_ratio.0,
            top_rows,
            top_cols,
            top_scalars,
        });
        Ok(())
    }

    /// The results, once the pass has ended.
    pub fn result(&self) -> Option<&ChannelResult> {
        self.result.as_ref()
    }
}

/// (max / median, median) of channel absmaxes; the ratio is NaN when the median is 0 or there is no channel.
fn outlier_ratio(absmax: &mut [f64]) -> (f64, f64) {
    let max = absmax.iter().fold(f64::NAN, |m, &a| if m >= a { m } else { a });
    let median = median(absmax);
    (if median > 0.0 { max / median } else { f64::NAN }, median)
}

/// numpy's median: the middle value, or the mean of the two middle values of an even count; NaN when empty.
/// Reorders `values`.
pub fn median(values: &mut [f64]) -> f64 {
    let n = values.len();
    if n == 0 {
        return f64::NAN;
    }
    let upper = *values.select_nth_unstable_by(n / 2, |a, b| a.total_cmp(b)).1;
    if n % 2 == 1 {
        return upper;
    }
    let lower = values[..n / 2].iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v));
    (lower + upper) / 2.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(values: &[f32], rows: u64, k: u64, chunk: usize) -> ChannelResult {
        let cols = values.len() as u64 / rows;
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        let mut job = ChannelJob::new(DType::F32, rows, cols, k).unwrap();
        for part in bytes.chunks(chunk * 4) {
            job.push(part).unwrap();
        }
        job.end_pass().unwrap();
        job.result().unwrap().clone()
    }

    /// A seeded matrix with planted outlier columns 3 and 17, a loud row 5 and one extreme scalar.
    fn planted(rows: usize, cols: usize) -> Vec<f32> {
        let mut state = 7u32;
        let mut values: Vec<f32> = (0..rows * cols)
            .map(|i| {
                state = state.wrapping_mul(1664525).wrapping_add(1013904223);
                let x = (state >> 8) as f32 / (1 << 24) as f32 - 0.5;
                let col = i % cols;
                x * if col == 3 || col == 17 { 20.0 } else { 1.0 }
            })
            .collect();
        for c in 0..cols {
            values[5 * cols + c] *= 4.0;
        }
        values[9 * cols + 30] = -250.0;
        values
    }

    #[test]
    fn planted_channels_and_scalar_are_found() {
        let r = run(&planted(40, 64), 40, 3, 1000);
        assert_eq!((r.top_scalars[0].row, r.top_scalars[0].col, r.top_scalars[0].value), (9, 30, -250.0));
        assert!(r.top_scalars[0].z > 20.0, "z {}", r.top_scalars[0].z);
        let cols: Vec<u64> = r.top_cols.iter().map(|c| c.index).collect();
        assert_eq!(cols[0], 30);
        assert!(cols.contains(&3) && cols.contains(&17), "{:?}", cols);
        assert_eq!(r.top_rows[0].index, 9);
        assert!(r.col_ratio > 10.0);
    }

    #[test]
    fn matches_a_straightforward_reference() {
        let (rows, cols) = (23usize, 31usize);
        let m = planted(rows, cols);
        let r = run(&m, rows as u64, 5, 37);
        let column = |c: usize| (0..rows).map(|i| m[i * cols + c] as f64).collect::<Vec<f64>>();
        let row = |i: usize| m[i * cols..(i + 1) * cols].iter().map(|&x| x as f64).collect::<Vec<f64>>();
        let stats = |v: &[f64]| {
            let n = v.len() as f64;
            let mean = v.iter().sum::<f64>() / n;
            let m2 = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
            let m4 = v.iter().map(|x| (x - mean).powi(4)).sum::<f64>() / n;
            (v.iter().fold(0.0, |a: f64, x| a.max(x.abs())), (v.iter().map(|x| x * x).sum::<f64>() / n).sqrt(), m4 / (m2 * m2) - 3.0)
        };
        for c in &r.top_cols {
            let (absmax, rms, kurtosis) = stats(&column(c.index as usize));
            assert_eq!(c.absmax, absmax);
            assert!((c.rms - rms).abs() <= 1e-12 * rms && (c.kurtosis - kurtosis).abs() <= 1e-9 * kurtosis.abs().max(1.0));
        }
        for ch in &r.top_rows {
            let (absmax, rms, kurtosis) = stats(&row(ch.index as usize));
            assert_eq!(ch.absmax, absmax);
            assert!((ch.rms - rms).abs() <= 1e-12 * rms && (ch.kurtosis - kurtosis).abs() <= 1e-9 * kurtosis.abs().max(1.0));
        }
        let mut col_max: Vec<f64> = (0..cols).map(|c| stats(&column(c)).0).collect();
        col_max.sort_by(|a, b| a.total_cmp(b));
        let col_median = col_max[cols / 2];
        assert_eq!(r.col_median, col_median);
        assert_eq!(r.col_ratio, col_max[cols - 1] / col_median);
        let abs: Vec<f64> = m.iter().map(|x| (*x as f64).abs()).collect();
        let mean = abs.iter().sum::<f64>() / abs.len() as f64;
        let std = (abs.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / abs.len() as f64).sqrt();
        assert!((r.mean_abs - mean).abs() <= 1e-12 * mean && (r.std_abs - std).abs() <= 1e-10 * std);
        let z = (250.0 - mean) / std;
        assert!((r.top_scalars[0].z - z).abs() <= 1e-9 * z);
    }

    #[test]
    fn results_do_not_depend_on_chunking() {
        let m = planted(17, 50);
        let whole = run(&m, 17, 7, 1 << 20);
        for chunk in [1, 3, 49, 50, 51, 333] {
            assert_eq!(run(&m, 17, 7, chunk), whole, "chunk {}", chunk);
        }
    }

    #[test]
    fn ties_rank_earlier_positions_first_and_nan_is_skipped() {
        let values = [1.0f32, -3.0, 3.0, f32::NAN, 3.0, 0.5];
        let r = run(&values, 2, 2, 1);
        let got: Vec<(u64, u64)> = r.top_scalars.iter().map(|s| (s.row, s.col)).collect();
        assert_eq!(got, vec![(0, 1), (0, 2)]);
        assert_eq!(r.count, 5.0);
        assert_eq!(r.top_cols.iter().map(|c| c.index).collect::<Vec<_>>(), vec![1, 2]);
    }

    #[test]
    fn median_follows_numpy() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), 2.5);
        assert!(median(&mut []).is_nan());
        // Ratio is undefined when the median is zero.
        let r = run(&[0.0, 0.0, 0.0, 5.0], 2, 1, 4);
        assert!(r.col_ratio.is_nan() || r.col_median > 0.0);
        assert!(run(&[0.0; 6], 3, 1, 6).row_ratio.is_nan());
    }

    #[test]
    fn oversized_matrices_are_refused() {
        assert!(ChannelJob::new(DType::F32, 2, MAX_COLUMNS + 1, 10).is_err());
        assert!(ChannelJob::new(DType::F32, MAX_ROWS + 1, 2, 10).is_err());
    }
}
