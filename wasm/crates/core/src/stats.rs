//! Per-tensor statistics, streamed chunk by chunk.
//!
//! Types of at most 16 bits ("pattern" types) only count raw bit patterns while streaming; every result is derived
//! exactly from that table at the end, so results are identical whatever the chunking or merge order. Wide types
//! (32/64-bit) accumulate mergeable moments and a table of the top 16 bits of an order-preserving key; exact
//! quantiles of integers (and finer ones of F64) come from extra passes that resolve the next key bits of each
//! quantile's bucket.
use crate::decode::{key_is_subnormal_or_zero, key_value, pattern_value, wide_key, wide_value};
use crate::dtype::DType;
use crate::moments::Moments;
use crate::quant;

/// Probabilities of the reported quantiles.
pub const QUANTILE_PROBS: [f64; 9] = [0.001, 0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99, 0.999];
/// Bins of each display histogram.
pub const HIST_BINS: usize = 128;
/// The k of the mean ± k·std tail counts.
pub const TAIL_KS: [f64; 4] = [3.0, 4.0, 5.0, 6.0];
/// Finite values per moments block: blocks are consecutive elements, so chunk boundaries never change them.
const BLOCK: usize = 4096;
/// Flush the u32 pattern counters well before they could overflow.
const FLUSH_AFTER: u64 = 1 << 31;

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

#[derive(Clone)]
enum State {
    Pattern(PatternTable),
    Wide(Box<WideState>),
}

impl StatsJob {
    /// A job for one tensor of `dtype`.
    pub fn new(dtype: DType) -> StatsJob {
        // A block-quantized tensor's statistics are those of its dequantized f32 values.
        let values = if dtype.is_quantized() { DType::F32 } else { dtype };
        let state = if values.is_pattern() {
            State::Pattern(PatternTable::new(values))
        } else {
            State::Wide(Box::new(WideState::new(values)))
        };
        StatsJob { dtype, state, result: None }
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
        match &mut self.state {
            State::Pattern(table) => table.push(bytes),
            State::Wide(wide) => match quant::format(self.dtype) {
                Some(format) => quant::dequantize_f32_le(format, bytes, |values| wide.push(values)),
                None => wide.push(bytes),
            },
        }
        Ok(())
    }

    /// Adds the state of another job over other elements of the same tensor (first pass only).
    pub fn merge(&mut self, other: &StatsJob) -> Result<(), StatsError> {
        if self.dtype != other.dtype || self.result.is_some() || other.result.is_some() {
            return Err(StatsError::WrongPhase);
        }
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
    patterns: usize,
    /// Interleaved sub-tables, so repeated patterns in a row do not serialize on one counter.
    lanes: Vec<u32>,
    totals: Vec<u64>,
    since_flush: u64,
}

const LANES: usize = 2;

impl PatternTable {
    fn new(dtype: DType) -> PatternTable {
        let patterns = 1usize << dtype.bits().max(1);
        let patterns = if dtype == DType::Bool { 256 } else { patterns };
        PatternTable { dtype, patterns, lanes: vec![0; patterns * LANES], totals: vec![0; patterns], since_flush: 0 }
    }

    fn flush(&mut self) {
        for (i, total) in self.totals.iter_mut().enumerate() {
            for lane in 0..LANES {
                *total += self.lanes[lane * self.patterns + i] as u64;
            }
        }
        for c in self.lanes.iter_mut() {
            *c = 0;
        }
        self.since_flush = 0;
    }

    fn push(&mut self, bytes: &[u8]) {
        let elements = (bytes.len() * 8 / self.dtype.bits() as usize) as u64;
        if self.since_flush + elements >= FLUSH_AFTER {
            self.flush();
        }
        self.since_flush += elements;
        let (lane0, lane1) = self.lanes.split_at_mut(self.patterns);
        match self.dtype.bits() {
            16 => count16(bytes, lane0, lane1),
            8 => count8(bytes, lane0, lane1),
            6 => {
                for g in bytes.chunks_exact(3) {
                    let w = g[0] as u32 | (g[1] as u32) << 8 | (g[2] as u32) << 16;
                    for i in 0..4 {
                        lane0[((w >> (6 * i)) & 63) as usize] += 1;
                    }
                }
            }
            _ => {
                for &b in bytes {
                    lane0[(b & 15) as usize] += 1;
                    lane1[(b >> 4) as usize] += 1;
                }
            }
        }
    }

    fn merge(&mut self, other: &PatternTable) {
        let mut other = other.clone();
        other.flush();
        self.flush();
        for (a, b) in self.totals.iter_mut().zip(&other.totals) {
            *a += *b;
        }
    }

    fn finish(&mut self) -> StatsResult {
        self.flush();
        let mut finite: Vec<(f64, u64)> = Vec::new();
        let (mut nan, mut posinf, mut neginf) = (0u64, 0u64, 0u64);
        for (p, &c) in self.totals.iter().enumerate() {
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

fn count16(bytes: &[u8], lane0: &mut [u32], lane1: &mut [u32]) {
    let mut pairs = bytes.chunks_exact(4);
    for p in &mut pairs {
        lane0[(p[0] as usize) | (p[1] as usize) << 8] += 1;
        lane1[(p[2] as usize) | (p[3] as usize) << 8] += 1;
    }
    let rest = pairs.remainder();
    if rest.len() == 2 {
        lane0[(rest[0] as usize) | (rest[1] as usize) << 8] += 1;
    }
}

fn count8(bytes: &[u8], lane0: &mut [u32], lane1: &mut [u32]) {
    let mut pairs = bytes.chunks_exact(2);
    for p in &mut pairs {
        lane0[p[0] as usize] += 1;
        lane1[p[1] as usize] += 1;
    }
    for &b in pairs.remainder() {
        lane0[b as usize] += 1;
    }
}

/// 32- and 64-bit types.
#[derive(Clone)]
struct WideState {
    dtype: DType,
    /// Key bits that make a quantile exact (integers) or precise enough (floats).
    needed_bits: u32,
    phase: WidePhase,
    moments: Moments,
    block: Vec<f64>,
    sumsq: f64,
    zeros: u64,
    nan: u64,
    posinf: u64,
    neginf: u64,
    min_key: u64,
    max_key: u64,
    min_abs_nonzero: f64,
    absmax: f64,
    /// Finite nonzero floats with a zero exponent: their top key bits say too little of their value.
    subnormals: u64,
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
            moments: Moments::default(),
            block: Vec::with_capacity(BLOCK),
            sumsq: 0.0,
            zeros: 0,
            nan: 0,
            posinf: 0,
            neginf: 0,
            min_key: u64::MAX,
            max_key: 0,
            min_abs_nonzero: f64::INFINITY,
            absmax: 0.0,
            subnormals: 0,
            top: vec![0; 1 << 16],
            display: None,
        }
    }

    fn count(&self) -> u64 {
        self.moments.n as u64 + self.block.len() as u64
    }

    fn push(&mut self, bytes: &[u8]) {
        let size = (self.dtype.bits() / 8) as usize;
        match &mut self.phase {
            WidePhase::Accumulate => {
                for e in bytes.chunks_exact(size) {
                    let v = wide_value(self.dtype, e);
                    if !v.is_finite() {
                        if v.is_nan() {
                            self.nan += 1;
                        } else if v > 0.0 {
                            self.posinf += 1;
                        } else {
                            self.neginf += 1;
                        }
                        continue;
                    }
                    let key = wide_key(self.dtype, e);
                    self.min_key = self.min_key.min(key);
                    self.max_key = self.max_key.max(key);
                    self.top[(key >> 48) as usize] += 1;
                    self.sumsq += v * v;
                    let a = v.abs();
                    if a == 0.0 {
                        self.zeros += 1;
                    } else {
                        if a < self.min_abs_nonzero {
                            self.min_abs_nonzero = a;
                        }
                        if key_is_subnormal_or_zero(self.dtype, key) {
                            self.subnormals += 1;
                        }
                    }
                    if a > self.absmax {
                        self.absmax = a;
                    }
                    self.block.push(v);
                    if self.block.len() == BLOCK {
                        self.moments.merge(&Moments::of_block(&self.block));
                        self.block.clear();
                    }
                }
            }
            WidePhase::Refine(targets) => {
                let mut display = self.display.take().map(|d| DisplayBuilder {
                    out: d,
                    mean: self.moments.mean,
                    std: self.moments.std(),
                });
                for e in bytes.chunks_exact(size) {
                    let v = wide_value(self.dtype, e);
                    if !v.is_finite() {
                        continue;
                    }
                    if let Some(d) = display.as_mut() {
                        d.add(v, 1.0);
                    }
                    let key = wide_key(self.dtype, e);
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

    fn flush_block(&mut self) {
        self.moments.merge(&Moments::of_block(&self.block));
        self.block.clear();
    }

    fn merge(&mut self, other: &WideState) -> Result<(), StatsError> {
        if !matches!(self.phase, WidePhase::Accumulate) || !matches!(other.phase, WidePhase::Accumulate) {
            return Err(StatsError::WrongPhase);
        }
        self.flush_block();
        let mut other_moments = other.moments;
        other_moments.merge(&Moments::of_block(&other.block));
        self.moments.merge(&other_moments);
        self.sumsq += other.sumsq;
        self.zeros += other.zeros;
        self.nan += other.nan;
        self.posinf += other.posinf;
        self.neginf += other.neginf;
        self.min_key = self.min_key.min(other.min_key);
        self.max_key = self.max_key.max(other.max_key);
        self.min_abs_nonzero = self.min_abs_nonzero.min(other.min_abs_nonzero);
        self.absmax = self.absmax.max(other.absmax);
        for (a, b) in self.top.iter_mut().zip(&other.top) {
            *a += *b;
        }
        Ok(())
    }

    fn end_pass(&mut self) -> Option<StatsResult> {
        match &mut self.phase {
            WidePhase::Accumulate => {
                self.flush_block();
                let n = self.count();
                if n == 0 {
                    return Some(empty_result(self.nan, self.posinf, self.neginf));
                }
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

    fn new_display(&self) -> DisplayBuilder {
        let min = key_value(self.dtype, self.min_key, 64);
        let max = key_value(self.dtype, self.max_key, 64);
        Display::new(min, max, self.min_abs_nonzero, self.absmax, self.moments.mean, self.moments.std())
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
        let mut result = empty_result(self.nan, self.posinf, self.neginf);
        let min = key_value(self.dtype, self.min_key, 64);
        let max = key_value(self.dtype, self.max_key, 64);
        fill_moments(&mut result, &self.moments, min, max, self.absmax, self.sumsq, self.zeros);
        for (slot, t) in result.quantiles.iter_mut().zip(targets) {
            *slot = key_value(self.dtype, t.prefix, t.known).max(min).min(max);
        }
        result.display = display;
        result
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
