//! Heatmap tiles: a rectangle of a tensor seen as a matrix `[dim0, product of the rest]`, reduced to an H × W grid
//! of cells, streamed from only the rows the rectangle covers.
//!
//! Output cell (i, j) reduces source rows `A + floor(i·(B−A)/H)` up to `A + floor((i+1)·(B−A)/H)` (exclusive) and
//! the same for columns. Reductions run over finite values only; a cell with no finite value (or an empty source
//! range, when H > B − A) is NaN, meaning null. Mean sums in f64 with compensation, min/max/absmax are exact.
//! Alongside the cells come per-output-row and per-output-column absmax, Σx² and counts over the rectangle, for the
//! marginal strips.
//!
//! Results do not depend on how the bytes are chunked: values are reduced in units of at most 64 consecutive values
//! of one cell in one source row, always cut at the same places, and a unit split across two pushes is completed
//! from a small carry buffer.
use crate::decode::{decode_f64, Decoder, DECODE_BLOCK};
use crate::dtype::DType;
use crate::finite::all_finite;
use crate::simd::{self, F64x2};

/// Largest number of cells one job produces.
pub const MAX_TILE_CELLS: u64 = 1 << 22;
/// Values reduced together before joining a cell's running totals.
const UNIT: u64 = 64;

/// How a cell's values become one number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reducer {
    /// Mean of the finite values.
    Mean,
    /// Largest |x|.
    AbsMax,
    /// Smallest value.
    Min,
    /// Largest value.
    Max,
}

impl Reducer {
    /// The ABI code (0 mean, 1 absmax, 2 min, 3 max).
    pub fn from_code(code: u32) -> Option<Reducer> {
        [Reducer::Mean, Reducer::AbsMax, Reducer::Min, Reducer::Max].get(code as usize).copied()
    }
}

/// What to compute and how the bytes will arrive.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TileSpec {
    /// Columns of the whole matrix.
    pub cols: u64,
    /// Source rows [A, B).
    pub rows: (u64, u64),
    /// Source columns [C, D).
    pub columns: (u64, u64),
    /// Output cells H × W.
    pub size: (u64, u64),
    /// The output rows [i0, i1) this job computes (all of them: (0, H)); reading covers only their source rows.
    pub out_rows: (u64, u64),
    /// How cells reduce.
    pub reducer: Reducer,
    /// Each streamed row holds columns [start, start + len) (the full row: (0, cols)).
    pub segment: (u64, u64),
    /// Elements to drop before the first row (when the read had to start at a group boundary).
    pub skip: u64,
}

impl TileSpec {
    /// Source rows of output row i: [A + floor(i·n/H), A + floor((i+1)·n/H)).
    pub fn source_rows_of(&self, i: u64) -> (u64, u64) {
        let n = self.rows.1 - self.rows.0;
        let at = |i: u64| self.rows.0 + ((i as u128 * n as u128) / self.size.0 as u128) as u64;
        (at(i), at(i + 1))
    }

    /// First source column of output column j.
    pub fn source_column(&self, j: u64) -> u64 {
        let n = self.columns.1 - self.columns.0;
        self.columns.0 + ((j as u128 * n as u128) / self.size.1 as u128) as u64
    }

    fn check(&self) -> Result<(), String> {
        let (a, b) = self.rows;
        let (c, d) = self.columns;
        let (h, w) = self.size;
        let (i0, i1) = self.out_rows;
        let (start, len) = self.segment;
        if a >= b || c >= d || d > self.cols {
            return Err(format!("bad rectangle rows {}..{} columns {}..{} of {}", a, b, c, d, self.cols));
        }
        if h == 0 || w == 0 || h.saturating_mul(w) > MAX_TILE_CELLS {
            return Err(format!("a tile has 1 to {} cells, not {} × {}", MAX_TILE_CELLS, h, w));
        }
        if i0 >= i1 || i1 > h {
            return Err(format!("output rows {}..{} are not within 0..{}", i0, i1, h));
        }
        if start > c || start + len < d || start + len > self.cols {
            return Err(format!("the streamed columns {}..{} do not cover {}..{}", start, start + len, c, d));
        }
        Ok(())
    }
}

/// Running totals of one cell.
#[derive(Clone, Copy, Debug)]
struct Cell {
    sum: f64,
    /// Neumaier compensation of `sum`.
    compensation: f64,
    squares: f64,
    absmax: f64,
    min: f64,
    max: f64,
    count: f64,
}

const EMPTY_CELL: Cell =
    Cell { sum: 0.0, compensation: 0.0, squares: 0.0, absmax: 0.0, min: f64::INFINITY, max: f64::NEG_INFINITY, count: 0.0 };

impl Cell {
    /// Adds to the compensated sum (Neumaier).
    fn add_sum(&mut self, x: f64) {
        neumaier_step(&mut self.sum, &mut self.compensation, x);
    }

    fn add(&mut self, unit: &Cell) {
        self.add_sum(unit.sum);
        self.compensation += unit.compensation;
        self.squares += unit.squares;
        self.count += unit.count;
        self.absmax = if unit.absmax > self.absmax { unit.absmax } else { self.absmax };
        self.min = if unit.min < self.min { unit.min } else { self.min };
        self.max = if unit.max > self.max { unit.max } else { self.max };
    }

    fn value(&self, reducer: Reducer) -> f64 {
        if self.count == 0.0 {
            return f64::NAN;
        }
        match reducer {
            Reducer::Mean => (self.sum + self.compensation) / self.count,
            Reducer::AbsMax => self.absmax,
            Reducer::Min => self.min,
            Reducer::Max => self.max,
        }
    }
}

/// Totals of up to UNIT consecutive values, in four lanes combined in a fixed order (so it vectorizes and never
/// depends on where the slice came from).
fn reduce_unit(values: &[f64]) -> Cell {
    let mut sum = [0.0; 4];
    let mut squares = [0.0; 4];
    let mut absmax = [0.0; 4];
    let mut min = [f64::INFINITY; 4];
    let mut max = [f64::NEG_INFINITY; 4];
    let mut count = [0.0; 4];
    let quads = values.chunks_exact(4);
    let rest = quads.remainder();
    let mut lane = |l: usize, x: f64| {
        let finite = x - x == 0.0;
        let v = if finite { x } else { 0.0 };
        sum[l] += v;
        squares[l] += v * v;
        absmax[l] = if v.abs() > absmax[l] { v.abs() } else { absmax[l] };
        min[l] = if finite && x < min[l] { x } else { min[l] };
        max[l] = if finite && x > max[l] { x } else { max[l] };
        count[l] += if finite { 1.0 } else { 0.0 };
    };
    for quad in quads {
        for (l, &x) in quad.iter().enumerate() {
            lane(l, x);
        }
    }
    for (l, &x) in rest.iter().enumerate() {
        lane(l, x);
    }
    let pick = |a: f64, b: f64, better: fn(f64, f64) -> bool| if better(b, a) { b } else { a };
    Cell {
        sum: (sum[0] + sum[1]) + (sum[2] + sum[3]),
        compensation: 0.0,
        squares: (squares[0] + squares[1]) + (squares[2] + squares[3]),
        absmax: pick(pick(absmax[0], absmax[1], |b, a| b > a), pick(absmax[2], absmax[3], |b, a| b > a), |b, a| b > a),
        min: pick(pick(min[0], min[1], |b, a| b < a), pick(min[2], min[3], |b, a| b < a), |b, a| b < a),
        max: pick(pick(max[0], max[1], |b, a| b > a), pick(max[2], max[3], |b, a| b > a), |b, a| b > a),
        count: (count[0] + count[1]) + (count[2] + count[3]),
    }
}

/// Why a tile job refused a call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TileError {
    /// Parameters that do not describe a tile.
    Params(String),
    /// Partial element groups, or the stream ended early.
    Input(&'static str),
    /// Input after the results were final.
    Phase,
}

/// The finished tile: `rows × W` cells (NaN = null) and the marginal totals.
#[derive(Clone, Debug, PartialEq)]
pub struct TileResult {
    /// Output rows computed (i1 − i0).
    pub rows: usize,
    /// Output columns (W).
    pub cols: usize,
    /// Row-major cell values.
    pub values: Vec<f64>,
    /// Per output row: absmax, Σx², finite count over the rectangle's columns.
    pub row_absmax: Vec<f64>,
    /// Per output row Σx².
    pub row_squares: Vec<f64>,
    /// Per output row finite count.
    pub row_count: Vec<f64>,
    /// Per output column: absmax over the computed rows.
    pub col_absmax: Vec<f64>,
    /// Per output column Σx².
    pub col_squares: Vec<f64>,
    /// Per output column finite count.
    pub col_count: Vec<f64>,
}

/// Visible columns up to which values are accumulated per source column (long lane-wise loops, folded into cells
/// once per output row); wider rectangles reduce each cell's slice of a row directly.
const MAX_COLUMN_ACCUMULATORS: u64 = 1 << 18;

/// Per-column running totals over the source rows of the current output row. The first row of an output row
/// overwrites them, so they never need clearing.
struct Columns {
    /// Sum (mean), min or max, per the reducer; unused for absmax.
    main: Vec<f64>,
    absmax: Vec<f64>,
    squares: Vec<f64>,
    /// Non-finite values seen per column, over the rows added so far.
    bad: Vec<f64>,
    /// Rows added since the last fold.
    rows: f64,
    /// Some non-finite value was added since the last fold.
    any_bad: bool,
}

impl Columns {
    fn new(width: usize) -> Columns {
        Columns { main: vec![0.0; width], absmax: vec![0.0; width], squares: vec![0.0; width], bad: vec![0.0; width], rows: 0.0, any_bad: false }
    }

    /// Adds `values`, the visible columns from `offset` of one source row.
    fn add(&mut self, values: &[f64], offset: usize, reducer: Reducer) {
        if all_finite(values) {
            let quad = move |_: usize, q: usize| [F64x2::load(&values[4 * q..]), F64x2::load(&values[4 * q + 2..])];
            self.add_finite(1, values.len(), quad, move |_, c| values[c], offset, reducer);
            return;
        }
        let end = offset + values.len();
        let first = self.rows == 0.0;
        let (main, absmax, squares, bad) =
            (&mut self.main[offset..end], &mut self.absmax[offset..end], &mut self.squares[offset..end], &mut self.bad[offset..end]);
        self.any_bad = true;
        let start = match reducer {
            Reducer::Min => f64::INFINITY,
            Reducer::Max => f64::NEG_INFINITY,
            _ => 0.0,
        };
        for (k, &x) in values.iter().enumerate() {
            if first {
                main[k] = start;
                absmax[k] = 0.0;
                squares[k] = 0.0;
            }
            if x - x != 0.0 {
                bad[k] += 1.0;
                continue;
            }
            // Min and max as F64x2's lanes pick them (the current value on a tie), so ±0 never depends on the chunking.
            main[k] = match reducer {
                Reducer::Mean => main[k] + x,
                Reducer::Min if x < main[k] => x,
                Reducer::Max if main[k] < x => x,
                _ => main[k],
            };
            squares[k] += x * x;
            absmax[k] = absmax[k].max(x.abs());
        }
    }

    /// Adds `rows` consecutive source rows of finite raw elements of a 16- or 32-bit float: row r's visible columns
    /// from `offset` are `width` elements at byte `r · stride` of `bytes`. Widened four at a time straight into the
    /// fold, all the rows of a column at once: no decoded copy, and the per-column totals are loaded and stored once.
    #[allow(clippy::too_many_arguments)]
    fn add_raw(&mut self, float: RawFloat, bytes: &[u8], rows: usize, stride: usize, width: usize, offset: usize, reducer: Reducer) {
        let size = float.size;
        let value = move |r: usize, c: usize| float.value(&bytes[r * stride + c * size..r * stride + (c + 1) * size]);
        // Each widening by name and with a constant width, so it inlines into the fold without bounds checks.
        match float.dtype {
            DType::BF16 => {
                let quad = move |r: usize, q: usize| simd::widen_bf16(&bytes[r * stride + 8 * q..r * stride + 8 * q + 8]);
                self.add_finite(rows, width, quad, value, offset, reducer)
            }
            DType::F16 => {
                let quad = move |r: usize, q: usize| simd::widen_f16(&bytes[r * stride + 8 * q..r * stride + 8 * q + 8]);
                self.add_finite(rows, width, quad, value, offset, reducer)
            }
            _ => {
                let quad = move |r: usize, q: usize| simd::widen_f32(&bytes[r * stride + 16 * q..r * stride + 16 * q + 16]);
                self.add_finite(rows, width, quad, value, offset, reducer)
            }
        }
    }

    /// Adds `rows` source rows of `width` finite values each, at the visible columns from `offset`: `quad(r, q)` gives
    /// columns 4q..4q + 4 of row r as lane pairs, `value(r, c)` one column (for the last few).
    #[allow(clippy::too_many_arguments)]
    fn add_finite(
        &mut self,
        rows: usize,
        width: usize,
        quad: impl Fn(usize, usize) -> [F64x2; 2] + Copy,
        value: impl Fn(usize, usize) -> f64 + Copy,
        offset: usize,
        reducer: Reducer,
    ) {
        let first = self.rows == 0.0;
        let end = offset + width;
        let (main, absmax, squares) = (&mut self.main[offset..end], &mut self.absmax[offset..end], &mut self.squares[offset..end]);
        // Specialized per reducer; the first row of an output row overwrites instead of adding.
        let mean = |m: F64x2, v: F64x2| m.add(v);
        let min = |m: F64x2, v: F64x2| m.min(v);
        let max = |m: F64x2, v: F64x2| m.max(v);
        let columns = Totals { main, absmax, squares };
        match (reducer, first) {
            (Reducer::Mean, false) => fold_rows::<false, true>(rows, quad, value, columns, mean),
            (Reducer::Min, false) => fold_rows::<false, true>(rows, quad, value, columns, min),
            (Reducer::Max, false) => fold_rows::<false, true>(rows, quad, value, columns, max),
            (Reducer::AbsMax, false) => fold_rows::<false, false>(rows, quad, value, columns, mean),
            (Reducer::AbsMax, true) => fold_rows::<true, false>(rows, quad, value, columns, mean),
            (Reducer::Mean, true) => fold_rows::<true, true>(rows, quad, value, columns, mean),
            (Reducer::Min, true) => fold_rows::<true, true>(rows, quad, value, columns, min),
            (Reducer::Max, true) => fold_rows::<true, true>(rows, quad, value, columns, max),
        }
    }

    /// Starts the next output row (the values are overwritten by its first row; the non-finite counts are cleared).
    fn clear(&mut self) {
        if self.any_bad {
            self.bad.iter_mut().for_each(|b| *b = 0.0);
        }
        self.rows = 0.0;
        self.any_bad = false;
    }

    /// The cell over visible columns [from, to) of the rows added since the last fold.
    fn cell(&self, from: usize, to: usize, reducer: Reducer) -> Cell {
        let mut cell = EMPTY_CELL;
        if self.rows == 0.0 || from == to {
            return cell;
        }
        let bad = if self.any_bad { sum_lanes(&self.bad[from..to]) } else { 0.0 };
        cell.count = self.rows * (to - from) as f64 - bad;
        if cell.count == 0.0 {
            return cell;
        }
        cell.squares = sum_lanes(&self.squares[from..to]);
        cell.absmax = fold_lanes(&self.absmax[from..to], 0.0, F64x2::max);
        let main = &self.main[from..to];
        match reducer {
            Reducer::Mean => {
                let (sum, compensation) = compensated_sum(main);
                cell.sum = sum;
                cell.compensation = compensation;
            }
            Reducer::Min => cell.min = fold_lanes(main, f64::INFINITY, F64x2::min),
            Reducer::Max => cell.max = fold_lanes(main, f64::NEG_INFINITY, F64x2::max),
            Reducer::AbsMax => {}
        }
        cell
    }
}

/// Folds two lanes at a time, the lanes combined last (a fixed order: never depends on the data's origin).
fn fold_lanes(values: &[f64], start: f64, f: impl Fn(F64x2, F64x2) -> F64x2) -> f64 {
    let mut lanes = F64x2::splat(start);
    let pairs = values.chunks_exact(2);
    let rest = pairs.remainder();
    for pair in pairs {
        lanes = f(lanes, F64x2::load(pair));
    }
    for &v in rest {
        lanes = f(lanes, F64x2::load(&[v, start]));
    }
    let [a, b] = lanes.lanes();
    f(F64x2::splat(a), F64x2::splat(b)).lanes()[0]
}

fn sum_lanes(values: &[f64]) -> f64 {
    fold_lanes(values, 0.0, F64x2::add)
}

/// One Neumaier step: adds `x` to the compensated pair (`sum`, `compensation`).
fn neumaier_step(sum: &mut f64, compensation: &mut f64, x: f64) {
    let (t, lost) = neumaier_lanes(F64x2::splat(*sum), F64x2::splat(x));
    *compensation += lost.lanes()[0];
    *sum = t.lanes()[0];
}

/// Neumaier steps in two lanes: the new sums s + x and what rounding lost. The larger term is picked by a lane
/// select, not a branch: which one is larger is a coin toss on real data, and mispredicted branches cost a mean tile
/// a fifth of its time.
#[inline(always)]
fn neumaier_lanes(s: F64x2, x: F64x2) -> (F64x2, F64x2) {
    let t = s.add(x);
    (t, x.abs().le(s.abs()).select(s.sub(t).add(x), x.sub(t).add(s)))
}

/// Σ values as a Neumaier-compensated (sum, compensation) pair, in four interleaved lanes (two F64x2).
fn compensated_sum(values: &[f64]) -> (f64, f64) {
    let zero = F64x2::splat(0.0);
    let (mut sum, mut compensation) = ([zero; 2], [zero; 2]);
    let quads = values.chunks_exact(4);
    let rest = quads.remainder();
    for quad in quads {
        for half in 0..2 {
            let (t, lost) = neumaier_lanes(sum[half], F64x2::load(&quad[2 * half..]));
            compensation[half] = compensation[half].add(lost);
            sum[half] = t;
        }
    }
    let lanes = |v: [F64x2; 2]| {
        let ([a, b], [c, d]) = (v[0].lanes(), v[1].lanes());
        [a, b, c, d]
    };
    let (mut sum, mut compensation) = (lanes(sum), lanes(compensation));
    for (l, &x) in rest.iter().enumerate() {
        neumaier_step(&mut sum[l], &mut compensation[l], x);
    }
    let mut total = EMPTY_CELL;
    for l in 0..4 {
        total.add_sum(sum[l]);
        total.compensation += compensation[l];
    }
    (total.sum, total.compensation)
}

/// The per-column totals of a run of visible columns.
struct Totals<'a> {
    main: &'a mut [f64],
    absmax: &'a mut [f64],
    squares: &'a mut [f64],
}

/// Folds `rows` source rows into the per-column reducer values (when MAIN; the absmax reducer has none), absmax and Σx²,
/// column by column: four columns at a time from `quad(r, q)` (columns 4q..4q + 4 of row r as two lane pairs), the
/// last few from `value(r, c)`. FIRST: the first row starts the totals. Each column sees its rows in order with the
/// same operations as row-by-row folding, so neither the grouping of columns nor of rows changes a bit. Indexed, not
/// a chain of iterator adapters: LLVM 14 leaves those as calls in the wasm build.
#[inline(always)]
fn fold_rows<const FIRST: bool, const MAIN: bool>(
    rows: usize,
    quad: impl Fn(usize, usize) -> [F64x2; 2],
    value: impl Fn(usize, usize) -> f64,
    totals: Totals,
    reduce: impl Fn(F64x2, F64x2) -> F64x2,
) {
    let Totals { main, absmax, squares } = totals;
    let step = |v: F64x2, [m, a, s]: [F64x2; 3]| [if MAIN { reduce(m, v) } else { m }, a.max(v.abs()), s.add(v.mul(v))];
    let start = |v: F64x2, k: usize, main: &[f64], absmax: &[f64], squares: &[f64], load: fn(&[f64]) -> F64x2| {
        if FIRST {
            [v, v.abs(), v.mul(v)]
        } else {
            step(v, [if MAIN { load(&main[k..]) } else { v }, load(&absmax[k..]), load(&squares[k..])])
        }
    };
    let quads = main.len() / 4;
    for q in 0..quads {
        let k = 4 * q;
        let [low, high] = quad(0, q);
        let mut low = start(low, k, main, absmax, squares, F64x2::load);
        let mut high = start(high, k + 2, main, absmax, squares, F64x2::load);
        for r in 1..rows {
            let [l, h] = quad(r, q);
            low = step(l, low);
            high = step(h, high);
        }
        for (at, [m, a, s]) in [(k, low), (k + 2, high)] {
            if MAIN {
                m.store(&mut main[at..]);
            }
            a.store(&mut absmax[at..]);
            s.store(&mut squares[at..]);
        }
    }
    for k in 4 * quads..main.len() {
        let splat = |s: &[f64]| F64x2::splat(s[0]);
        let mut total = start(F64x2::splat(value(0, k)), k, main, absmax, squares, splat);
        for r in 1..rows {
            total = step(F64x2::splat(value(r, k)), total);
        }
        let [m, a, s] = total;
        if MAIN {
            main[k] = m.lanes()[0];
        }
        absmax[k] = a.lanes()[0];
        squares[k] = s.lanes()[0];
    }
}

/// A float dtype whose finite runs the column accumulators fold straight from the little-endian bytes.
#[derive(Clone, Copy)]
struct RawFloat {
    dtype: DType,
    /// Bytes per element.
    size: usize,
    /// The exponent field: all ones means infinity or NaN.
    exponent: u32,
}

impl RawFloat {
    fn of(dtype: DType) -> Option<RawFloat> {
        let (size, exponent) = match dtype {
            DType::BF16 => (2, 0x7f80),
            DType::F16 => (2, 0x7c00),
            DType::F32 => (4, 0x7f80_0000),
            _ => return None,
        };
        Some(RawFloat { dtype, size, exponent })
    }

    /// No infinity or NaN in `bytes`: the largest magnitude bits (sign cleared) stay below an all-ones exponent. An
    /// integer max over the bits in SIMD lanes, instead of a test per decoded value.
    fn all_finite(&self, bytes: &[u8]) -> bool {
        let whole = bytes.len() / 16 * 16;
        let largest = if self.size == 2 {
            let rest = bytes[whole..].chunks_exact(2).map(|b| u16::from_le_bytes([b[0], b[1]]) & 0x7fff);
            rest.fold(simd::max_masked_u16(bytes, 0x7fff), u16::max) as u32
        } else {
            let rest = bytes[whole..].chunks_exact(4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) & 0x7fff_ffff);
            rest.fold(simd::max_masked_u32(bytes, 0x7fff_ffff), u32::max)
        };
        largest < self.exponent
    }

    /// The value of one element.
    fn value(&self, bytes: &[u8]) -> f64 {
        let mut value = [0.0];
        decode_f64(self.dtype, bytes, &mut value);
        value[0]
    }
}

/// Consecutive elements of the stream: decoded values, or the raw bytes of a `RawFloat`.
#[derive(Clone, Copy)]
enum Run<'a> {
    Values(&'a [f64]),
    Raw(RawFloat, &'a [u8]),
}

impl<'a> Run<'a> {
    fn len(&self) -> usize {
        match self {
            Run::Values(values) => values.len(),
            Run::Raw(float, bytes) => bytes.len() / float.size,
        }
    }

    /// Elements [from, to) of the run.
    fn slice(self, from: usize, to: usize) -> Run<'a> {
        match self {
            Run::Values(values) => Run::Values(&values[from..to]),
            Run::Raw(float, bytes) => Run::Raw(float, &bytes[from * float.size..to * float.size]),
        }
    }

    /// The run's values, decoded into `scratch` when raw.
    fn values<'s>(self, scratch: &'s mut Vec<f64>) -> &'s [f64]
    where
        'a: 's,
    {
        match self {
            Run::Values(values) => values,
            Run::Raw(float, bytes) => {
                scratch.resize(bytes.len() / float.size, 0.0);
                decode_f64(float.dtype, bytes, scratch);
                scratch
            }
        }
    }
}

/// Running totals per cell of the current output row, fed by units of one cell's slice of one source row.
struct Slices {
    cells: Vec<Cell>,
    cursor: usize,
    carry: Vec<f64>,
}

enum Accumulators {
    Columns(Columns),
    Slices(Slices),
}

/// A tile in progress.
pub struct TileJob {
    spec: TileSpec,
    decoder: Decoder,
    skip_left: u64,
    /// Current source row and position within its streamed segment.
    row: u64,
    column: u64,
    last_row: u64,
    out_row: u64,
    out_row_end: u64,
    /// Segment-relative first column of each output column, and one past the last.
    bounds: Vec<u64>,
    accumulators: Accumulators,
    /// Decoded values of a raw run that is not all finite, or that feeds the slices.
    scratch: Vec<f64>,
    result: TileResult,
    done: bool,
}

impl TileJob {
    /// A job for the tile `spec` over elements of `dtype`.
    pub fn new(dtype: DType, spec: TileSpec) -> Result<TileJob, TileError> {
        spec.check().map_err(TileError::Params)?;
        let w = spec.size.1 as usize;
        let rows = (spec.out_rows.1 - spec.out_rows.0) as usize;
        let bounds = (0..=spec.size.1).map(|j| spec.source_column(j) - spec.segment.0).collect();
        let first_row = spec.source_rows_of(spec.out_rows.0).0;
        let last_row = spec.source_rows_of(spec.out_rows.1 - 1).1;
        let visible = spec.columns.1 - spec.columns.0;
        let accumulators = if visible <= MAX_COLUMN_ACCUMULATORS {
            Accumulators::Columns(Columns::new(visible as usize))
        } else {
            Accumulators::Slices(Slices { cells: vec![EMPTY_CELL; w], cursor: 0, carry: Vec::with_capacity(UNIT as usize) })
        };
        let mut job = TileJob {
            spec,
            decoder: Decoder::new(dtype),
            skip_left: spec.skip,
            row: first_row,
            column: 0,
            last_row,
            out_row: spec.out_rows.0,
            out_row_end: spec.source_rows_of(spec.out_rows.0).1,
            bounds,
            accumulators,
            scratch: Vec::new(),
            result: TileResult {
                rows,
                cols: w,
                values: vec![f64::NAN; rows * w],
                row_absmax: vec![f64::NAN; rows],
                row_squares: vec![0.0; rows],
                row_count: vec![0.0; rows],
                col_absmax: vec![f64::NAN; w],
                col_squares: vec![0.0; w],
                col_count: vec![0.0; w],
            },
            done: false,
        };
        job.finish_output_rows();
        Ok(job)
    }

    /// Feeds the next bytes (whole element groups, in stream order).
    pub fn push(&mut self, bytes: &[u8]) -> Result<(), TileError> {
        if self.done {
            return Err(TileError::Phase);
        }
        if bytes.len() % self.decoder.dtype().group_bytes() != 0 {
            return Err(TileError::Input("input is not a whole number of elements"));
        }
        let dtype = self.decoder.dtype();
        if let Some(float) = RawFloat::of(dtype) {
            self.push_raw(float, bytes);
        } else {
            let mut decoder = std::mem::replace(&mut self.decoder, Decoder::new(dtype));
            decoder.for_each_block(bytes, |values| self.consume(Run::Values(values)));
            self.decoder = decoder;
        }
        Ok(())
    }

    /// Raw float bytes: whole source rows of the current output row at once when the column accumulators take them and
    /// they are all finite; everything else as runs.
    fn push_raw(&mut self, float: RawFloat, bytes: &[u8]) {
        let n = bytes.len() / float.size;
        let segment_len = self.spec.segment.1 as usize;
        let mut at = 0;
        while at < n {
            let band = self.band_rows(n - at);
            let end = if band > 0 {
                at + band * segment_len
            } else if self.row < self.last_row {
                n.min(at + self.skip_left as usize + (segment_len - self.column as usize))
            } else {
                n
            };
            if band == 0 || !self.add_band(float, &bytes[at * float.size..end * float.size], band) {
                self.consume_runs(float, bytes, at, end);
            }
            at = end;
        }
    }

    /// How many whole source rows, of the current output row, can be folded together from `available` elements.
    fn band_rows(&self, available: usize) -> usize {
        let whole_rows = self.skip_left == 0 && self.column == 0 && self.row < self.last_row;
        if !whole_rows || !matches!(self.accumulators, Accumulators::Columns(_)) {
            return 0;
        }
        ((self.out_row_end - self.row) as usize).min(available / self.spec.segment.1 as usize)
    }

    /// Folds `band` whole source rows into the column accumulators, if all their visible values are finite.
    fn add_band(&mut self, float: RawFloat, rows: &[u8], band: usize) -> bool {
        let stride = self.spec.segment.1 as usize * float.size;
        let visible = self.bounds[0] as usize * float.size..self.bounds[self.bounds.len() - 1] as usize * float.size;
        if !(0..band).all(|r| float.all_finite(&rows[r * stride + visible.start..r * stride + visible.end])) {
            return false;
        }
        if let Accumulators::Columns(columns) = &mut self.accumulators {
            let width = visible.len() / float.size;
            columns.add_raw(float, &rows[visible.start..], band, stride, width, 0, self.spec.reducer);
            columns.rows += band as f64;
        }
        self.row += band as u64;
        self.finish_output_rows();
        true
    }

    /// Elements [from, to) of the pushed `bytes` as runs cut where the decoder's blocks would be, so that which runs
    /// hold a non-finite value (and take the per-value path) is exactly as for decoded dtypes.
    fn consume_runs(&mut self, float: RawFloat, bytes: &[u8], mut from: usize, to: usize) {
        while from < to {
            let end = to.min((from / DECODE_BLOCK + 1) * DECODE_BLOCK);
            self.consume(Run::Raw(float, &bytes[from * float.size..end * float.size]));
            from = end;
        }
    }

    fn consume(&mut self, run: Run) {
        let skip = self.skip_left.min(run.len() as u64) as usize;
        self.skip_left -= skip as u64;
        let mut run = run.slice(skip, run.len());
        let segment_len = self.spec.segment.1;
        while run.len() > 0 && self.row < self.last_row {
            let take = ((segment_len - self.column) as usize).min(run.len());
            self.consume_row_part(run.slice(0, take));
            self.column += take as u64;
            run = run.slice(take, run.len());
            if self.column == segment_len {
                self.column = 0;
                self.row += 1;
                match &mut self.accumulators {
                    Accumulators::Columns(columns) => columns.rows += 1.0,
                    Accumulators::Slices(slices) => slices.cursor = 0,
                }
                self.finish_output_rows();
            }
        }
    }

    /// Values of the current row from segment column `self.column` on.
    fn consume_row_part(&mut self, part: Run) {
        let visible_start = self.bounds[0];
        let visible_end = self.bounds[self.bounds.len() - 1];
        let from = self.column.max(visible_start);
        let to = (self.column + part.len() as u64).min(visible_end);
        if from >= to {
            return;
        }
        let visible = part.slice((from - self.column) as usize, (to - self.column) as usize);
        let (offset, reducer) = ((from - visible_start) as usize, self.spec.reducer);
        match (&mut self.accumulators, visible) {
            (Accumulators::Columns(columns), Run::Raw(float, bytes)) if float.all_finite(bytes) => {
                columns.add_raw(float, bytes, 1, bytes.len(), bytes.len() / float.size, offset, reducer)
            }
            (Accumulators::Columns(columns), run) => columns.add(run.values(&mut self.scratch), offset, reducer),
            (Accumulators::Slices(slices), run) => slices.add(run.values(&mut self.scratch), from, &self.bounds),
        }
    }

    /// Writes out every output row whose source rows have all been seen.
    fn finish_output_rows(&mut self) {
        while self.out_row < self.spec.out_rows.1 && self.out_row_end <= self.row {
            let local = (self.out_row - self.spec.out_rows.0) as usize;
            let w = self.result.cols;
            let reducer = self.spec.reducer;
            let r = &mut self.result;
            let mut row_total = EMPTY_CELL;
            for j in 0..w {
                let cell = match &mut self.accumulators {
                    Accumulators::Columns(columns) => {
                        let origin = self.bounds[0];
                        columns.cell((self.bounds[j] - origin) as usize, (self.bounds[j + 1] - origin) as usize, reducer)
                    }
                    Accumulators::Slices(slices) => std::mem::replace(&mut slices.cells[j], EMPTY_CELL),
                };
                r.values[local * w + j] = cell.value(reducer);
                if cell.count > 0.0 {
                    if !(r.col_absmax[j] >= cell.absmax) {
                        r.col_absmax[j] = cell.absmax;
                    }
                    r.col_squares[j] += cell.squares;
                    r.col_count[j] += cell.count;
                    row_total.add(&cell);
                }
            }
            if let Accumulators::Columns(columns) = &mut self.accumulators {
                columns.clear();
            }
            if row_total.count > 0.0 {
                r.row_absmax[local] = row_total.absmax;
            }
            r.row_squares[local] = row_total.squares;
            r.row_count[local] = row_total.count;
            self.out_row += 1;
            if self.out_row < self.spec.out_rows.1 {
                self.out_row_end = self.spec.source_rows_of(self.out_row).1;
            }
        }
    }

    /// Ends the (only) pass: every row must have arrived.
    pub fn end_pass(&mut self) -> Result<(), TileError> {
        if self.row < self.last_row {
            return Err(TileError::Input("the stream ended before the tile's last row"));
        }
        self.done = true;
        Ok(())
    }

    /// The tile, once the pass has ended.
    pub fn result(&self) -> Option<&TileResult> {
        if self.done {
            Some(&self.result)
        } else {
            None
        }
    }
}

impl Slices {
    /// Visible values of the current row starting at segment column `from`.
    fn add(&mut self, visible: &[f64], from: u64, bounds: &[u64]) {
        let to = from + visible.len() as u64;
        let mut at = from;
        while at < to {
            while bounds[self.cursor + 1] <= at {
                self.cursor += 1;
            }
            let j = self.cursor;
            let (cell_start, cell_end) = (bounds[j], bounds[j + 1]);
            let unit_start = cell_start + (at - cell_start) / UNIT * UNIT;
            let unit_end = (unit_start + UNIT).min(cell_end);
            let end = unit_end.min(to);
            let slice = &visible[(at - from) as usize..(end - from) as usize];
            if self.carry.is_empty() && at == unit_start && end == unit_end {
                let unit = reduce_unit(slice);
                self.cells[j].add(&unit);
            } else {
                self.carry.extend_from_slice(slice);
                if end == unit_end {
                    let unit = reduce_unit(&self.carry);
                    self.cells[j].add(&unit);
                    self.carry.clear();
                }
            }
            at = end;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Straightforward float64 reference of one tile over a row-major matrix.
    fn reference(matrix: &[f64], cols: u64, spec: &TileSpec) -> Vec<f64> {
        let mut out = Vec::new();
        for i in 0..spec.size.0 {
            let (r0, r1) = spec.source_rows_of(i);
            for j in 0..spec.size.1 {
                let (c0, c1) = (spec.source_column(j), spec.source_column(j + 1));
                let mut finite = Vec::new();
                for r in r0..r1 {
                    for c in c0..c1 {
                        let x = matrix[(r * cols + c) as usize];
                        if x.is_finite() {
                            finite.push(x);
                        }
                    }
                }
                out.push(if finite.is_empty() {
                    f64::NAN
                } else {
                    match spec.reducer {
                        Reducer::Mean => finite.iter().sum::<f64>() / finite.len() as f64,
                        Reducer::AbsMax => finite.iter().fold(0.0, |m: f64, x| m.max(x.abs())),
                        Reducer::Min => finite.iter().fold(f64::INFINITY, |m: f64, &x| m.min(x)),
                        Reducer::Max => finite.iter().fold(f64::NEG_INFINITY, |m: f64, &x| m.max(x)),
                    }
                });
            }
        }
        out
    }

    fn matrix(rows: u64, cols: u64) -> Vec<f64> {
        (0..rows * cols)
            .map(|i| {
                let x = ((i as f64 * 0.618034).fract() - 0.5) * 4.0;
                match i % 97 {
                    13 => f64::NAN,
                    29 => f64::INFINITY,
                    _ => (x * 1024.0).round() / 1024.0,
                }
            })
            .collect()
    }

    fn f64_bytes(values: &[f64]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    fn full_rows(spec: TileSpec, matrix: &[f64], chunk: usize) -> TileResult {
        let (first, _) = spec.source_rows_of(spec.out_rows.0);
        let (_, last) = spec.source_rows_of(spec.out_rows.1 - 1);
        let bytes = f64_bytes(&matrix[(first * spec.cols) as usize..(last * spec.cols) as usize]);
        let mut job = TileJob::new(DType::F64, spec).unwrap();
        for part in bytes.chunks(chunk * 8) {
            job.push(part).unwrap();
        }
        job.end_pass().unwrap();
        job.result().unwrap().clone()
    }

    fn spec(rows: (u64, u64), columns: (u64, u64), size: (u64, u64), reducer: Reducer, cols: u64) -> TileSpec {
        TileSpec { cols, rows, columns, size, out_rows: (0, size.0), reducer, segment: (0, cols), skip: 0 }
    }

    fn same(a: &[f64], b: &[f64], relative: f64) -> bool {
        a.len() == b.len()
            && a.iter().zip(b).all(|(x, y)| (x.is_nan() && y.is_nan()) || (x - y).abs() <= relative * y.abs().max(1e-300))
    }

    #[test]
    fn cells_match_a_float64_block_reduction() {
        let (rows, cols) = (37, 301);
        let m = matrix(rows, cols);
        for reducer in [Reducer::Mean, Reducer::AbsMax, Reducer::Min, Reducer::Max] {
            for (r, c, size) in [((0, 37), (0, 301), (5, 7)), ((3, 30), (10, 290), (27, 280)), ((0, 37), (0, 301), (50, 400)), ((5, 6), (100, 101), (1, 1)), ((0, 37), (0, 301), (1, 1))] {
                let s = spec(r, c, size, reducer, cols);
                let got = full_rows(s, &m, 1000);
                let want = reference(&m, cols, &s);
                let tolerance = if reducer == Reducer::Mean { 1e-13 } else { 0.0 };
                assert!(same(&got.values, &want, tolerance), "{:?} {:?} {:?} {:?}", reducer, r, c, size);
            }
        }
    }

    #[test]
    fn chunking_and_splitting_by_output_rows_change_nothing() {
        let (rows, cols) = (64, 1000);
        let m = matrix(rows, cols);
        let s = spec((2, 63), (1, 999), (13, 9), Reducer::Mean, cols);
        let whole = full_rows(s, &m, 1 << 20);
        for chunk in [1, 3, 63, 64, 65, 999, 4097] {
            assert_eq!(full_rows(s, &m, chunk).values, whole.values, "chunk {}", chunk);
        }
        let top = full_rows(TileSpec { out_rows: (0, 6), ..s }, &m, 77);
        let bottom = full_rows(TileSpec { out_rows: (6, 13), ..s }, &m, 77);
        assert_eq!([top.values, bottom.values].concat(), whole.values);
        assert_eq!([top.row_absmax, bottom.row_absmax].concat(), whole.row_absmax);
    }

    #[test]
    fn row_segments_read_only_the_needed_columns() {
        let (rows, cols) = (20, 500);
        let m = matrix(rows, cols);
        let s = TileSpec { segment: (96, 160), ..spec((4, 19), (100, 250), (6, 11), Reducer::Max, cols) };
        let mut stream = Vec::new();
        for r in 4..19 {
            stream.extend_from_slice(&m[(r * cols + 96) as usize..(r * cols + 256) as usize]);
        }
        let mut job = TileJob::new(DType::F64, s).unwrap();
        for part in f64_bytes(&stream).chunks(8 * 33) {
            job.push(part).unwrap();
        }
        job.end_pass().unwrap();
        assert!(same(&job.result().unwrap().values, &reference(&m, cols, &s), 0.0));
    }

    #[test]
    fn marginals_cover_the_rectangle() {
        let (rows, cols) = (10, 40);
        let m: Vec<f64> = (0..rows * cols).map(|i| (i % 7) as f64 - 3.0).collect();
        let s = spec((0, 10), (0, 40), (5, 4), Reducer::AbsMax, cols);
        let t = full_rows(s, &m, 17);
        for i in 0..5 {
            let (r0, r1) = s.source_rows_of(i);
            let values: Vec<f64> = (r0..r1).flat_map(|r| m[(r * cols) as usize..((r + 1) * cols) as usize].to_vec()).collect();
            assert_eq!(t.row_absmax[i as usize], values.iter().fold(0.0, |a: f64, x| a.max(x.abs())));
            assert_eq!(t.row_squares[i as usize], values.iter().map(|x| x * x).sum::<f64>());
            assert_eq!(t.row_count[i as usize], values.len() as f64);
        }
        assert_eq!(t.col_count, vec![100.0; 4]);
    }

    #[test]
    fn empty_source_ranges_are_null_and_skip_drops_leading_elements() {
        let m = vec![1.0, -2.0, 3.0];
        let s = TileSpec { skip: 1, ..spec((0, 1), (0, 3), (2, 6), Reducer::Mean, 3) };
        let mut job = TileJob::new(DType::F64, s).unwrap();
        job.push(&f64_bytes(&[99.0])).unwrap();
        job.push(&f64_bytes(&m)).unwrap();
        job.end_pass().unwrap();
        let v = &job.result().unwrap().values;
        // Row 0 of the output is empty (floor(0·1/2) = floor(1·1/2) = 0); columns 0, 2, 4 are empty.
        assert!(v[..6].iter().all(|x| x.is_nan()));
        assert!(v[6].is_nan() && v[7] == 1.0 && v[8].is_nan() && v[9] == -2.0 && v[10].is_nan() && v[11] == 3.0);
    }

    /// Raw patterns of a 16- or 32-bit float: mostly ordinary values, with −0, subnormals and (when `specials`) NaN and
    /// infinities.
    fn float_patterns(dtype: DType, n: usize, seed: u64, specials: bool) -> Vec<u8> {
        let mut state = seed;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let (size, sign, exponent, subnormal_bits) = match dtype {
            DType::BF16 => (2, 0x8000u64, 0x7f80u64, 0x7fu64),
            DType::F16 => (2, 0x8000, 0x7c00, 0x3ff),
            _ => (4, 0x8000_0000, 0x7f80_0000, 0x7f_ffff),
        };
        let mut bytes = Vec::new();
        for _ in 0..n {
            let r = next();
            let bits = match r % 50 {
                0 => sign,
                1 => r >> 8 & subnormal_bits | (r >> 40 & 1) * sign,
                2 if specials => exponent | (r >> 8 & 1) * sign,
                3 if specials => exponent | 1 + (r >> 8 & subnormal_bits & !1),
                // An ordinary value: any sign and mantissa, an exponent that is neither all zeros nor all ones.
                _ => (r >> 8) & (sign | subnormal_bits) | (exponent / 4 + (r >> 32) % 8 * (exponent & !(exponent << 1))) & exponent,
            };
            bytes.extend_from_slice(&bits.to_le_bytes()[..size]);
        }
        bytes
    }

    #[test]
    fn raw_floats_fold_bit_for_bit_like_their_decoded_values() {
        let bits = |t: &TileResult| -> Vec<u64> {
            [&t.values, &t.row_absmax, &t.row_squares, &t.row_count, &t.col_absmax, &t.col_squares, &t.col_count]
                .iter()
                .flat_map(|v| v.iter().map(|x| x.to_bits()))
                .collect()
        };
        let run = |dtype: DType, bytes: &[u8], spec: TileSpec, chunk: usize| {
            let size = dtype.group_bytes();
            let mut job = TileJob::new(dtype, spec).unwrap();
            for part in bytes.chunks(chunk * size) {
                job.push(part).unwrap();
            }
            job.end_pass().unwrap();
            job.result().unwrap().clone()
        };
        let (rows, cols) = (23u64, 301u64);
        let mut seed = 7;
        for dtype in [DType::BF16, DType::F16, DType::F32] {
            for specials in [false, true] {
                seed += 1;
                let raw = float_patterns(dtype, (rows * cols) as usize, seed, specials);
                let mut decoded = Vec::new();
                Decoder::new(dtype).decode_all(&raw, &mut decoded);
                assert!(decoded.iter().any(|x| *x == 0.0 && x.is_sign_negative()) && decoded.iter().any(|x| x.is_finite() && x.abs() < 1e-38));
                assert_eq!(decoded.iter().any(|x| !x.is_finite()), specials);
                let size = raw.len() / decoded.len();
                for reducer in [Reducer::Mean, Reducer::AbsMax, Reducer::Min, Reducer::Max] {
                    let base = spec((1, 22), (3, 298), (5, 7), reducer, cols);
                    let specs = [
                        base,
                        spec((0, 23), (0, 301), (23, 301), reducer, cols),
                        spec((0, 23), (0, 301), (2, 1), reducer, cols),
                        TileSpec { out_rows: (2, 4), ..base },
                        // More output rows than source rows: some have none.
                        spec((3, 20), (0, 301), (40, 3), reducer, cols),
                        // Odd row segments: columns 37..250 streamed, 41..247 shown, rows 2..21 from an odd skip.
                        TileSpec { segment: (37, 213), ..spec((2, 21), (41, 247), (6, 9), reducer, cols) },
                    ];
                    for s in specs {
                        let (first, last) = (s.source_rows_of(s.out_rows.0).0, s.source_rows_of(s.out_rows.1 - 1).1);
                        let mut stream = Vec::new();
                        let mut values = Vec::new();
                        for r in first..last {
                            let (from, to) = ((r * cols + s.segment.0) as usize, (r * cols + s.segment.0 + s.segment.1) as usize);
                            stream.extend_from_slice(&raw[from * size..to * size]);
                            values.extend_from_slice(&decoded[from..to]);
                        }
                        for chunk in [1, 3, 7, 64, 213, 301, 1001, 4097, 1 << 20] {
                            let fused = run(dtype, &stream, s, chunk);
                            let generic = run(DType::F64, &f64_bytes(&values), s, chunk);
                            assert_eq!(bits(&fused), bits(&generic), "{:?} {:?} {:?} chunk {}", dtype, reducer, s, chunk);
                        }
                        let skipped = TileSpec { skip: 3, ..s };
                        let with_skip = [&raw[..3 * size], &stream[..]].concat();
                        let mut skip_values = decoded[..3].to_vec();
                        skip_values.extend_from_slice(&values);
                        assert_eq!(bits(&run(dtype, &with_skip, skipped, 99)), bits(&run(DType::F64, &f64_bytes(&skip_values), skipped, 99)));
                    }
                }
            }
        }
    }

    #[test]
    fn raw_floats_feed_wide_rectangles_like_their_decoded_values() {
        let cols = MAX_COLUMN_ACCUMULATORS + 1001;
        let raw = float_patterns(DType::BF16, 2 * cols as usize, 3, true);
        let mut decoded = Vec::new();
        Decoder::new(DType::BF16).decode_all(&raw, &mut decoded);
        let s = spec((0, 2), (5, cols - 3), (2, 7), Reducer::Mean, cols);
        let run = |dtype: DType, bytes: &[u8]| {
            let mut job = TileJob::new(dtype, s).unwrap();
            for part in bytes.chunks(4099 * dtype.group_bytes()) {
                job.push(part).unwrap();
            }
            job.end_pass().unwrap();
            job.result().unwrap().clone()
        };
        let (fused, generic) = (run(DType::BF16, &raw), run(DType::F64, &f64_bytes(&decoded)));
        assert!(fused.values.iter().zip(&generic.values).all(|(a, b)| a.to_bits() == b.to_bits()));
        assert_eq!((fused.row_squares, fused.col_count), (generic.row_squares, generic.col_count));
    }

    #[test]
    fn bad_parameters_are_refused() {
        for s in [
            spec((3, 3), (0, 4), (1, 1), Reducer::Mean, 4),
            spec((0, 3), (0, 5), (1, 1), Reducer::Mean, 4),
            spec((0, 3), (0, 4), (0, 1), Reducer::Mean, 4),
            spec((0, 3), (0, 4), (4096, 4096), Reducer::Mean, 4),
        ] {
            assert!(TileJob::new(DType::F32, s).is_err(), "{:?}", s);
        }
        let mut job = TileJob::new(DType::F32, spec((0, 2), (0, 4), (1, 1), Reducer::Mean, 4)).unwrap();
        job.push(&[0; 16]).unwrap();
        assert!(job.end_pass().is_err(), "only one of two rows arrived");
    }
}
