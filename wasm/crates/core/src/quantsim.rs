//! Quantization-error preview: what each tensor would lose under a quantization scheme, simulated in f64 (or in
//! f32 exactly as ggml does for Q8_0/Q4_0), optionally keeping the largest |w| in high precision.
//!
//! The tensor is seen as a matrix `[dim0, product of the rest]`; every scheme groups consecutive elements of a row
//! (the input dimension): groups of g, a trailing partial group being its own group. Non-finite elements take no
//! part: they neither set scales nor count in the errors.
//!
//! Passes: when a scheme needs the tensor's absmax (FP8 per tensor, NVFP4's global scale) or outliers are kept, a
//! first pass gathers the absmax and a histogram of |w|; with kept outliers, exact radix selection then finds the
//! keep threshold (one to three more passes). The last pass buffers one row at a time and quantizes it, so results
//! do not depend on how the bytes were chunked.
//!
//! With column weights a_j (saliency: H_jj = Σ x_j² from imported activation statistics), every error is also summed
//! weighted, Σ a_j (w_ij − ŵ_ij)², against the weighted signal Σ a_j w_ij²: the error that reaches the layer's output
//! under a diagonal approximation of its input's second moment (the objective llama.cpp's imatrix quantizers weigh by).
use crate::decode::{f16_bits_to_f32, Decoder};
use crate::dtype::DType;
use crate::ranks::{Histogram16, RankSearch};
use crate::rounding::{f32_to_f16_bits, floor_log2, pow2, round_half_even, E2M1, E4M3};

/// The simulated schemes, in ABI bit order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    /// Symmetric INT8, one scale per row.
    Int8SymRow,
    /// Symmetric INT8, groups of 128.
    Int8SymG128,
    /// Symmetric INT4, groups of 32.
    Int4SymG32,
    /// Asymmetric INT4, groups of 128.
    Int4AsymG128,
    /// Asymmetric INT4, groups of 64.
    Int4AsymG64,
    /// Asymmetric INT3, groups of 64.
    Int3AsymG64,
    /// GGUF Q8_0 (ggml's reference quantizer).
    Q8_0,
    /// GGUF Q4_0 (ggml's reference quantizer).
    Q4_0,
    /// FP8 E4M3 with one scale per tensor.
    Fp8E4m3Tensor,
    /// FP8 E4M3 with one scale per row.
    Fp8E4m3Row,
    /// OCP MXFP4: E2M1 elements, E8M0 scale per 32.
    Mxfp4,
    /// NVIDIA NVFP4: E2M1 elements, E4M3 scale per 16, FP32 global scale.
    Nvfp4,
}

/// Every scheme, in ABI bit order.
pub const SCHEMES: [Scheme; 12] = [
    Scheme::Int8SymRow, Scheme::Int8SymG128, Scheme::Int4SymG32, Scheme::Int4AsymG128, Scheme::Int4AsymG64,
    Scheme::Int3AsymG64, Scheme::Q8_0, Scheme::Q4_0, Scheme::Fp8E4m3Tensor, Scheme::Fp8E4m3Row, Scheme::Mxfp4,
    Scheme::Nvfp4,
];

/// Per-mille fractions of |w| that can be kept in high precision (0.1 % and 1 %), in ABI bit order.
pub const KEEP_PER_MILLE: [u64; 2] = [1, 10];

/// NVFP4's global scale maps the tensor's absmax to the largest E4M3 block scale times the largest E2M1 value.
const NVFP4_GLOBAL_RANGE: f64 = 448.0 * 6.0;

/// Rows longer than this are not buffered (the last pass holds one row).
pub const MAX_ROW_ELEMENTS: u64 = 1 << 22;

impl Scheme {
    /// Elements per group along a row; None: the whole row.
    pub fn group(self) -> Option<usize> {
        match self {
            Scheme::Int8SymRow | Scheme::Fp8E4m3Row | Scheme::Fp8E4m3Tensor => None,
            Scheme::Int8SymG128 | Scheme::Int4AsymG128 => Some(128),
            Scheme::Int4AsymG64 | Scheme::Int3AsymG64 => Some(64),
            Scheme::Int4SymG32 | Scheme::Q8_0 | Scheme::Q4_0 | Scheme::Mxfp4 => Some(32),
            Scheme::Nvfp4 => Some(16),
        }
    }

    /// Needs the absmax of the whole tensor before quantizing.
    pub fn needs_tensor_absmax(self) -> bool {
        matches!(self, Scheme::Fp8E4m3Tensor | Scheme::Nvfp4)
    }

    /// ggml cannot quantize rows that are not whole blocks.
    pub fn needs_whole_blocks(self) -> bool {
        matches!(self, Scheme::Q8_0 | Scheme::Q4_0)
    }
}

/// Why a quantization job cannot be made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QuantError {
    /// Parameters out of range (the message says which).
    Params(String),
    /// Bytes that are not whole element groups, or more elements than the tensor holds.
    Input(&'static str),
    /// A call in the wrong phase.
    Phase,
}

/// Squared and largest absolute error of one (scheme, kept fraction).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ErrorSums {
    /// Σ (w − ŵ)².
    pub squared: f64,
    /// max |w − ŵ|.
    pub max_abs: f64,
}

impl ErrorSums {
    fn add(&mut self, w: f64, reconstructed: f64) {
        let e = w - reconstructed;
        self.squared += e * e;
        if e.abs() > self.max_abs {
            self.max_abs = e.abs();
        }
    }
}

/// Where a quantizer reports each regular element's reconstruction, in row order (every quantizer reports each
/// regular element of its group exactly once, groups in order): the error sums, and with column weights the
/// weighted squared error, the weight found by walking the row's element classes to the next regular element.
struct Sink<'a> {
    sums: &'a mut ErrorSums,
    weighted: &'a mut f64,
    weights: Option<&'a [f64]>,
    classes: &'a [u8],
    at: usize,
}

impl Sink<'_> {
    fn add(&mut self, w: f64, reconstructed: f64) {
        self.sums.add(w, reconstructed);
        if let Some(weights) = self.weights {
            while self.classes[self.at] != REGULAR {
                self.at += 1;
            }
            let e = w - reconstructed;
            *self.weighted += weights[self.at] * e * e;
            self.at += 1;
        }
    }
}

/// Column-weighted sums (see the module comment).
#[derive(Clone, Debug, PartialEq)]
pub struct WeightedSums {
    /// Σ a_j w_ij² over the finite elements.
    pub signal: f64,
    /// Σ a_j (w_ij − ŵ_ij)², in the order of `QuantResult::errors`.
    pub squared: Vec<f64>,
}

/// Final results: the signal and, for each requested scheme then each keep level (none, then the requested
/// fractions), the errors.
#[derive(Clone, Debug, PartialEq)]
pub struct QuantResult {
    /// Finite elements.
    pub count: f64,
    /// Σ w² over the finite elements.
    pub signal: f64,
    /// `errors[s * levels + l]`: scheme s (requested order), keep level l.
    pub errors: Vec<ErrorSums>,
    /// The column-weighted sums, when the job was given column weights.
    pub weighted: Option<WeightedSums>,
}

/// One keep level: which elements stay exact. The k largest |w| (k = ceil(fraction · finite count)); among equal
/// magnitudes at the threshold, those earlier in row-major order.
#[derive(Clone, Copy, Debug)]
struct KeepLevel {
    per_mille: u64,
    /// Key (|w| bits) of the k-th largest; elements above it are kept.
    threshold: u64,
    /// Elements equal to the threshold still to keep, in row-major order.
    ties_left: u64,
    /// Largest |w| not kept (the (k+1)-th largest), for the tensor-wide scales.
    absmax_rest: f64,
    keeps_any: bool,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Phase {
    Scan,
    Refine,
    Quantize,
    Done,
}

/// Element classes within the row buffer, per keep level.
const REGULAR: u8 = 0;
const KEPT: u8 = 1;
const NOT_FINITE: u8 = 2;

/// A quantization-error job over one tensor and several schemes at once.
pub struct QuantJob {
    decoder: Decoder,
    rows: u64,
    cols: u64,
    schemes: Vec<Scheme>,
    levels: Vec<KeepLevel>,
    phase: Phase,
    seen: u64,
    count: u64,
    absmax: f64,
    first_histogram: Option<Histogram16>,
    search: Option<RankSearch>,
    row: Vec<f64>,
    classes: Vec<u8>,
    finite: u64,
    signal: f64,
    errors: Vec<ErrorSums>,
    /// Column weights a_j, and the weighted signal and errors (see the module comment).
    column_weights: Option<Vec<f64>>,
    weighted_signal: f64,
    weighted_errors: Vec<f64>,
    started: bool,
    result: Option<QuantResult>,
}

impl QuantJob {
    /// A job for a `rows × cols` tensor of `dtype`, the given schemes and keep fractions (per mille, from
    /// `KEEP_PER_MILLE`).
    pub fn new(dtype: DType, rows: u64, cols: u64, schemes: &[Scheme], keep_per_mille: &[u64]) -> Result<QuantJob, QuantError> {
        if schemes.is_empty() {
            return Err(QuantError::Params("no scheme given".into()));
        }
        if rows == 0 || cols == 0 {
            return Err(QuantError::Params("the tensor has no element".into()));
        }
        if cols > MAX_ROW_ELEMENTS {
            return Err(QuantError::Params(format!("rows of {} elements are longer than {} (not buffered)", cols, MAX_ROW_ELEMENTS)));
        }
        if let Some(s) = schemes.iter().find(|s| s.needs_whole_blocks() && cols % 32 != 0) {
            return Err(QuantError::Params(format!("{:?} needs rows of whole 32-element blocks, not {}", s, cols)));
        }
        if keep_per_mille.iter().any(|p| !KEEP_PER_MILLE.contains(p)) {
            return Err(QuantError::Params("keep fractions are 1 or 10 per mille".into()));
        }
        let needs_scan = !keep_per_mille.is_empty() || schemes.iter().any(|s| s.needs_tensor_absmax());
        let none = KeepLevel { per_mille: 0, threshold: u64::MAX, ties_left: 0, absmax_rest: 0.0, keeps_any: false };
        let levels: Vec<KeepLevel> = std::iter::once(none).chain(keep_per_mille.iter().map(|&per_mille| KeepLevel { per_mille, ..none })).collect();
        Ok(QuantJob {
            decoder: Decoder::new(dtype),
            rows,
            cols,
            schemes: schemes.to_vec(),
            errors: vec![ErrorSums::default(); schemes.len() * levels.len()],
            weighted_errors: vec![0.0; schemes.len() * levels.len()],
            column_weights: None,
            weighted_signal: 0.0,
            started: false,
            levels,
            phase: if needs_scan { Phase::Scan } else { Phase::Quantize },
            seen: 0,
            count: 0,
            absmax: 0.0,
            first_histogram: if keep_per_mille.is_empty() { None } else { Some(Histogram16::new(0, 0)) },
            search: None,
            row: Vec::with_capacity(cols as usize),
            classes: Vec::new(),
            finite: 0,
            signal: 0.0,
            result: None,
        })
    }

    /// Weighs every error by its column's `weights[j]` too (one per column; before the first bytes).
    pub fn set_column_weights(&mut self, weights: Vec<f64>) -> Result<(), QuantError> {
        if self.started {
            return Err(QuantError::Input("column weights must come before the first bytes"));
        }
        if weights.len() as u64 != self.cols {
            return Err(QuantError::Input("column weights must hold one value per column"));
        }
        self.column_weights = Some(weights);
        Ok(())
    }

    /// Feeds the next bytes of the tensor (whole element groups, row-major order).
    pub fn push(&mut self, bytes: &[u8]) -> Result<(), QuantError> {
        self.started = true;
        if bytes.len() % self.decoder.dtype().group_bytes() != 0 {
            return Err(QuantError::Input("input is not a whole number of elements"));
        }
        let total = self.rows * self.cols;
        let n = self.decoder.elements_in(bytes.len()) as u64;
        // The last group of a sub-byte type may carry padding elements beyond the tensor.
        if self.seen >= total && n > 0 {
            return Err(QuantError::Input("more elements than the tensor holds"));
        }
        let dtype = self.decoder.dtype();
        let mut decoder = std::mem::replace(&mut self.decoder, Decoder::new(dtype));
        let mut result = Ok(());
        decoder.for_each_block(bytes, |values| {
            let take = ((total - self.seen) as usize).min(values.len());
            let values = &values[..take];
            self.seen += take as u64;
            match self.phase {
                Phase::Scan => self.scan(values),
                Phase::Refine => {
                    let search = self.search.as_mut().expect("refining without a search");
                    for &v in values.iter().filter(|v| v.is_finite()) {
                        search.add(v.abs().to_bits());
                    }
                }
                Phase::Quantize => self.quantize_values(values),
                Phase::Done => result = Err(QuantError::Phase),
            }
        });
        self.decoder = decoder;
        result
    }

    fn scan(&mut self, values: &[f64]) {
        for &v in values {
            if v.is_finite() {
                self.count += 1;
                if v.abs() > self.absmax {
                    self.absmax = v.abs();
                }
                if let Some(h) = self.first_histogram.as_mut() {
                    h.add(v.abs().to_bits());
                }
            }
        }
    }

    /// Ends a pass; true when the same bytes must be streamed again.
    pub fn end_pass(&mut self) -> Result<bool, QuantError> {
        if self.result.is_some() {
            return Ok(false);
        }
        let total = self.rows * self.cols;
        let complete = self.seen == total;
        self.seen = 0;
        match self.phase {
            Phase::Scan => {
                if let Some(first) = self.first_histogram.take() {
                    // Ranks k and k + 1 of each kept fraction: the threshold and the largest element not kept.
                    let ranks: Vec<u64> = self.levels[1..]
                        .iter()
                        .flat_map(|l| {
                            let k = kept_count(self.count, l.per_mille);
                            [k.max(1), k + 1]
                        })
                        .collect();
                    self.search = Some(RankSearch::start(&ranks, &first));
                }
                self.phase = Phase::Refine;
                self.after_refine_pass();
            }
            Phase::Refine => {
                if let Some(search) = self.search.as_mut() {
                    search.end_pass();
                }
                self.after_refine_pass();
            }
            Phase::Quantize | Phase::Done => {
                if !complete {
                    return Err(QuantError::Input("the pass ended before the last element"));
                }
                self.phase = Phase::Done;
                let weighted = self.column_weights.as_ref().map(|_| WeightedSums { signal: self.weighted_signal, squared: self.weighted_errors.clone() });
                self.result = Some(QuantResult { count: self.finite as f64, signal: self.signal, errors: self.errors.clone(), weighted });
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Moves on to quantizing once every threshold is known.
    fn after_refine_pass(&mut self) {
        if self.search.as_ref().map_or(false, |s| !s.is_done()) {
            return;
        }
        let absmax = self.absmax;
        let count = self.count;
        if let Some(search) = self.search.take() {
            for (i, level) in self.levels[1..].iter_mut().enumerate() {
                let k = kept_count(count, level.per_mille);
                level.keeps_any = k > 0;
                if let Some((key, greater)) = search.found(2 * i) {
                    if k > 0 {
                        level.threshold = key;
                        level.ties_left = k - greater;
                    }
                }
                level.absmax_rest = search.found(2 * i + 1).map_or(0.0, |(key, _)| f64::from_bits(key));
            }
        }
        self.levels[0].absmax_rest = absmax;
        self.phase = Phase::Quantize;
    }

    fn quantize_values(&mut self, mut values: &[f64]) {
        while !values.is_empty() {
            let want = self.cols as usize - self.row.len();
            let take = want.min(values.len());
            self.row.extend_from_slice(&values[..take]);
            values = &values[take..];
            if self.row.len() == self.cols as usize {
                self.quantize_row();
                self.row.clear();
            }
        }
    }

    fn quantize_row(&mut self) {
        let n = self.row.len();
        let levels = self.levels.len();
        self.classes.clear();
        self.classes.resize(n * levels, REGULAR);
        for (i, &w) in self.row.iter().enumerate() {
            if !w.is_finite() {
                for l in 0..levels {
                    self.classes[l * n + i] = NOT_FINITE;
                }
                continue;
            }
            self.finite += 1;
            self.signal += w * w;
            if let Some(weights) = &self.column_weights {
                self.weighted_signal += weights[i] * w * w;
            }
            let key = w.abs().to_bits();
            for (l, level) in self.levels.iter_mut().enumerate().skip(1) {
                if !level.keeps_any {
                    continue;
                }
                let kept = key > level.threshold || (key == level.threshold && level.ties_left > 0);
                if key == level.threshold && kept {
                    level.ties_left -= 1;
                }
                if kept {
                    self.classes[l * n + i] = KEPT;
                }
            }
        }
        for (s, &scheme) in self.schemes.iter().enumerate() {
            for (l, level) in self.levels.iter().enumerate() {
                let classes = &self.classes[l * n..(l + 1) * n];
                let mut sink = Sink {
                    sums: &mut self.errors[s * levels + l],
                    weighted: &mut self.weighted_errors[s * levels + l],
                    weights: self.column_weights.as_deref(),
                    classes,
                    at: 0,
                };
                quantize_row(scheme, &self.row, classes, level.absmax_rest, &mut sink);
            }
        }
    }

    /// The results, once `end_pass` returned false.
    pub fn result(&self) -> Option<&QuantResult> {
        self.result.as_ref()
    }
}

/// Elements kept at a per-mille fraction of `count`: ceil(count · per_mille / 1000).
pub fn kept_count(count: u64, per_mille: u64) -> u64 {
    (count * per_mille + 999) / 1000
}

/// Quantizes one row group by group and adds the errors of its regular elements (kept ones are exact).
fn quantize_row(scheme: Scheme, row: &[f64], classes: &[u8], tensor_absmax: f64, sums: &mut Sink) {
    let group = scheme.group().unwrap_or(row.len());
    for (values, classes) in row.chunks(group).zip(classes.chunks(group)) {
        let regular = || values.iter().zip(classes).filter(|(_, &c)| c == REGULAR).map(|(&w, _)| w);
        match scheme {
            Scheme::Int8SymRow | Scheme::Int8SymG128 => symmetric_int(8, regular, sums),
            Scheme::Int4SymG32 => symmetric_int(4, regular, sums),
            Scheme::Int4AsymG128 | Scheme::Int4AsymG64 => asymmetric_int(4, regular, sums),
            Scheme::Int3AsymG64 => asymmetric_int(3, regular, sums),
            Scheme::Q8_0 => ggml_q8_0(regular, sums),
            Scheme::Q4_0 => ggml_q4_0(regular, sums),
            Scheme::Fp8E4m3Tensor => fp8_e4m3(tensor_absmax, regular, sums),
            Scheme::Fp8E4m3Row => fp8_e4m3(regular().fold(0.0, |m: f64, w| m.max(w.abs())), regular, sums),
            Scheme::Mxfp4 => mxfp4(regular, sums),
            Scheme::Nvfp4 => nvfp4(tensor_absmax, regular, sums),
        }
    }
}

fn symmetric_int<I: Iterator<Item = f64>>(bits: i32, regular: impl Fn() -> I, sums: &mut Sink) {
    let qmax = pow2(bits - 1) - 1.0;
    let absmax = regular().fold(0.0, |m: f64, w| m.max(w.abs()));
    let scale = absmax / qmax;
    for w in regular() {
        let q = if scale == 0.0 { w } else { scale * round_half_even(w / scale).max(-qmax - 1.0).min(qmax) };
        sums.add(w, q);
    }
}

fn asymmetric_int<I: Iterator<Item = f64>>(bits: i32, regular: impl Fn() -> I, sums: &mut Sink) {
    let levels = pow2(bits) - 1.0;
    let (lo, hi) = regular().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), w| (lo.min(w), hi.max(w)));
    let scale = (hi - lo) / levels;
    let zero = if scale > 0.0 { round_half_even(-lo / scale) } else { 0.0 };
    for w in regular() {
        let q = if scale > 0.0 { scale * ((round_half_even(w / scale) + zero).max(0.0).min(levels) - zero) } else { w };
        sums.add(w, q);
    }
}

/// ggml's `quantize_row_q8_0_ref` then `dequantize_row_q8_0`, in f32 as ggml computes.
fn ggml_q8_0<I: Iterator<Item = f64>>(regular: impl Fn() -> I, sums: &mut Sink) {
    let amax = regular().fold(0.0f32, |m, w| {
        let a = (w as f32).abs();
        if m > a {
            m
        } else {
            a
        }
    });
    let d = amax / 127.0;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    let stored = f16_bits_to_f32(f32_to_f16_bits(d));
    for w in regular() {
        let q = ((w as f32) * id).round();
        sums.add(w, (q * stored) as f64);
    }
}

/// ggml's `quantize_row_q4_0_ref` then `dequantize_row_q4_0`: the scale comes from the signed value of largest
/// magnitude (the first one on ties), codes are truncated after adding 8.5.
fn ggml_q4_0<I: Iterator<Item = f64>>(regular: impl Fn() -> I, sums: &mut Sink) {
    let (mut amax, mut max) = (0.0f32, 0.0f32);
    for w in regular() {
        let v = w as f32;
        if amax < v.abs() {
            amax = v.abs();
            max = v;
        }
    }
    let d = max / -8.0;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    let stored = f16_bits_to_f32(f32_to_f16_bits(d));
    for w in regular() {
        let code = (((w as f32) * id + 8.5).trunc() as i8).min(15);
        sums.add(w, ((code - 8) as f32 * stored) as f64);
    }
}

/// FP8 E4M3 with scale absmax / 448: ŵ = s · E4M3(w / s).
fn fp8_e4m3<I: Iterator<Item = f64>>(absmax: f64, regular: impl Fn() -> I, sums: &mut Sink) {
    let scale = absmax / E4M3.max;
    for w in regular() {
        sums.add(w, if scale == 0.0 { w } else { scale * E4M3.round(w / scale) });
    }
}

/// OCP MXFP4: shared scale 2^(floor(log2(amax)) − 2) within E8M0's range, elements E2M1.
fn mxfp4<I: Iterator<Item = f64>>(regular: impl Fn() -> I, sums: &mut Sink) {
    let amax = regular().fold(0.0, |m: f64, w| m.max(w.abs()));
    let scale = if amax > 0.0 { pow2((floor_log2(amax) - 2).max(-127).min(127)) } else { 0.0 };
    for w in regular() {
        sums.add(w, if scale == 0.0 { w } else { scale * E2M1.round(w / scale) });
    }
}

/// NVFP4 as NVIDIA's recipe (Model Optimizer, llm-compressor) builds it: global scale g = 448·6 / tensor absmax,
/// rounded to f32; block scale E4M3(block amax / 6 · g); ŵ = (s/g) · E2M1(w / (s/g)). A block whose scale rounds
/// to zero reconstructs as zeros.
fn nvfp4<I: Iterator<Item = f64>>(tensor_absmax: f64, regular: impl Fn() -> I, sums: &mut Sink) {
    if tensor_absmax == 0.0 {
        return regular().for_each(|w| sums.add(w, w));
    }
    let global = (NVFP4_GLOBAL_RANGE / tensor_absmax) as f32 as f64;
    let amax = regular().fold(0.0, |m: f64, w| m.max(w.abs()));
    let block_scale = E4M3.round(amax / E2M1.max * global);
    let decode = block_scale / global;
    for w in regular() {
        sums.add(w, if block_scale == 0.0 { 0.0 } else { decode * E2M1.round(w / decode) });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f32_bytes(values: &[f32]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    /// Runs a job over `values` pushed in chunks of `chunk` elements, every pass.
    fn run(values: &[f32], rows: u64, schemes: &[Scheme], keep: &[u64], chunk: usize) -> QuantResult {
        run_with(values, rows, None, schemes, keep, chunk)
    }

    fn run_weighted(values: &[f32], rows: u64, weights: &[f64], schemes: &[Scheme], keep: &[u64], chunk: usize) -> QuantResult {
        run_with(values, rows, Some(weights), schemes, keep, chunk)
    }

    /// Runs a job over `values` pushed in chunks of `chunk` elements, every pass, with optional column weights.
    fn run_with(values: &[f32], rows: u64, weights: Option<&[f64]>, schemes: &[Scheme], keep: &[u64], chunk: usize) -> QuantResult {
        let cols = values.len() as u64 / rows;
        let mut job = QuantJob::new(DType::F32, rows, cols, schemes, keep).unwrap();
        if let Some(weights) = weights {
            job.set_column_weights(weights.to_vec()).unwrap();
        }
        let bytes = f32_bytes(values);
        loop {
            for part in bytes.chunks(chunk * 4) {
                job.push(part).unwrap();
            }
            if !job.end_pass().unwrap() {
                break;
            }
        }
        job.result().unwrap().clone()
    }

    fn one(values: &[f32], scheme: Scheme) -> ErrorSums {
        run(values, 1, &[scheme], &[], 7).errors[0]
    }

    #[test]
    fn symmetric_int4_rounds_ties_to_even() {
        // absmax 7 → scale 1: 2.5 → 2, 3.5 → 4, −2.5 → −2, 0.5 → 0, 1.5 → 2.
        let e = one(&[7.0, 2.5, 3.5, -2.5, 0.5, 1.5], Scheme::Int4SymG32);
        assert_eq!(e, ErrorSums { squared: 1.25, max_abs: 0.5 });
    }

    #[test]
    fn asymmetric_int3_uses_a_zero_point_and_ties_to_even() {
        // min −1, max 6 → scale 1, zero point 1: 2.5 → code 3 → 2; 3.5 → code 5 → 4.
        let e = one(&[-1.0, 6.0, 2.5, 3.5], Scheme::Int3AsymG64);
        assert_eq!(e, ErrorSums { squared: 0.5, max_abs: 0.5 });
        // A constant group reconstructs exactly.
        assert_eq!(one(&[0.3; 64], Scheme::Int3AsymG64), ErrorSums::default());
    }

    #[test]
    fn groups_split_rows_and_a_trailing_partial_group_stands_alone() {
        // 130 elements, groups of 128: the last two form their own group and are exact (absmax scale).
        let mut values = vec![0.0f32; 130];
        values[0] = 127.0;
        values[1] = 2.5;
        values[128] = 0.001;
        values[129] = -0.001;
        let e = one(&values, Scheme::Int8SymG128);
        assert_eq!(e, ErrorSums { squared: 0.25, max_abs: 0.5 });
        // One scale for the whole row: the small pair is lost.
        let row = one(&values, Scheme::Int8SymRow);
        assert!(row.squared > 0.25 && row.max_abs == 0.5);
    }

    #[test]
    fn q8_0_rounds_half_away_from_zero_like_ggml() {
        let mut block = vec![0.0f32; 32];
        block[0] = 127.0; // d = 1
        block[1] = 2.5; // roundf → 3, not 2
        block[2] = -2.5; // → −3
        let e = one(&block, Scheme::Q8_0);
        assert_eq!(e, ErrorSums { squared: 0.5, max_abs: 0.5 });
    }

    #[test]
    fn q4_0_takes_the_signed_extreme_and_truncates_after_adding_8_5() {
        let mut block = vec![0.0f32; 32];
        block[0] = 8.0; // d = −1: codes map w → trunc(−w + 8.5)
        block[1] = -8.0; // trunc(16.5) = 16 → clamped to 15 → ŵ = −7
        block[2] = 2.5; // trunc(6) = 6 → ŵ = 2 ... (6 − 8) · −1 = 2
        let e = one(&block, Scheme::Q4_0);
        assert_eq!(e, ErrorSums { squared: 1.0 + 0.25, max_abs: 1.0 });
        assert!(QuantJob::new(DType::F32, 1, 33, &[Scheme::Q4_0], &[]).is_err(), "33 is not whole blocks");
    }

    #[test]
    fn mxfp4_saturates_at_six_times_the_shared_scale() {
        let mut block = vec![0.0f32; 32];
        block[0] = 7.0; // floor(log2 7) − 2 = 0 → scale 1 → 7 saturates to 6
        block[1] = 5.0; // tie between 4 and 6 → 4
        block[2] = 1.25; // tie between 1 and 1.5 → 1
        let e = one(&block, Scheme::Mxfp4);
        assert_eq!(e, ErrorSums { squared: 1.0 + 1.0 + 0.0625, max_abs: 1.0 });
    }

    #[test]
    fn nvfp4_scales_blocks_through_e4m3_and_the_global_scale() {
        // Tensor absmax 6 → global 448. Block 1 amax 6 → scale 448 → decode scale 1. Block 2 amax 3 → 224 → 0.5.
        let mut values = vec![0.0f32; 32];
        values[0] = 6.0;
        values[1] = 5.0; // → 4
        values[16] = 3.0;
        values[17] = 1.25; // 2.5 in block units → 2 → 1.0
        let e = one(&values, Scheme::Nvfp4);
        assert_eq!(e, ErrorSums { squared: 1.0 + 0.0625, max_abs: 1.0 });
    }

    #[test]
    fn fp8_per_tensor_and_per_row_scales() {
        // Row 0 absmax 448, row 1 absmax 4.48: per tensor the second row sits in the subnormal range.
        let values = [448.0f32, 300.0, 4.48, 0.0101];
        let tensor = run(&values, 2, &[Scheme::Fp8E4m3Tensor], &[], 3).errors[0];
        let row = run(&values, 2, &[Scheme::Fp8E4m3Row], &[], 3).errors[0];
        // 300 → 288 or 320: 300/32 = 9.375 → 9 → 288.
        assert!(tensor.max_abs >= 12.0 && row.max_abs >= 12.0);
        assert!(row.squared < tensor.squared);
    }

    #[test]
    fn keeping_outliers_excludes_them_from_scales_and_reproduces_them() {
        let mut values: Vec<f32> = (0..1000).map(|i| ((i * 37 % 101) as f32 - 50.0) / 500.0).collect();
        values[123] = 40.0;
        let r = run(&values, 1, &[Scheme::Int8SymRow], &[1, 10], 64);
        let (none, tenth, one_percent) = (r.errors[0], r.errors[1], r.errors[2]);
        assert!(tenth.squared < none.squared / 1000.0, "{:?} vs {:?}", tenth, none);
        assert!(one_percent.squared <= tenth.squared);
        assert_eq!(r.count, 1000.0);
    }

    #[test]
    fn kept_ties_go_to_the_earliest_elements() {
        // Four equal magnitudes, 1 % of 300 = 3 kept: the first three 9.0s stay exact, the fourth sets the scale.
        let mut values = vec![0.5f32; 300];
        for i in [10, 20, 30, 40] {
            values[i] = 9.0;
        }
        let r = run(&values, 1, &[Scheme::Int4SymG32], &[10], 5);
        let kept = r.errors[1];
        // Groups 0 (elements 0..32) holds 10, 20, 30 (kept): exact 0.5s with absmax 0.5. Group 1 holds 40 (not kept).
        let alone = one(&values[32..64], Scheme::Int4SymG32);
        assert_eq!(kept.squared, alone.squared);
    }

    #[test]
    fn results_do_not_depend_on_chunking() {
        let values: Vec<f32> = (0..6144).map(|i| ((i as f32 * 0.7548776).sin() * 3.0).powi(3)).collect();
        let all: Vec<Scheme> = SCHEMES.to_vec();
        let whole = run(&values, 6, &all, &[1, 10], 6144);
        for chunk in [1, 13, 1000, 4096] {
            assert_eq!(run(&values, 6, &all, &[1, 10], chunk), whole, "chunks of {}", chunk);
        }
    }

    #[test]
    fn non_finite_elements_take_no_part() {
        let e = run(&[7.0, f32::NAN, 2.5, f32::INFINITY], 1, &[Scheme::Int4SymG32], &[], 2);
        assert_eq!(e.count, 2.0);
        assert_eq!(e.signal, 49.0 + 6.25);
        assert_eq!(e.errors[0], ErrorSums { squared: 0.25, max_abs: 0.5 });
    }

    /// Like `run`, with column weights given before the first bytes.
    #[test]
    fn column_weights_weigh_each_error_and_skip_what_is_not_quantized() {
        // absmax 7 → scale 1: 2.5 → 2 and 3.5 → 4 each miss by 0.5; the NaN column takes no part.
        let r = run_weighted(&[7.0, f32::NAN, 2.5, 3.5], 1, &[1.0, 100.0, 2.0, 3.0], &[Scheme::Int4SymG32], &[], 3);
        let w = r.weighted.unwrap();
        assert_eq!(w.signal, 49.0 + 6.25 * 2.0 + 12.25 * 3.0);
        assert_eq!(w.squared, vec![0.25 * 2.0 + 0.25 * 3.0]);
        assert_eq!(r.errors[0], ErrorSums { squared: 0.5, max_abs: 0.5 });
        assert!(run(&[7.0, 2.5], 1, &[Scheme::Int4SymG32], &[], 1).weighted.is_none());
    }

    #[test]
    fn unit_weights_give_the_plain_sums_whatever_the_chunking_and_kept_elements() {
        let values: Vec<f32> = (0..6 * 96).map(|i| ((i * 37 % 101) as f32 - 50.0) / 7.0).collect();
        let schemes = [Scheme::Int4AsymG64, Scheme::Q4_0, Scheme::Nvfp4, Scheme::Fp8E4m3Row];
        let plain = run(&values, 6, &schemes, &[1, 10], 64);
        for chunk in [5, 96, 1000] {
            let r = run_weighted(&values, 6, &[1.0; 96], &schemes, &[1, 10], chunk);
            let w = r.weighted.as_ref().unwrap();
            assert_eq!(w.signal, plain.signal);
            assert_eq!(w.squared, plain.errors.iter().map(|e| e.squared).collect::<Vec<_>>(), "chunks of {}", chunk);
            assert_eq!(r.errors, plain.errors);
        }
        let mut job = QuantJob::new(DType::F32, 1, 2, &[Scheme::Int8SymRow], &[]).unwrap();
        assert!(job.set_column_weights(vec![1.0]).is_err());
        job.push(&f32_bytes(&[1.0])).unwrap();
        assert!(job.set_column_weights(vec![1.0, 1.0]).is_err());
    }
}
