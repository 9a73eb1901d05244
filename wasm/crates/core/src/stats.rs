//! Per-tensor statistics, streamed chunk by chunk.
//!
//! Types of at most 16 bits ("pattern" types) only count raw bit patterns while streaming; every result is derived
//! exactly from that table at the end, so results are identical whatever the chunking or merge order. Wide types
//! (32/64-bit) count the top 16 bits of each element and fold decoded values into mergeable block moments
//! (`FiniteSummary`); exact quantiles of integers (and finer ones of F64) come from extra passes that resolve the
//! next key bits of each quantile's bucket.
use crate::counts::PatternCounts;
use crate::decode::{key_is_subnormal_or_zero, key_value, pattern_value, wide_key, Decoder};
use crate::dtype::DType;
use crate::moments::Moments;
use crate::quant;
use crate::summary::FiniteSummary;

/// Probabilities of the reported quantiles.
pub const QUANTILE_PROBS: [f64; 9] = [0.001, 0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99, 0.999];
/// Bins of each display histogram.
pub const HIST_BINS: usize = 128;
/// The k of the mean ± k·std tail counts.
pub const TAIL_KS: [f64; 4] = [3.0, 4.0, 5.0, 6.0];

/// Why a job refused input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatsError {
    /// The byte count is not a whole number of element groups.
    PartialElement,
    /// Input or merge after the results were final, or a merge of different dtypes or phases.
    WrongPhase,
}

/// Final statistics; NaN stands for "undefined" (an empty tensor, zero variance).
#[derive(Clone, Debug, PartialEq)]
pub struct StatsResult {
    /// Finite values.
    pub count: f64,
    /// Mean of the finite values.
    pub mean: f64,
    /// Population standard deviation.
    pub std: f64,
    /// Smallest finite value.
    pub min: f64,
    /// Largest finite value.
    pub max: f64,
    /// Largest |x| of the finite values.
    pub absmax: f64,
    /// sqrt(Σx²) of the finite values.
    pub l2: f64,
    /// Values equal to zero.
    pub zeros: f64,
    /// NaN values.
    pub nan: f64,
    /// +Inf values.
    pub posinf: f64,
    /// −Inf values.
    pub neginf: f64,
    /// Skewness.
    pub skewness: f64,
    /// Excess kurtosis.
    pub kurtosis: f64,
    /// Inverted-CDF quantiles at QUANTILE_PROBS.
    pub quantiles: [f64; 9],
    /// Display histograms and tail counts.
    pub display: Display,
}

/// Histograms for display, small enough to send to a UI.
#[derive(Clone, Debug, PartialEq)]
pub struct Display {
    /// Range of the linear bins.
    pub linear_lo: f64,
    /// Range of the linear bins.
    pub linear_hi: f64,
    /// Equal-width bins over [min, max].
    pub linear: [f64; HIST_BINS],
    /// Range of the log10|x| bins.
    pub log_lo: f64,
    /// Range of the log10|x| bins.
    pub log_hi: f64,
    /// Exact zeros (not in the log bins).
    pub log_zeros: f64,
    /// Equal-width bins of log10|x|.
    pub log: [f64; HIST_BINS],
    /// Below / above mean ± k·std for each k of TAIL_KS, interleaved.
    pub tails: [f64; 8],
}

impl Display {
    fn new(min: f64, max: f64, min_abs_nonzero: f64, absmax: f64, mean: f64, std: f64) -> DisplayBuilder {
        DisplayBuilder {
            out: Display {
                linear_lo: min,
                linear_hi: max,
                linear: [0.0; HIST_BINS],
                log_lo: min_abs_nonzero.log10(),
                log_hi: absmax.log10(),
                log_zeros: 0.0,
                log: [0.0; HIST_BINS],
                tails: [0.0; 8],
            },
            mean,
            std,
        }
    }

    fn empty() -> Display {
        Display {
            linear_lo: f64::NAN,
            linear_hi: f64::NAN,
            linear: [0.0; HIST_BINS],
            log_lo: f64::NAN,
            log_hi: f64::NAN,
            log_zeros: 0.0,
            log: [0.0; HIST_BINS],
            tails: [0.0; 8],
        }
    }
}

struct DisplayBuilder {
    out: Display,
    mean: f64,
    std: f64,
}

impl DisplayBuilder {
    fn add(&mut self, v: f64, count: f64) {
        let d = &mut self.out;
        d.linear[bin(v, d.linear_lo, d.linear_hi)] += count;
        if v == 0.0 {
            d.log_zeros += count;
        } else {
            d.log[bin(v.abs().log10(), d.log_lo, d.log_hi)] += count;
        }
        if self.std > 0.0 {
            for (i, k) in TAIL_KS.iter().enumerate() {
                if v < self.mean - k * self.std {
                    d.tails[2 * i] += count;
                } else if v > self.mean + k * self.std {
                    d.tails[2 * i + 1] += count;
                }
            }
        }
    }
}

fn bin(v: f64, lo: f64, hi: f64) -> usize {
    if !(hi > lo) {
        return 0;
    }
    let i = ((v - lo) / (hi - lo) * HIST_BINS as f64).floor();
    if i < 0.0 {
        0
    } else if i >= HIST_BINS as f64 {
        HIST_BINS - 1
    } else {
        i as usize
    }
}

/// 0-based rank of the q-quantile among n sorted values, as numpy's `inverted_cdf` computes it in float64.
pub fn inverted_cdf_rank(n: u64, q: f64) -> u64 {
    let index = (n as f64 * q - 1.0).ceil();
    if index < 0.0 {
        0
    } else {
        (index as u64).min(n - 1)
    }
}

/// Streaming statistics of one tensor.
#[derive(Clone)]
pub struct StatsJob {
    dtype: DType,
    state: State,
    result: Option<StatsResult>,
}

/// Tensors of at most this many elements are summarized exactly from their sorted values: far cheaper than building
/// pattern or key tables (hundreds of KiB each) for the thousands of small biases, norms and constants of a model.
const SMALL_ELEMENTS: usize = 16384;

#[derive(Clone)]
enum State {
    /// The raw bytes so far, while the tensor is small.
    Small(Vec<u8>),
    Pattern(PatternTable),
    Wide(Box<WideState>),
}

impl StatsJob {
    /// A job for one tensor of `dtype`.
    pub fn new(dtype: DType) -> StatsJob {
        StatsJob { dtype, state: State::Small(Vec::new()), result: None }
    }

    /// Leaves the small state: builds the tables and feeds them the bytes kept so far.
    fn grow(&mut self) {
        if let State::Small(kept) = &mut self.state {
            let kept = core::mem::take(kept);
            // A block-quantized tensor's statistics are those of its dequantized f32 values.
            let values = if self.dtype.is_quantized() { DType::F32 } else { self.dtype };
            self.state = if values.is_pattern() {
                State::Pattern(PatternTable::new(values))
            } else {
                State::Wide(Box::new(WideState::new(values)))
            };
            self.push_tables(&kept);
        }
    }

    fn push_tables(&mut self, bytes: &[u8]) {
        match &mut self.state {
            State::Small(_) => unreachable!("tables are built before they are fed"),
            State::Pattern(table) => table.push(bytes),
            State::Wide(wide) => match quant::format(self.dtype) {
                Some(format) => quant::dequantize_f32_le(format, bytes, |values| wide.push(values)),
                None => wide.push(bytes),
            },
        }
    }

    /// The dtype this job decodes.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// Feeds the next bytes of the tensor (whole element groups).
    pub fn push(&mut self, bytes: &[u8]) -> Result<(), StatsError> {
        if bytes.len() % self.dtype.group_bytes() != 0 {
            return Err(StatsError::PartialElement);
        }
        if self.result.is_some() {
            return Err(StatsError::WrongPhase);
        }
        let (group_bytes, group_elements) = (self.dtype.group_bytes(), self.dtype.group_elements());
        if let State::Small(kept) = &mut self.state {
            if (kept.len() + bytes.len()) / group_bytes * group_elements <= SMALL_ELEMENTS {
                kept.extend_from_slice(bytes);
                return Ok(());
            }
            self.grow();
        }
        self.push_tables(bytes);
        Ok(())
    }

    /// Adds the state of another job over other elements of the same tensor (first pass only).
    pub fn merge(&mut self, other: &StatsJob) -> Result<(), StatsError> {
        if self.dtype != other.dtype || self.result.is_some() || other.result.is_some() {
            return Err(StatsError::WrongPhase);
        }
        if let State::Small(bytes) = &other.state {
            return self.push(bytes);
        }
        let mut other = other.clone();
        self.grow();
        other.grow();
        match (&mut self.state, &other.state) {
            (State::Pattern(a), State::Pattern(b)) => {
                a.merge(b);
                Ok(())
            }
            (State::Wide(a), State::Wide(b)) => a.merge(b),
            _ => Err(StatsError::WrongPhase),
        }
    }

    /// Ends a pass over the tensor. True: stream the same bytes once more (quantile refinement). False: final.
    pub fn end_pass(&mut self) -> bool {
        if self.result.is_some() {
            return false;
        }
        let finished = match &mut self.state {
            State::Small(bytes) => Some(summarize_small(self.dtype, bytes)),
            State::Pattern(table) => Some(table.finish()),
            State::Wide(wide) => wide.end_pass(),
        };
        let again = finished.is_none();
        self.result = finished;
        again
    }

    /// The results, once `end_pass` returned false.
    pub fn result(&self) -> Option<&StatsResult> {
        self.result.as_ref()
    }
}

/// Exact counts of every raw bit pattern.
#[derive(Clone)]
struct PatternTable {
    dtype: DType,
    counts: PatternCounts,
}

impl PatternTable {
    fn new(dtype: DType) -> PatternTable {
        // BOOL is a byte: any nonzero byte is 1, so count all 256.
        let bits = if dtype == DType::Bool { 8 } else { dtype.bits() };
        PatternTable { dtype, counts: PatternCounts::new(bits) }
    }

    fn push(&mut self, bytes: &[u8]) {
        match self.counts.patterns() {
            65536 => self.counts.count16(bytes),
            256 => self.counts.count8(bytes),
            64 => self.counts.count6(bytes),
            _ => self.counts.count4(bytes),
        }
    }

    fn merge(&mut self, other: &PatternTable) {
        self.counts.merge(&other.counts);
    }

    fn finish(&mut self) -> StatsResult {
        let mut finite: Vec<(f64, u64)> = Vec::new();
        let (mut nan, mut posinf, mut neginf) = (0u64, 0u64, 0u64);
        for (p, &c) in self.counts.totals().iter().enumerate() {
            if c == 0 {
                continue;
            }
            let v = pattern_value(self.dtype, p as u32);
            if v.is_nan() {
                nan += c;
            } else if v == f64::INFINITY {
                posinf += c;
            } else if v == f64::NEG_INFINITY {
                neginf += c;
            } else {
                finite.push((v, c));
            }
        }
        finite.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(core::cmp::Ordering::Equal));
        summarize_sorted(&finite, nan, posinf, neginf)
    }
}

/// Exact statistics of a small tensor from its sorted decoded values.
fn summarize_small(dtype: DType, bytes: &[u8]) -> StatsResult {
    let mut values = Vec::new();
    Decoder::new(dtype).decode_all(bytes, &mut values);
    let nan = values.iter().filter(|v| v.is_nan()).count() as u64;
    let posinf = values.iter().filter(|&&v| v == f64::INFINITY).count() as u64;
    let neginf = values.iter().filter(|&&v| v == f64::NEG_INFINITY).count() as u64;
    values.retain(|v| v.is_finite());
    values.sort_by(|a, b| a.partial_cmp(b).unwrap_or(core::cmp::Ordering::Equal));
    let mut finite: Vec<(f64, u64)> = Vec::new();
    for v in values {
        match finite.last_mut() {
            Some((last, count)) if *last == v => *count += 1,
            _ => finite.push((v, 1)),
        }
    }
    summarize_sorted(&finite, nan, posinf, neginf)
}

/// Everything from the sorted (value, count) pairs of the finite values: two-pass exact moments.
fn summarize_sorted(finite: &[(f64, u64)], nan: u64, posinf: u64, neginf: u64) -> StatsResult {
    let n: u64 = finite.iter().map(|&(_, c)| c).sum();
    let mut result = empty_result(nan, posinf, neginf);
    if n == 0 {
        return result;
    }
    let (mut sumsq, mut zeros, mut min_abs_nonzero, mut absmax) = (0.0, 0u64, f64::INFINITY, 0.0f64);
    for &(v, c) in finite {
        sumsq += v * v * c as f64;
        if v == 0.0 {
            zeros += c;
        } else {
            min_abs_nonzero = min_abs_nonzero.min(v.abs());
        }
        absmax = absmax.max(v.abs());
    }
    // Second pass around the exact mean for the central sums (better than the merged ones).
    let mean = finite.iter().map(|&(v, c)| v * c as f64).sum::<f64>() / n as f64;
    let (mut m2, mut m3, mut m4) = (0.0, 0.0, 0.0);
    for &(v, c) in finite {
        let d = v - mean;
        let d2 = d * d;
        m2 += d2 * c as f64;
        m3 += d2 * d * c as f64;
        m4 += d2 * d2 * c as f64;
    }
    let moments = Moments { n: n as f64, mean, m2, m3, m4 };
    let min = finite[0].0;
    let max = finite[finite.len() - 1].0;
    fill_moments(&mut result, &moments, min, max, absmax, sumsq, zeros);
    let mut cumulative = 0u64;
    let mut next = 0;
    for (qi, &q) in QUANTILE_PROBS.iter().enumerate() {
        let rank = inverted_cdf_rank(n, q);
        while cumulative + finite[next].1 <= rank {
            cumulative += finite[next].1;
            next += 1;
        }
        result.quantiles[qi] = finite[next].0;
    }
    let mut display = Display::new(min, max, min_abs_nonzero, absmax, mean, result.std);
    for &(v, c) in finite {
        display.add(v, c as f64);
    }
    result.display = display.out;
    result
}

fn empty_result(nan: u64, posinf: u64, neginf: u64) -> StatsResult {
    StatsResult {
        count: 0.0,
        mean: f64::NAN,
        std: f64::NAN,
        min: f64::NAN,
        max: f64::NAN,
        absmax: f64::NAN,
        l2: 0.0,
        zeros: 0.0,
        nan: nan as f64,
        posinf: posinf as f64,
        neginf: neginf as f64,
        skewness: f64::NAN,
        kurtosis: f64::NAN,
        quantiles: [f64::NAN; 9],
        display: Display::empty(),
    }
}

fn fill_moments(r: &mut StatsResult, m: &Moments, min: f64, max: f64, absmax: f64, sumsq: f64, zeros: u64) {
    r.count = m.n;
    r.mean = m.mean;
    r.std = m.std();
    r.min = min;
    r.max = max;
    r.absmax = absmax;
    r.l2 = sumsq.sqrt();
    r.zeros = zeros as f64;
    r.skewness = m.skewness();
    r.kurtosis = m.kurtosis();
}

/// 32- and 64-bit types.
#[derive(Clone)]
struct WideState {
    dtype: DType,
    /// Key bits that make a quantile exact (integers) or precise enough (floats).
    needed_bits: u32,
    phase: WidePhase,
    /// Counts of each element's top 16 bits (raw, not yet in key order).
    high: PatternCounts,
    summary: FiniteSummary,
    decoder: Decoder,
    /// Finite nonzero floats with a zero exponent (their top bits say too little of their value).
    subnormals: u64,
    /// Exact extreme keys of 64-bit integers, whose values f64 cannot hold exactly.
    int_keys: (u64, u64),
    min_key: u64,
    max_key: u64,
    /// Counts of the top 16 key bits of the finite values, in key order (after the first pass).
    top: Vec<u64>,
    /// Exact display histogram, built during the first refinement pass when there is one.
    display: Option<Display>,
}

#[derive(Clone)]
enum WidePhase {
    Accumulate,
    Refine(Vec<Target>),
}

/// What is known of one quantile: its key's leading `known` bits (of the `needed`), and its rank among keys
/// sharing them.
#[derive(Clone)]
struct Target {
    prefix: u64,
    known: u32,
    needed: u32,
    rank: u64,
    counts: Vec<u64>,
}

impl WideState {
    fn new(dtype: DType) -> WideState {
        let needed_bits = match dtype {
            DType::F32 => 16,
            DType::F64 | DType::I32 | DType::U32 => 32,
            _ => 64,
        };
        WideState {
            dtype,
            needed_bits,
            phase: WidePhase::Accumulate,
            high: PatternCounts::new(16),
            summary: FiniteSummary::new(),
            subnormals: 0,
            decoder: Decoder::new(dtype),
            int_keys: (u64::MAX, 0),
            min_key: u64::MAX,
            max_key: 0,
            top: Vec::new(),
            display: None,
        }
    }

    fn size(&self) -> usize {
        (self.dtype.bits() / 8) as usize
    }

    fn push(&mut self, bytes: &[u8]) {
        let size = self.size();
        match &mut self.phase {
            WidePhase::Accumulate => {
                self.high.count_high16(bytes, size);
                let summary = &mut self.summary;
                self.decoder.for_each_block(bytes, |values| summary.push(values));
                if matches!(self.dtype, DType::I64 | DType::U64) {
                    for e in bytes.chunks_exact(size) {
                        let key = wide_key(self.dtype, e);
                        self.int_keys = (self.int_keys.0.min(key), self.int_keys.1.max(key));
                    }
                }
            }
            WidePhase::Refine(targets) => {
                let mut display = self.display.take().map(|d| DisplayBuilder {
                    out: d,
                    mean: self.summary.moments.mean,
                    std: self.summary.moments.std(),
                });
                let dtype = self.dtype;
                self.decoder.for_each_block(bytes, |values| {
                    if let Some(d) = display.as_mut() {
                        for &v in values.iter().filter(|v| v.is_finite()) {
                            d.add(v, 1.0);
                        }
                    }
                });
                for e in bytes.chunks_exact(size) {
                    let key = wide_key(dtype, e);
                    if is_non_finite_key(dtype, key) {
                        continue;
                    }
                    for t in targets.iter_mut() {
                        if t.known >= t.needed || key & high_mask(t.known) != t.prefix {
                            continue;
                        }
                        let bits = (t.needed - t.known).min(16);
                        t.counts[((key << t.known) >> (64 - bits)) as usize] += 1;
                    }
                }
                self.display = display.map(|d| d.out);
            }
        }
    }

    fn merge(&mut self, other: &WideState) -> Result<(), StatsError> {
        if !matches!(self.phase, WidePhase::Accumulate) || !matches!(other.phase, WidePhase::Accumulate) {
            return Err(StatsError::WrongPhase);
        }
        self.high.merge(&other.high);
        self.summary.merge(&other.summary);
        self.int_keys = (self.int_keys.0.min(other.int_keys.0), self.int_keys.1.max(other.int_keys.1));
        Ok(())
    }

    /// The exact keys of the extreme finite values, and the key-ordered table of top 16 bits.
    fn index_keys(&mut self) {
        let s = &self.summary;
        let key_of = |v: f64| -> u64 {
            match self.dtype {
                DType::F32 => wide_key(DType::F32, &(v as f32).to_le_bytes()),
                DType::F64 => wide_key(DType::F64, &v.to_le_bytes()),
                DType::I32 => wide_key(DType::I32, &(v as i32).to_le_bytes()),
                DType::U32 => wide_key(DType::U32, &(v as u32).to_le_bytes()),
                _ => 0,
            }
        };
        let (min_key, max_key) = match self.dtype {
            DType::I64 | DType::U64 => self.int_keys,
            _ => (key_of(s.min), key_of(s.max)),
        };
        self.min_key = min_key;
        self.max_key = max_key;
        let mut top = vec![0u64; 1 << 16];
        let mut zero_exponent = 0u64;
        for (pattern, &c) in self.high.totals().iter().enumerate() {
            let key = key16_of_pattern(self.dtype, pattern as u64) << 48;
            if c > 0 && !is_non_finite_key(self.dtype, key) {
                top[(key >> 48) as usize] += c;
                if key_is_subnormal_or_zero(self.dtype, key) {
                    zero_exponent += c;
                }
            }
        }
        self.top = top;
        self.subnormals = zero_exponent.saturating_sub(self.summary.zeros);
    }

    fn end_pass(&mut self) -> Option<StatsResult> {
        match &mut self.phase {
            WidePhase::Accumulate => {
                self.summary.flush();
                let n = self.summary.count();
                if n == 0 {
                    return Some(empty_result(self.summary.nan, self.summary.posinf, self.summary.neginf));
                }
                self.index_keys();
                let shared = (self.min_key ^ self.max_key).leading_zeros();
                let targets: Vec<Target> = QUANTILE_PROBS
                    .iter()
                    .map(|&q| {
                        let rank = inverted_cdf_rank(n, q);
                        let (prefix, known, rank) = if shared >= 16 {
                            (self.min_key & high_mask(shared), shared, rank)
                        } else {
                            let (bucket, before) = locate(&self.top, rank);
                            ((bucket as u64) << 48, 16, rank - before)
                        };
                        Target { prefix, known, needed: self.needed_bits_at(prefix), rank, counts: Vec::new() }
                    })
                    .collect();
                if targets.iter().all(|t| t.known >= t.needed) {
                    let display = self.bucket_display();
                    return Some(self.finish(&targets, display));
                }
                // Another pass: also build the exact display histogram on the way.
                self.display = Some(self.new_display().out);
                self.phase = WidePhase::Refine(
                    targets.into_iter().map(|t| Target { counts: vec![0; 1 << 16], ..t }).collect(),
                );
                None
            }
            WidePhase::Refine(targets) => {
                for t in targets.iter_mut() {
                    if t.known >= t.needed {
                        continue;
                    }
                    let bits = (t.needed - t.known).min(16);
                    let (bucket, before) = locate(&t.counts, t.rank);
                    t.prefix |= (bucket as u64) << (64 - t.known - bits);
                    t.known += bits;
                    t.rank -= before;
                    for c in t.counts.iter_mut() {
                        *c = 0;
                    }
                }
                if targets.iter().all(|t| t.known >= t.needed) {
                    let targets = targets.clone();
                    let display = self.display.take().unwrap_or_else(|| self.bucket_display());
                    return Some(self.finish(&targets, display));
                }
                None
            }
        }
    }

    /// Key bits a quantile needs: subnormals have fewer significant bits, so they are resolved to the last bit.
    fn needed_bits_at(&self, prefix: u64) -> u32 {
        if self.subnormals > 0 && key_is_subnormal_or_zero(self.dtype, prefix) {
            if self.dtype == DType::F32 { 32 } else { 64 }
        } else {
            self.needed_bits
        }
    }

    /// Exact extremes: from the keys (64-bit integers are exact there, not in f64).
    fn extremes(&self) -> (f64, f64, f64) {
        let min = key_value(self.dtype, self.min_key, 64);
        let max = key_value(self.dtype, self.max_key, 64);
        (min, max, min.abs().max(max.abs()))
    }

    fn new_display(&self) -> DisplayBuilder {
        let (min, max, absmax) = self.extremes();
        let m = &self.summary.moments;
        Display::new(min, max, self.summary.min_abs_nonzero, absmax, m.mean, m.std())
    }

    /// Display histogram from the top-16-bit buckets (no second pass: F32).
    fn bucket_display(&self) -> Display {
        let mut display = self.new_display();
        let (lo, hi) = (display.out.linear_lo, display.out.linear_hi);
        for (bucket, &c) in self.top.iter().enumerate() {
            if c > 0 {
                let v = key_value(self.dtype, (bucket as u64) << 48, 16).max(lo).min(hi);
                display.add(v, c as f64);
            }
        }
        display.out
    }

    fn finish(&self, targets: &[Target], display: Display) -> StatsResult {
        let s = &self.summary;
        let mut result = empty_result(s.nan, s.posinf, s.neginf);
        let (min, max, absmax) = self.extremes();
        fill_moments(&mut result, &s.moments, min, max, absmax, s.sumsq, s.zeros);
        for (slot, t) in result.quantiles.iter_mut().zip(targets) {
            *slot = key_value(self.dtype, t.prefix, t.known).max(min).min(max);
        }
        result.display = display;
        result
    }
}

/// The top 16 bits of a key, from the top 16 bits of an element as stored.
fn key16_of_pattern(dtype: DType, pattern: u64) -> u64 {
    match dtype {
        DType::F32 | DType::F64 if pattern & 0x8000 != 0 => !pattern & 0xffff,
        DType::F32 | DType::F64 => pattern | 0x8000,
        DType::I32 | DType::I64 => pattern ^ 0x8000,
        _ => pattern,
    }
}

/// Keys of NaN and ±Inf (all-ones exponent), which the top 16 bits of a float already reveal.
fn is_non_finite_key(dtype: DType, key: u64) -> bool {
    let bits = if key >> 63 == 1 { key & !(1 << 63) } else { !key };
    match dtype {
        DType::F32 => (bits >> 55) & 0xff == 0xff,
        DType::F64 => (bits >> 52) & 0x7ff == 0x7ff,
        _ => false,
    }
}

fn high_mask(bits: u32) -> u64 {
    if bits == 0 {
        0
    } else if bits >= 64 {
        u64::MAX
    } else {
        !(u64::MAX >> bits)
    }
}

/// The bucket holding the element of 0-based `rank`, and how many elements precede that bucket.
fn locate(counts: &[u64], rank: u64) -> (usize, u64) {
    let mut before = 0u64;
    for (i, &c) in counts.iter().enumerate() {
        if before + c > rank {
            return (i, before);
        }
        before += c;
    }
    (counts.len() - 1, before)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic bytes with runs, zeros and (for floats) a few NaN/Inf patterns mixed in.
    fn bytes_for(dtype: DType, elements: usize) -> Vec<u8> {
        let mut s = 0x2545_f491_4f6c_dd1du64;
        let mut out = Vec::new();
        let groups = elements / dtype.group_elements();
        for i in 0..groups * dtype.group_bytes() {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            out.push(if (i / 40) % 5 == 0 { 0 } else { (s >> 32) as u8 });
        }
        if dtype == DType::F32 {
            // Keep most values in a realistic range: exponent bytes near 0x3c.
            for e in out.chunks_exact_mut(4) {
                e[3] = (e[3] & 0x80) | 0x3c | (e[3] & 1);
            }
        }
        out
    }

    fn run(dtype: DType, bytes: &[u8], chunk: usize) -> StatsResult {
        let mut job = StatsJob::new(dtype);
        let step = (chunk / dtype.group_bytes()).max(1) * dtype.group_bytes();
        loop {
            for c in bytes.chunks(step) {
                job.push(c).expect("whole groups");
            }
            if !job.end_pass() {
                break;
            }
        }
        job.result().expect("final").clone()
    }

    fn same(a: &StatsResult, b: &StatsResult) -> bool {
        let fields = |r: &StatsResult| {
            let mut v = vec![r.count, r.mean, r.std, r.min, r.max, r.absmax, r.l2, r.zeros, r.nan, r.posinf, r.neginf, r.skewness, r.kurtosis];
            v.extend_from_slice(&r.quantiles);
            v.extend_from_slice(&r.display.linear);
            v.extend_from_slice(&r.display.log);
            v.extend_from_slice(&r.display.tails);
            v
        };
        // Equal as numbers (so −0 and +0 are the same value), or both undefined.
        fields(a).iter().zip(fields(b)).all(|(x, y)| x == &y || (x.is_nan() && y.is_nan()))
    }

    /// Sizes that take the small (sorted) path and the table path.
    const SIZES: [usize; 2] = [1000, SMALL_ELEMENTS + 3 * 4096 + 36];

    #[test]
    fn every_dtype_gives_bit_identical_results_whatever_the_chunking() {
        for &dtype in DType::all() {
            for elements in SIZES {
                let bytes = bytes_for(dtype, elements);
                let whole = run(dtype, &bytes, bytes.len());
                for chunk in [1, 3, 24, 1000, 4096 * 3 + 8] {
                    assert!(same(&run(dtype, &bytes, chunk), &whole), "{:?}, {} elements, chunks of {} bytes", dtype, elements, chunk);
                }
            }
        }
    }

    #[test]
    fn small_tensors_give_the_same_exact_statistics_as_the_tables() {
        for &dtype in DType::all().iter().filter(|d| d.is_pattern()) {
            let bytes = bytes_for(dtype, SMALL_ELEMENTS + 4096);
            let mut tables = StatsJob::new(dtype);
            tables.grow();
            tables.push(&bytes).unwrap();
            tables.end_pass();
            let small = summarize_small(dtype, &bytes);
            let t = tables.result().unwrap();
            // The same values, grouped a little differently (−0 and +0 are one group here): sums agree to rounding.
            let close = |a: f64, b: f64| a == b || (a - b).abs() <= 1e-12 * a.abs().max(1.0) || (a.is_nan() && b.is_nan());
            assert_eq!((t.count, t.min, t.max, t.zeros, t.nan, t.quantiles), (small.count, small.min, small.max, small.zeros, small.nan, small.quantiles), "{:?}", dtype);
            for (a, b) in [(t.mean, small.mean), (t.std, small.std), (t.l2, small.l2), (t.skewness, small.skewness), (t.kurtosis, small.kurtosis)] {
                assert!(close(a, b), "{:?}: {} vs {}", dtype, a, b);
            }
        }
    }

    #[test]
    fn merging_partial_jobs_equals_one_pass_for_pattern_types_and_the_same_counts_for_wide_ones() {
        for &dtype in DType::all() {
            let bytes = bytes_for(dtype, 2 * SMALL_ELEMENTS + 12);
            let cut = bytes.len() / 2 / dtype.group_bytes() * dtype.group_bytes();
            let mut left = StatsJob::new(dtype);
            left.push(&bytes[..cut]).unwrap();
            let mut right = StatsJob::new(dtype);
            right.push(&bytes[cut..]).unwrap();
            left.merge(&right).unwrap();
            let merged = loop {
                if !left.end_pass() {
                    break left.result().unwrap().clone();
                }
                left.push(&bytes).unwrap();
            };
            let whole = run(dtype, &bytes, bytes.len());
            if dtype.is_pattern() {
                assert!(same(&merged, &whole), "{:?}", dtype);
            } else {
                // Wide types fold blocks in another order after a merge: counts and extremes exact, moments close.
                assert_eq!((merged.count, merged.zeros, merged.nan, merged.min, merged.max), (whole.count, whole.zeros, whole.nan, whole.min, whole.max), "{:?}", dtype);
                let close = (merged.mean - whole.mean).abs() <= 1e-9 * (whole.mean.abs() + whole.std);
                assert!(close || (merged.mean.is_nan() && whole.mean.is_nan()), "{:?}", dtype);
                assert_eq!(merged.quantiles, whole.quantiles, "{:?}", dtype);
            }
        }
    }

    #[test]
    fn float32_statistics_match_a_float64_reference() {
        let bytes = bytes_for(DType::F32, 20_000);
        let values: Vec<f64> = bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64).collect();
        let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        let n = finite.len() as f64;
        let mean = finite.iter().sum::<f64>() / n;
        let var = finite.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
        let kurt = finite.iter().map(|v| (v - mean).powi(4)).sum::<f64>() / n / (var * var) - 3.0;
        let r = run(DType::F32, &bytes, 1 << 20);
        assert_eq!(r.count, n);
        assert!((r.mean - mean).abs() <= 1e-9 * (mean.abs() + var.sqrt()));
        assert!((r.std - var.sqrt()).abs() <= 1e-9 * var.sqrt());
        assert!((r.kurtosis - kurt).abs() <= 1e-6);
        let mut sorted = finite.clone();
        sorted.sort_by(|a, b| a.partial_cmp(b).unwrap());
        assert_eq!(r.min, sorted[0]);
        assert_eq!(r.max, sorted[sorted.len() - 1]);
        for (q, &p) in r.quantiles.iter().zip(QUANTILE_PROBS.iter()) {
            let exact = sorted[inverted_cdf_rank(sorted.len() as u64, p) as usize];
            assert!((q - exact).abs() <= exact.abs() * 2f64.powi(-7), "q{} {} vs {}", p, q, exact);
        }
    }
}
