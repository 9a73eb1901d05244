//! Merging several fine-tunes of one base, one tensor at a time, streamed in lockstep (slot 0 the base, slot t + 1
//! fine-tune t). For each task t the task vector is τ_t = θ_t − θ₀ (f64 of the decoded values), a keep mask m_t
//! follows from the method, and the merged tensor is θ₀ + Δ:
//!
//! | method | m_t | Δ |
//! |---|---|---|
//! | task arithmetic | τ_t ≠ 0 | λ·Σ τ_t |
//! | TIES | |τ_t| ≥ k-th largest |τ_t|, k = round(density·n) | λ·mean of the kept τ_t whose sign is sgn(Σ kept τ_t) |
//! | DARE | hash(seed, name, t, i) ≥ p | λ·(Σ m_t τ_t)/(1 − p) |
//! | breadcrumbs | not in the top β nor the bottom γ of |τ_t| | λ·Σ m_t τ_t |
//! | TALL | |τ_t| ≥ λ·|τ_MTL − τ_t| | τ_MTL = Σ τ_t |
//! | consensus | TALL masks | [Σ m_t ≥ k]·τ_MTL |
//!
//! Magnitudes are compared as the bits of |τ| (so NaN counts as the largest). The k-th largest is exact: a radix
//! selection over those bits, 16 at a time, in passes before the merging pass, until the bucket holding it is small
//! enough to collect and sort (memory stays bounded whatever the tensor size).
use crate::decode::DECODE_BLOCK;
use crate::diff::{decode_range, whole_elements};
use crate::dtype::DType;
use crate::encode::{encode_f64, encoded_len};
use crate::hash::{mix64, uniform_bits};
use crate::simd::{Count64x2, F64x2, M64x2};
#[cfg(test)]
use crate::hash::uniform;

/// Keys all selections of a tensor may hold at once (16 MiB): a selection collects and sorts its bucket once the
/// bucket fits its share of this, but never less than COLLECT_MIN keys.
const COLLECT_BUDGET: u64 = 1 << 21;
const COLLECT_MIN: u64 = 1 << 16;
/// The most tasks the fused merging pass takes (one copy of it per count and method).
const MAX_FUSED_TASKS: usize = 4;
/// Bits of an |f64| key (the sign bit is always clear).
const KEY_BITS: u32 = 63;
const DIGIT_BITS: u32 = 16;

/// A merge method with its parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Method {
    /// θ₀ + λ·Σ τ_t.
    TaskArithmetic {
        /// λ.
        lambda: f64,
    },
    /// TIES-merging.
    Ties {
        /// Kept fraction per task.
        density: f64,
        /// λ.
        lambda: f64,
    },
    /// DARE (drop and rescale).
    Dare {
        /// Drop probability p, in [0, 1).
        drop: f64,
        /// Seed of the drop masks.
        seed: u64,
        /// FNV-1a of the tensor name: masks differ per tensor.
        name_hash: u64,
        /// λ.
        lambda: f64,
    },
    /// Model Breadcrumbs.
    Breadcrumbs {
        /// Fraction of the largest |τ| dropped.
        beta: f64,
        /// Fraction of the smallest |τ| dropped.
        gamma: f64,
        /// λ.
        lambda: f64,
    },
    /// TALL masks; the merged delta is τ_MTL.
    Tall {
        /// The mask threshold λ.
        lambda: f64,
    },
    /// Consensus merging over TALL masks.
    Consensus {
        /// The mask threshold λ.
        lambda: f64,
        /// Minimum number of tasks keeping a weight.
        k: u32,
    },
}

/// Why a merge refused input or parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MergeError {
    /// Partial groups, inputs of different lengths, or more elements than the tensor holds.
    BadInput,
    /// A pass ended early, or input after the end.
    WrongPhase,
    /// No tasks, too many, or parameters out of range.
    BadParams,
}

/// Which bytes the merging pass writes to the job's output, in this order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Outputs {
    /// The merged elements, in the base's dtype.
    pub merged: bool,
    /// One U8 (0/1) per element per task, task after task; for consensus then the consensus mask.
    pub masks: bool,
}

/// Per-tensor results.
#[derive(Clone, Debug, PartialEq)]
pub struct MergeResult {
    /// Elements.
    pub n: u64,
    /// Σ_t kept elements.
    pub kept: u64,
    /// Elements whose kept task values include both signs.
    pub sign_conflicts: u64,
    /// Σ_t |τ_t| over elements not kept (finite values).
    pub trimmed_l1: f64,
    /// Σ_t |τ_t| (finite values).
    pub total_l1: f64,
    /// task_counts[c]: elements kept by exactly c tasks (N + 1 entries).
    pub task_counts: Vec<u64>,
    /// Kept elements per task.
    pub kept_per_task: Vec<u64>,
    /// Per task, the smallest kept |τ| (TIES, breadcrumbs) or NaN.
    pub keep_threshold: Vec<f64>,
    /// Per task, the smallest dropped large |τ| (breadcrumbs) or NaN.
    pub drop_threshold: Vec<f64>,
    /// Per task, the lowest |τ| key kept and the lowest dropped (0: every key, 2⁶³: none), for `set_cuts`.
    pub cut_keys: Vec<(u64, u64)>,
}

/// A cut on |τ| bits: every key, none, or keys at least a threshold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cut {
    All,
    Nothing,
    AtLeast(u64),
}

/// Above every key (keys are |f64| bits, below 2⁶³).
const NO_KEY: u64 = 1 << 63;

impl Cut {
    /// The cut admitting keys from `lowest` (0: all, NO_KEY or more: none).
    fn from_lowest(lowest: u64) -> Cut {
        if lowest == 0 {
            Cut::All
        } else if lowest >= NO_KEY {
            Cut::Nothing
        } else {
            Cut::AtLeast(lowest)
        }
    }

    /// The smallest key the cut admits (NO_KEY: none).
    fn lowest(self) -> u64 {
        match self {
            Cut::All => 0,
            Cut::Nothing => NO_KEY,
            Cut::AtLeast(t) => t,
        }
    }

    fn threshold(self) -> f64 {
        match self {
            Cut::AtLeast(t) => f64::from_bits(t),
            _ => f64::NAN,
        }
    }
}

/// The rank-th largest key (1-based), found over passes.
struct Selection {
    rank: u64,
    prefix: u64,
    known_bits: u32,
    state: SelectionState,
    low: u64,
    high: u64,
}

enum SelectionState {
    Histogram(Vec<u64>),
    Collect(Vec<u64>),
    Done(u64),
}

impl Selection {
    fn new(rank: u64, n: u64, limit: u64) -> Selection {
        let state = if n <= limit { SelectionState::Collect(Vec::new()) } else { SelectionState::Histogram(vec![0; 1 << DIGIT_BITS]) };
        Selection { rank, prefix: 0, known_bits: 0, state, low: u64::MAX, high: 0 }
    }

    fn digit_bits(&self) -> u32 {
        DIGIT_BITS.min(KEY_BITS - self.known_bits)
    }

    /// Counts or collects the keys under the known prefix.
    fn observe(&mut self, keys: &[u64]) {
        // The prefix is compared by shifting the known bits out of the way; with none known every key matches.
        let (prefix_shift, prefix) = if self.known_bits == 0 { (63, 0) } else { (KEY_BITS - self.known_bits, self.prefix) };
        let digit_bits = self.digit_bits();
        match &mut self.state {
            SelectionState::Histogram(counts) => {
                let shift = KEY_BITS - self.known_bits - digit_bits;
                let mask = (1u64 << digit_bits) - 1;
                let (mut low, mut high) = (self.low, self.high);
                for &key in keys {
                    if key >> prefix_shift == prefix {
                        counts[((key >> shift) & mask) as usize] += 1;
                        low = low.min(key);
                        high = high.max(key);
                    }
                }
                self.low = low;
                self.high = high;
            }
            SelectionState::Collect(collected) => collected.extend(keys.iter().filter(|&&key| key >> prefix_shift == prefix)),
            SelectionState::Done(_) => {}
        }
    }

    /// Narrows down after a pass, collecting next when the bucket holds at most `limit` keys; true once known.
    fn end_pass(&mut self, limit: u64) -> bool {
        let digit_bits = self.digit_bits();
        let next = match &mut self.state {
            SelectionState::Done(_) => return true,
            SelectionState::Collect(keys) => {
                keys.sort_unstable_by(|a, b| b.cmp(a));
                SelectionState::Done(keys[(self.rank - 1) as usize])
            }
            SelectionState::Histogram(counts) => {
                if self.low == self.high {
                    SelectionState::Done(self.low)
                } else {
                    let mut above = 0;
                    let mut digit = counts.len() - 1;
                    while above + counts[digit] < self.rank {
                        above += counts[digit];
                        digit -= 1;
                    }
                    let bucket = counts[digit];
                    self.rank -= above;
                    self.prefix = self.prefix << digit_bits | digit as u64;
                    self.known_bits += digit_bits;
                    self.low = u64::MAX;
                    self.high = 0;
                    if self.known_bits == KEY_BITS {
                        SelectionState::Done(self.prefix)
                    } else if bucket <= limit {
                        SelectionState::Collect(Vec::with_capacity(bucket as usize))
                    } else {
                        counts.iter_mut().for_each(|c| *c = 0);
                        return false;
                    }
                }
            }
        };
        self.state = next;
        matches!(self.state, SelectionState::Done(_))
    }

    fn key(&self) -> Option<u64> {
        match self.state {
            SelectionState::Done(key) => Some(key),
            _ => None,
        }
    }
}

/// A cut found by selection, or known at once.
enum Pending {
    Known(Cut),
    Select(Selection),
}

impl Pending {
    /// Keys at least the rank-th largest, for rank in 0..=n (0: nothing).
    fn top(rank: u64, n: u64, limit: u64) -> Pending {
        if rank == 0 {
            Pending::Known(Cut::Nothing)
        } else {
            Pending::Select(Selection::new(rank, n, limit))
        }
    }

    fn cut(&self) -> Option<Cut> {
        match self {
            Pending::Known(cut) => Some(*cut),
            Pending::Select(s) => s.key().map(Cut::AtLeast),
        }
    }
}

/// The collect limit of each of `selections` selections sharing the budget.
fn collect_limit(selections: usize) -> u64 {
    (COLLECT_BUDGET / selections.max(1) as u64).max(COLLECT_MIN)
}

/// round(fraction·n) within [0, n], halves to even as Python's and numpy's `round` (and every rounding here) do.
fn rounded_count(fraction: f64, n: u64) -> u64 {
    let x = (fraction * n as f64).max(0.0);
    let floor = x.floor();
    let up = match (x - floor).partial_cmp(&0.5) {
        Some(core::cmp::Ordering::Greater) => true,
        Some(core::cmp::Ordering::Equal) => floor % 2.0 == 1.0,
        _ => false,
    };
    ((floor as u64) + up as u64).min(n)
}

/// Merging of one tensor.
pub struct MergeJob {
    dtypes: Vec<DType>,
    n: u64,
    method: Method,
    outputs: Outputs,
    /// Per task: the cut a key must pass to be kept, and the cut of large keys dropped (breadcrumbs).
    keep: Vec<Pending>,
    drop: Vec<Pending>,
    selecting: bool,
    finished: bool,
    /// Whether `merge_block` takes the general path rather than the fused pass.
    general_path: bool,
    position: u64,
    values: Vec<Vec<f64>>,
    /// Per block (planes of an even width: a padding element ends odd blocks, zero in every input and kept by no
    /// task), task-major: τ, then τ_MTL, the keep masks (0.0 or 1.0), how many tasks keep each element, and how
    /// many of them with a positive and a negative τ.
    tau: Vec<f64>,
    total: Vec<f64>,
    masks: Vec<f64>,
    kept_by: Vec<f64>,
    signs: Vec<f64>,
    keys: Vec<u64>,
    delta: Vec<f64>,
    agree: Vec<f64>,
    merged: Vec<f64>,
    output: Vec<u8>,
    kept: Vec<u64>,
    task_counts: Vec<u64>,
    sign_conflicts: u64,
    trimmed_l1: f64,
    total_l1: f64,
}

impl MergeJob {
    /// `dtypes[0]` is the base's, then one per task; `n` elements.
    pub fn new(dtypes: &[DType], n: u64, method: Method, outputs: Outputs) -> Result<MergeJob, MergeError> {
        let tasks = dtypes.len().saturating_sub(1);
        if tasks == 0 || !params_valid(method, tasks) {
            return Err(MergeError::BadParams);
        }
        let selections = match method {
            Method::Ties { .. } => tasks,
            Method::Breadcrumbs { .. } => 2 * tasks,
            _ => 1,
        };
        let limit = collect_limit(selections);
        let (keep, drop): (Vec<Pending>, Vec<Pending>) = (0..tasks)
            .map(|_| match method {
                Method::Ties { density, .. } => (Pending::top(rounded_count(density, n), n, limit), Pending::Known(Cut::Nothing)),
                Method::Breadcrumbs { beta, gamma, .. } => {
                    let bottom = rounded_count(gamma, n);
                    let keep = if bottom == 0 { Pending::Known(Cut::All) } else { Pending::top(n - bottom, n, limit) };
                    (keep, Pending::top(rounded_count(beta, n), n, limit))
                }
                _ => (Pending::Known(Cut::All), Pending::Known(Cut::Nothing)),
            })
            .unzip();
        let selecting = keep.iter().chain(&drop).any(|p| matches!(p, Pending::Select(_)));
        Ok(MergeJob {
            dtypes: dtypes.to_vec(),
            n,
            method,
            outputs,
            keep,
            drop,
            selecting,
            finished: false,
            general_path: tasks > MAX_FUSED_TASKS || !matches!(dtypes[0], DType::BF16 | DType::F16),
            position: 0,
            values: vec![Vec::new(); tasks + 1],
            tau: Vec::new(),
            total: Vec::new(),
            masks: Vec::new(),
            kept_by: Vec::new(),
            signs: Vec::new(),
            keys: Vec::new(),
            delta: Vec::new(),
            agree: Vec::new(),
            merged: Vec::new(),
            output: Vec::new(),
            kept: vec![0; tasks],
            task_counts: vec![0; tasks + 1],
            sign_conflicts: 0,
            trimmed_l1: 0.0,
            total_l1: 0.0,
        })
    }

    fn tasks(&self) -> usize {
        self.dtypes.len() - 1
    }

    /// The next elements of the base (inputs[0]) and of every task, in lockstep.
    pub fn push(&mut self, inputs: &[&[u8]]) -> Result<(), MergeError> {
        if self.finished {
            return Err(MergeError::WrongPhase);
        }
        let count = self.lockstep_count(inputs)?;
        if self.position + count as u64 > self.n {
            return Err(MergeError::BadInput);
        }
        let tasks = self.tasks();
        let writing = !self.selecting;
        let merged_bytes = if writing && self.outputs.merged { encoded_len(self.dtypes[0], count) } else { 0 };
        let mask_planes = if writing && self.outputs.masks { tasks + matches!(self.method, Method::Consensus { .. }) as usize } else { 0 };
        // Every byte is written below: resize without clearing, so the buffer is not zero-filled on every push.
        self.output.resize(merged_bytes + mask_planes * count, 0);
        let mut done = 0;
        while done < count {
            let take = (count - done).min(DECODE_BLOCK);
            self.decode_block(inputs, done, take);
            if self.selecting {
                self.observe_block(take);
            } else {
                self.merge_block(take);
                if merged_bytes > 0 {
                    let start = encoded_len(self.dtypes[0], done);
                    let end = start + encoded_len(self.dtypes[0], take);
                    encode_f64(self.dtypes[0], &self.merged[..take], &mut self.output[start..end]);
                }
                let width = padded(take);
                for plane in 0..mask_planes {
                    let at = merged_bytes + plane * count + done;
                    let out = &mut self.output[at..at + take];
                    if plane < tasks {
                        out.iter_mut().zip(&self.masks[plane * width..]).for_each(|(o, &m)| *o = m as u8);
                    } else {
                        // The consensus mask: kept by at least k tasks.
                        let k = match self.method {
                            Method::Consensus { k, .. } => k as f64,
                            _ => unreachable!("only consensus has an extra plane"),
                        };
                        out.iter_mut().zip(&self.kept_by).for_each(|(o, &c)| *o = (c >= k) as u8);
                    }
                }
            }
            done += take;
            self.position += take as u64;
        }
        Ok(())
    }

    /// Decodes elements [first, first + take) of every input, padded to an even width with zeros.
    fn decode_block(&mut self, inputs: &[&[u8]], first: usize, take: usize) {
        for (s, (dtype, bytes)) in self.dtypes.iter().zip(inputs).enumerate() {
            let values = &mut self.values[s];
            values.resize(padded(take), 0.0);
            decode_range(*dtype, bytes, first, take, &mut values[..take]);
            values[take..].iter_mut().for_each(|v| *v = 0.0);
        }
    }

    fn observe_block(&mut self, count: usize) {
        let (base, tasks) = self.values.split_first().expect("a base");
        for (t, task) in tasks.iter().enumerate() {
            let pending = [&mut self.keep[t], &mut self.drop[t]];
            if !pending.iter().any(|p| matches!(p, Pending::Select(s) if s.key().is_none())) {
                continue;
            }
            self.keys.clear();
            self.keys.extend(task[..count].iter().zip(base).map(|(&x, &b)| magnitude_key(x - b)));
            for p in pending {
                if let Pending::Select(selection) = p {
                    selection.observe(&self.keys);
                }
            }
        }
    }

    /// Merges one block. Per element the arithmetic and its order are those of the table in the module
    /// documentation. Into BF16 or F16 with up to four tasks, in one pass over the block's pairs of elements with
    /// every task's values in registers (`merge_fused`); else column by column (task after task over the block's
    /// elements, planes in memory), the general path. Both give the same bits, but for which NaN an addition of two
    /// NaNs passes on (the compiler's choice of operand order: IEEE leaves it open), which only BF16 and F16, whose
    /// encoders write every NaN alike, do not show.
    fn merge_block(&mut self, count: usize) {
        match if self.general_path { 0 } else { self.tasks() } {
            1 => self.merge_fused::<1>(count),
            2 => self.merge_fused::<2>(count),
            3 => self.merge_fused::<3>(count),
            4 => self.merge_fused::<4>(count),
            _ => {
                self.compute_masks(count);
                self.tally(count);
                self.combine(count);
            }
        }
    }

    /// The fused pass with `TASKS` tasks, one copy per method: its keep mask (from the task, τ, τ_MTL and the
    /// index of the pair's first element) and its merged delta (from the pair's sums, every τ and keep mask).
    #[inline(always)]
    fn merge_fused<const TASKS: usize>(&mut self, count: usize) {
        let zero = F64x2::splat(0.0);
        let mut cuts = [(0i64, 0i64); TASKS];
        let mut streams = [0u64; TASKS];
        for (t, (cut, stream)) in cuts.iter_mut().zip(&mut streams).enumerate() {
            *cut = self.cut_bounds(t);
            *stream = dare_stream(self.method, t);
        }
        let within_cuts = |t: usize, tau: F64x2, _, _| tau.magnitude_bits_within(cuts[t].0, cuts[t].1);
        match self.method {
            Method::TaskArithmetic { lambda } => {
                let lambda = F64x2::splat(lambda);
                self.fused_pairs::<TASKS>(count, |_, tau, _, _| tau.eq(zero).not(), |pair, _, _| lambda.mul(pair.total))
            }
            Method::Ties { lambda, .. } => {
                let lambda = F64x2::splat(lambda);
                let delta = |pair: &PairSums, taus: &[F64x2; TASKS], keeps: &[M64x2; TASKS]| {
                    let (mut sum, mut agreeing) = (zero, zero);
                    for (&tau, &keeps) in taus.iter().zip(keeps) {
                        let (s, n) = ties_agree(pair.kept_sum, keeps.select(tau, zero), sum, agreeing);
                        sum = s;
                        agreeing = n;
                    }
                    ties_mean(lambda, pair.kept_sum, sum, agreeing)
                };
                self.fused_pairs::<TASKS>(count, within_cuts, delta)
            }
            Method::Dare { drop, lambda, .. } => {
                let (lambda, kept, drawn_at_least) = (F64x2::splat(lambda), F64x2::splat(1.0 - drop), dare_threshold(drop));
                let keep = |t: usize, _, _, index: u64| {
                    M64x2::from_lanes([uniform_bits(streams[t], index) >= drawn_at_least, uniform_bits(streams[t], index + 1) >= drawn_at_least])
                };
                self.fused_pairs::<TASKS>(count, keep, |pair, _, _| lambda.mul(pair.kept_sum.div(kept)))
            }
            Method::Breadcrumbs { lambda, .. } => {
                let lambda = F64x2::splat(lambda);
                self.fused_pairs::<TASKS>(count, within_cuts, |pair, _, _| lambda.mul(pair.kept_sum))
            }
            Method::Tall { lambda } => {
                let lambda = F64x2::splat(lambda);
                self.fused_pairs::<TASKS>(count, |_, tau, total, _| tall_keeps(lambda, tau, total), |pair, _, _| pair.total)
            }
            Method::Consensus { lambda, k } => {
                let (lambda, k) = (F64x2::splat(lambda), F64x2::splat(k as f64));
                self.fused_pairs::<TASKS>(count, |_, tau, total, _| tall_keeps(lambda, tau, total), |pair, _, _| k.le(pair.kept_by).select(pair.total, zero))
            }
        }
    }

    /// One pass over the block's pairs of elements (two f64 lanes; SIMD128 in the wasm build), task after task
    /// within a pair: the additions of the general path in the same order (sums from 0.0, task after task; the
    /// block's sums in two lanes per task, folded in task after task when the block ends), so the same bits (NaNs
    /// aside, see `merge_block`); only no per-task plane is written and read back. Fixed-size arrays of `TASKS`
    /// keep every task's values in registers.
    #[inline(always)]
    fn fused_pairs<const TASKS: usize>(
        &mut self,
        count: usize,
        keep: impl Fn(usize, F64x2, F64x2, u64) -> M64x2,
        delta: impl Fn(&PairSums, &[F64x2; TASKS], &[M64x2; TASKS]) -> F64x2,
    ) {
        let width = padded(count);
        let zero = F64x2::splat(0.0);
        let (every_lane, no_lane) = (zero.eq(zero), zero.lt(zero));
        self.merged.resize(width, 0.0);
        self.kept_by.resize(width, 0.0);
        let write_masks = self.outputs.masks;
        self.masks.resize(if write_masks { TASKS * width } else { 0 }, 0.0);
        let (mut kept, mut l1, mut kept_l1) = ([zero; TASKS], [zero; TASKS], [zero; TASKS]);
        let (mut levels, mut conflicts) = ([Count64x2::zero(); TASKS], Count64x2::zero());
        let (base, fine_tunes) = self.values.split_first().expect("a base");
        let mut tuned: [&[f64]; TASKS] = [&[]; TASKS];
        tuned.iter_mut().zip(fine_tunes).for_each(|(plane, values)| *plane = &values[..width]);
        let position = self.position;
        let planes = pairs(&base[..width]).zip(self.merged.chunks_exact_mut(2)).zip(self.kept_by.chunks_exact_mut(2));
        // `at`: the pair's first element (counted by hand: `step_by` is slow in the loop).
        let mut at = 0;
        for ((b, merged), kept_by_out) in planes {
            // The padding element of an odd block is kept by no task.
            let real = if at + 1 < count { every_lane } else { F64x2::load(&[0.0, 1.0]).eq(zero) };
            let b = F64x2::load(b);
            let (mut taus, mut total) = ([zero; TASKS], zero);
            for t in 0..TASKS {
                taus[t] = F64x2::load(&tuned[t][at..at + 2]).sub(b);
                total = total.add(taus[t]);
            }
            let mut keeps = [no_lane; TASKS];
            let (mut kept_by, mut positive, mut negative, mut kept_sum) = (zero, zero, zero, zero);
            for t in 0..TASKS {
                let tau = taus[t];
                keeps[t] = keep(t, tau, total, position + at as u64).and(real);
                let ones = keeps[t].ones();
                kept_by = kept_by.add(ones);
                kept[t] = kept[t].add(ones);
                positive = positive.add(keeps[t].and(zero.lt(tau)).ones());
                negative = negative.add(keeps[t].and(tau.lt(zero)).ones());
                let magnitude = finite_magnitude(tau);
                l1[t] = l1[t].add(magnitude);
                kept_l1[t] = kept_l1[t].add(keeps[t].select(magnitude, zero));
                kept_sum = kept_sum.add(keeps[t].select(tau, zero));
                if write_masks {
                    ones.store(&mut self.masks[t * width + at..]);
                }
            }
            conflicts = conflicts.count(zero.lt(positive).and(zero.lt(negative)));
            for (c, level) in levels.iter_mut().enumerate() {
                *level = level.count(kept_by.eq(F64x2::splat((c + 1) as f64)));
            }
            kept_by.store(kept_by_out);
            let delta = delta(&PairSums { total, kept_sum, kept_by }, &taus, &keeps);
            delta.eq(zero).select(b, b.add(delta)).store(merged);
            at += 2;
        }
        for t in 0..TASKS {
            self.add_task_sums(t, kept[t], l1[t], kept_l1[t]);
        }
        self.sign_conflicts += conflicts.total();
        let counted: u64 = levels.iter().map(|l| l.total()).sum();
        for (c, level) in levels.iter().enumerate() {
            self.task_counts[c + 1] += level.total();
        }
        self.task_counts[0] += count as u64 - counted;
    }

    /// Task `t`'s cuts as signed bounds of its kept |τ| keys: above < key ≤ at_most (keys are below 2⁶³, so
    /// [lowest kept, lowest dropped) shifts down by one without overflow; an unselected cut keeps every key).
    fn cut_bounds(&self, t: usize) -> (i64, i64) {
        let (keep, drop) = (self.keep[t].cut().unwrap_or(Cut::All), self.drop[t].cut().unwrap_or(Cut::Nothing));
        (keep.lowest().wrapping_sub(1) as i64, drop.lowest().wrapping_sub(1) as i64)
    }

    /// Adds a task's lanes of a block's sums: kept elements, Σ |τ| and Σ kept |τ| (finite τ).
    fn add_task_sums(&mut self, t: usize, kept: F64x2, l1: F64x2, kept_l1: F64x2) {
        let sum = |v: F64x2| v.lanes()[0] + v.lanes()[1];
        self.kept[t] += sum(kept) as u64;
        self.total_l1 += sum(l1);
        self.trimmed_l1 += sum(l1) - sum(kept_l1);
    }

    /// τ, τ_MTL and every task's keep mask (0.0 or 1.0) of one decoded block, task-major planes of width
    /// `padded(count)`; the padding element is kept by no task.
    fn compute_masks(&mut self, count: usize) {
        let tasks = self.tasks();
        let width = padded(count);
        let (base, fine_tunes) = self.values.split_first().expect("a base");
        self.tau.resize(tasks * width, 0.0);
        self.total.resize(width, 0.0);
        for (t, tuned) in fine_tunes.iter().enumerate() {
            let tau = &mut self.tau[t * width..(t + 1) * width];
            for (((x, b), d), s) in pairs(&tuned[..width]).zip(pairs(&base[..width])).zip(pairs_mut(tau)).zip(pairs_mut(&mut self.total)) {
                let delta = F64x2::load(x).sub(F64x2::load(b));
                delta.store(d);
                running(s, t == 0).add(delta).store(s);
            }
        }
        self.masks.resize(tasks * width, 0.0);
        let zero = F64x2::splat(0.0);
        for t in 0..tasks {
            let tau = &self.tau[t * width..(t + 1) * width];
            let cut_bounds = self.cut_bounds(t);
            let mask = &mut self.masks[t * width..(t + 1) * width];
            match self.method {
                Method::TaskArithmetic { .. } => {
                    for (d, m) in pairs(tau).zip(pairs_mut(mask)) {
                        F64x2::load(d).eq(zero).not().ones().store(m);
                    }
                }
                Method::Ties { .. } | Method::Breadcrumbs { .. } => {
                    let (above, at_most) = cut_bounds;
                    for (d, m) in pairs(tau).zip(pairs_mut(mask)) {
                        F64x2::load(d).magnitude_bits_within(above, at_most).ones().store(m);
                    }
                }
                Method::Dare { drop: p, .. } => {
                    let (stream, threshold) = (dare_stream(self.method, t), dare_threshold(p));
                    for (i, m) in mask.iter_mut().enumerate() {
                        *m = (uniform_bits(stream, self.position + i as u64) >= threshold) as u8 as f64;
                    }
                }
                Method::Tall { lambda } | Method::Consensus { lambda, .. } => {
                    let lambda = F64x2::splat(lambda);
                    for ((d, s), m) in pairs(tau).zip(pairs(&self.total)).zip(pairs_mut(mask)) {
                        tall_keeps(lambda, F64x2::load(d), F64x2::load(s)).ones().store(m);
                    }
                }
            }
            mask[count..].iter_mut().for_each(|m| *m = 0.0);
        }
    }

    /// A job that only tells, element by element, how many tasks keep each weight (a mask heatmap): the cuts come
    /// from a finished merge of the same tensor (`set_cuts`), and the elements streamed start at `first`.
    pub fn counter(dtypes: &[DType], method: Method, first: u64) -> Result<MergeJob, MergeError> {
        let mut job = MergeJob::new(dtypes, u64::MAX, method, Outputs::default())?;
        job.keep.iter_mut().for_each(|p| *p = Pending::Known(Cut::All));
        job.drop.iter_mut().for_each(|p| *p = Pending::Known(Cut::Nothing));
        job.selecting = false;
        job.position = first;
        Ok(job)
    }

    /// Sets task `t`'s cuts by their lowest admitted keys (`cut_keys` of the merge's result).
    pub fn set_cuts(&mut self, t: usize, keep_lowest: u64, drop_lowest: u64) -> Result<(), MergeError> {
        if t >= self.tasks() {
            return Err(MergeError::BadParams);
        }
        self.keep[t] = Pending::Known(Cut::from_lowest(keep_lowest));
        self.drop[t] = Pending::Known(Cut::from_lowest(drop_lowest));
        Ok(())
    }

    /// The number of tasks keeping each of the next elements (base and tasks in lockstep, as `push` takes them).
    pub fn count_kept(&mut self, inputs: &[&[u8]]) -> Result<Vec<f64>, MergeError> {
        let count = self.lockstep_count(inputs)?;
        let tasks = self.tasks();
        let mut out = Vec::with_capacity(count);
        let mut done = 0;
        while done < count {
            let take = (count - done).min(DECODE_BLOCK);
            self.decode_block(inputs, done, take);
            self.compute_masks(take);
            let width = padded(take);
            out.extend((0..take).map(|i| (0..tasks).map(|t| self.masks[t * width + i]).sum::<f64>()));
            done += take;
            self.position += take as u64;
        }
        Ok(out)
    }

    /// Elements in this push, the same in every input.
    fn lockstep_count(&self, inputs: &[&[u8]]) -> Result<usize, MergeError> {
        if inputs.len() < self.dtypes.len() {
            return Err(MergeError::BadInput);
        }
        let count = whole_elements(self.dtypes[0], inputs[0].len()).ok_or(MergeError::BadInput)?;
        for (dtype, bytes) in self.dtypes.iter().zip(inputs) {
            if whole_elements(*dtype, bytes.len()) != Some(count) {
                return Err(MergeError::BadInput);
            }
        }
        Ok(count)
    }

    /// Kept counts, the task-count histogram, sign conflicts and the L1 masses of one block, in two f64 lanes
    /// (even and odd elements; SIMD128 in the wasm build). Non-finite τ are left out of the L1 masses.
    fn tally(&mut self, count: usize) {
        let tasks = self.tasks();
        let width = padded(count);
        let (zero, one) = (F64x2::splat(0.0), F64x2::splat(1.0));
        self.kept_by.resize(width, 0.0);
        // Taken out of `self` for the loop, which also adds to the job's sums.
        let mut signs = std::mem::take(&mut self.signs);
        signs.resize(2 * width, 0.0);
        let (positive, negative) = signs.split_at_mut(width);
        for t in 0..tasks {
            let mask = &self.masks[t * width..(t + 1) * width];
            let tau = &self.tau[t * width..(t + 1) * width];
            let (mut kept, mut total, mut kept_l1) = (zero, zero, zero);
            let planes = pairs_mut(&mut self.kept_by).zip(pairs_mut(positive)).zip(pairs_mut(negative));
            for ((m, d), ((c, p), n)) in pairs(mask).zip(pairs(tau)).zip(planes) {
                let (m, d) = (F64x2::load(m), F64x2::load(d));
                let keeps = one.le(m);
                running(c, t == 0).add(m).store(c);
                kept = kept.add(m);
                running(p, t == 0).add(keeps.and(zero.lt(d)).ones()).store(p);
                running(n, t == 0).add(keeps.and(d.lt(zero)).ones()).store(n);
                let magnitude = finite_magnitude(d);
                total = total.add(magnitude);
                kept_l1 = kept_l1.add(keeps.select(magnitude, zero));
            }
            self.add_task_sums(t, kept, total, kept_l1);
        }
        let mut conflicts = zero;
        for (p, n) in pairs(positive).zip(pairs(negative)) {
            conflicts = conflicts.add(zero.lt(F64x2::load(p)).and(zero.lt(F64x2::load(n))).ones());
        }
        self.sign_conflicts += (conflicts.lanes()[0] + conflicts.lanes()[1]) as u64;
        self.signs = signs;
        // Elements kept by c ≥ 1 tasks, one comparison pass per c (few tasks), else one scattered count each; the
        // rest (the padding element among them, kept by none) by no task.
        if tasks <= 8 {
            let mut counted = 0;
            for c in 1..=tasks {
                let (level, mut n) = (F64x2::splat(c as f64), zero);
                for c in pairs(&self.kept_by) {
                    n = n.add(F64x2::load(c).eq(level).ones());
                }
                let n = (n.lanes()[0] + n.lanes()[1]) as u64;
                self.task_counts[c] += n;
                counted += n;
            }
            self.task_counts[0] += count as u64 - counted;
        } else {
            for &c in &self.kept_by[..count] {
                self.task_counts[c as usize] += 1;
            }
        }
    }

    /// The merged values of one block, in two f64 lanes.
    fn combine(&mut self, count: usize) {
        let tasks = self.tasks();
        let width = padded(count);
        let (zero, one) = (F64x2::splat(0.0), F64x2::splat(1.0));
        let (masks, tau, total, base, kept_by) = (&self.masks, &self.tau, &self.total, &self.values[0], &self.kept_by);
        let delta = &mut self.delta;
        // Every method writes all of it.
        delta.resize(width, 0.0);
        match self.method {
            Method::TaskArithmetic { lambda } => {
                let lambda = F64x2::splat(lambda);
                for (d, s) in pairs_mut(delta).zip(pairs(total)) {
                    lambda.mul(F64x2::load(s)).store(d);
                }
            }
            Method::Ties { lambda, .. } => {
                masked_sums(delta, masks, tau, width);
                self.agree.resize(2 * width, 0.0);
                let (sums, agreeing) = self.agree.split_at_mut(width);
                for t in 0..tasks {
                    let (mask, tau) = (&masks[t * width..(t + 1) * width], &tau[t * width..(t + 1) * width]);
                    for (((e, m), d), (s, n)) in pairs(delta).zip(pairs(mask)).zip(pairs(tau)).zip(pairs_mut(sums).zip(pairs_mut(agreeing))) {
                        let d = one.le(F64x2::load(m)).select(F64x2::load(d), zero);
                        let (sum, agreeing) = ties_agree(F64x2::load(e), d, running(s, t == 0), running(n, t == 0));
                        sum.store(s);
                        agreeing.store(n);
                    }
                }
                let lambda = F64x2::splat(lambda);
                for ((e, s), n) in pairs_mut(delta).zip(pairs(sums)).zip(pairs(agreeing)) {
                    ties_mean(lambda, F64x2::load(e), F64x2::load(s), F64x2::load(n)).store(e);
                }
            }
            Method::Dare { drop, lambda, .. } => {
                masked_sums(delta, masks, tau, width);
                let (lambda, kept) = (F64x2::splat(lambda), F64x2::splat(1.0 - drop));
                for d in pairs_mut(delta) {
                    lambda.mul(F64x2::load(d).div(kept)).store(d);
                }
            }
            Method::Breadcrumbs { lambda, .. } => {
                masked_sums(delta, masks, tau, width);
                let lambda = F64x2::splat(lambda);
                for d in pairs_mut(delta) {
                    lambda.mul(F64x2::load(d)).store(d);
                }
            }
            Method::Tall { .. } => delta.copy_from_slice(&total[..width]),
            Method::Consensus { k, .. } => {
                let k = F64x2::splat(k as f64);
                for ((d, c), s) in pairs_mut(delta).zip(pairs(kept_by)).zip(pairs(total)) {
                    k.le(F64x2::load(c)).select(F64x2::load(s), zero).store(d);
                }
            }
        }
        self.merged.resize(width, 0.0);
        for ((b, d), out) in pairs(&base[..width]).zip(pairs(delta)).zip(pairs_mut(&mut self.merged)) {
            let (b, d) = (F64x2::load(b), F64x2::load(d));
            d.eq(zero).select(b, b.add(d)).store(out);
        }
    }

    /// Bytes the last push wrote (see `Outputs`); empty during selection passes.
    pub fn output(&self) -> &[u8] {
        &self.output
    }

    /// Ends a pass. True: stream the same elements again (selection); false: merged, results ready.
    pub fn end_pass(&mut self) -> Result<bool, MergeError> {
        if self.finished {
            return Ok(false);
        }
        if self.position != self.n {
            return Err(MergeError::WrongPhase);
        }
        self.position = 0;
        if self.selecting {
            let active = self.keep.iter().chain(&self.drop).filter(|p| matches!(p, Pending::Select(s) if s.key().is_none())).count();
            let limit = collect_limit(active);
            let mut all_known = true;
            for pending in self.keep.iter_mut().chain(self.drop.iter_mut()) {
                if let Pending::Select(selection) = pending {
                    all_known &= selection.end_pass(limit);
                }
            }
            self.selecting = !all_known;
            return Ok(true);
        }
        self.finished = true;
        Ok(false)
    }

    /// Whether the next pass writes output (the merging pass).
    pub fn merging(&self) -> bool {
        !self.selecting && !self.finished
    }

    /// The results, once the last pass ended.
    pub fn result(&self) -> Option<MergeResult> {
        if !self.finished {
            return None;
        }
        Some(MergeResult {
            n: self.n,
            kept: self.kept.iter().sum(),
            sign_conflicts: self.sign_conflicts,
            trimmed_l1: self.trimmed_l1,
            total_l1: self.total_l1,
            task_counts: self.task_counts.clone(),
            kept_per_task: self.kept.clone(),
            keep_threshold: self.keep.iter().map(|p| p.cut().map_or(f64::NAN, Cut::threshold)).collect(),
            drop_threshold: self.drop.iter().map(|p| p.cut().map_or(f64::NAN, Cut::threshold)).collect(),
            cut_keys: self.keep.iter().zip(&self.drop).map(|(k, d)| (k.cut().map_or(0, Cut::lowest), d.cut().map_or(NO_KEY, Cut::lowest))).collect(),
        })
    }
}

/// Per element, Σ over tasks of the kept τ, left to right (an unkept task adds +0.0, which changes no sum that
/// matters: only a −0 could become +0).
fn masked_sums(sums: &mut [f64], masks: &[f64], tau: &[f64], width: usize) {
    let (zero, one) = (F64x2::splat(0.0), F64x2::splat(1.0));
    for (t, (mask, tau)) in masks.chunks_exact(width).zip(tau.chunks_exact(width)).enumerate() {
        for ((m, d), s) in pairs(mask).zip(pairs(tau)).zip(pairs_mut(sums)) {
            running(s, t == 0).add(one.le(F64x2::load(m)).select(F64x2::load(d), zero)).store(s);
        }
    }
}

/// A pair's τ_MTL, Σ kept τ (added task after task from 0.0) and number of tasks keeping each element.
struct PairSums {
    total: F64x2,
    kept_sum: F64x2,
    kept_by: F64x2,
}

/// |τ|, or 0 where τ is not finite (left out of the L1 masses).
#[inline(always)]
fn finite_magnitude(tau: F64x2) -> F64x2 {
    let zero = F64x2::splat(0.0);
    tau.sub(tau).eq(zero).select(tau.abs(), zero)
}

/// TALL and consensus masks: |τ_t| ≥ λ·|τ_MTL − τ_t|.
#[inline(always)]
fn tall_keeps(lambda: F64x2, tau: F64x2, total: F64x2) -> M64x2 {
    lambda.mul(total.sub(tau).abs()).le(tau.abs())
}

/// TIES: the running sum and count of the kept τ agreeing with the elected sign sgn(Σ kept τ), after one more task
/// (`kept_tau` 0 where it does not keep the element).
#[inline(always)]
fn ties_agree(elected: F64x2, kept_tau: F64x2, sum: F64x2, agreeing: F64x2) -> (F64x2, F64x2) {
    let zero = F64x2::splat(0.0);
    let agrees = zero.lt(elected).and(zero.lt(kept_tau)).or(elected.lt(zero).and(kept_tau.lt(zero)));
    (sum.add(agrees.select(kept_tau, zero)), agreeing.add(agrees.ones()))
}

/// TIES: λ·the mean of the agreeing τ; 0 when none agrees, NaN when the elected sum is NaN.
#[inline(always)]
fn ties_mean(lambda: F64x2, elected: F64x2, sum: F64x2, agreeing: F64x2) -> F64x2 {
    let zero = F64x2::splat(0.0);
    zero.lt(agreeing).select(lambda.mul(sum.div(agreeing)), elected.eq(elected).select(zero, F64x2::splat(f64::NAN)))
}

/// DARE's stream key of task `t`: mix64(mix64(seed ^ name hash) + t) (0 for other methods).
fn dare_stream(method: Method, t: usize) -> u64 {
    match method {
        Method::Dare { seed, name_hash, .. } => mix64(mix64(seed ^ name_hash).wrapping_add(t as u64)),
        _ => 0,
    }
}

/// DARE keeps uniform(stream, i) ≥ p, compared on the 53 drawn bits: ⌈p·2⁵³⌉ is exact.
fn dare_threshold(p: f64) -> u64 {
    (p * (1u64 << 53) as f64).ceil() as u64
}

/// The running total a per-block plane holds before task `t` adds to it: 0.0 for the first task (0.0 + x, exactly as
/// against a zeroed plane, −0.0 included), so planes are never zero-filled first (that memset cost a fifth of a merge).
#[inline(always)]
fn running(plane: &[f64], first_task: bool) -> F64x2 {
    if first_task {
        F64x2::splat(0.0)
    } else {
        F64x2::load(plane)
    }
}

/// The pairs of lanes of a plane (of even length).
fn pairs(plane: &[f64]) -> core::slice::ChunksExact<'_, f64> {
    plane.chunks_exact(2)
}

fn pairs_mut(plane: &mut [f64]) -> core::slice::ChunksExactMut<'_, f64> {
    plane.chunks_exact_mut(2)
}

/// A block's width: its element count rounded up to even (whole pairs of lanes).
fn padded(count: usize) -> usize {
    count + (count & 1)
}

fn params_valid(method: Method, tasks: usize) -> bool {
    let unit = |x: f64| (0.0..=1.0).contains(&x);
    tasks < 64
        && match method {
            Method::TaskArithmetic { lambda } | Method::Tall { lambda } => lambda.is_finite(),
            Method::Ties { density, lambda } => unit(density) && lambda.is_finite(),
            Method::Dare { drop, lambda, .. } => (0.0..1.0).contains(&drop) && lambda.is_finite(),
            Method::Breadcrumbs { beta, gamma, lambda } => unit(beta) && unit(gamma) && beta + gamma <= 1.0 && lambda.is_finite(),
            Method::Consensus { lambda, .. } => lambda.is_finite(),
        }
}

/// The bits of |x|: ordered like the magnitudes (NaN above +Inf).
fn magnitude_key(x: f64) -> u64 {
    x.to_bits() & !(1u64 << 63)
}


#[cfg(test)]
mod tests {
    use super::*;

    fn f32_bytes(values: &[f32]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    fn f32_values(bytes: &[u8]) -> Vec<f32> {
        bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
    }

    /// Runs a merge of F32 tensors with all outputs, pushing `chunk` elements at a time; returns the merged values,
    /// the masks (task-major) and the result.
    fn run(base: &[f32], tasks: &[Vec<f32>], method: Method, chunk: usize) -> (Vec<f32>, Vec<Vec<u8>>, MergeResult) {
        let n = base.len();
        let dtypes = vec![DType::F32; tasks.len() + 1];
        let mut job = MergeJob::new(&dtypes, n as u64, method, Outputs { merged: true, masks: true }).unwrap();
        let inputs: Vec<Vec<u8>> = std::iter::once(f32_bytes(base)).chain(tasks.iter().map(|t| f32_bytes(t))).collect();
        let planes = tasks.len() + matches!(method, Method::Consensus { .. }) as usize;
        let mut merged = Vec::new();
        let mut masks = vec![Vec::new(); planes];
        let mut passes = 0;
        loop {
            passes += 1;
            let writing = job.merging();
            for start in (0..n).step_by(chunk) {
                let end = (start + chunk).min(n);
                let slices: Vec<&[u8]> = inputs.iter().map(|b| &b[start * 4..end * 4]).collect();
                job.push(&slices).unwrap();
                let out = job.output();
                assert_eq!(out.is_empty(), !writing);
                if writing {
                    let m = end - start;
                    merged.extend(f32_values(&out[..m * 4]));
                    for (p, mask) in masks.iter_mut().enumerate() {
                        mask.extend_from_slice(&out[m * 4 + p * m..m * 4 + (p + 1) * m]);
                    }
                }
            }
            if !job.end_pass().unwrap() {
                break;
            }
            assert!(passes < 10);
        }
        (merged, masks, job.result().unwrap())
    }

    #[test]
    fn ties_hand_case_with_zeros_and_ties_at_the_threshold() {
        let base = [1.0f32, 1.0, 1.0, 1.0, 1.0];
        // τ1 = [0.5, -0.5, 0.25, 0, -1]; τ2 = [-0.25, 0.5, 0.5, 0, 0.25]
        let t1 = vec![1.5f32, 0.5, 1.25, 1.0, 0.0];
        let t2 = vec![0.75f32, 1.5, 1.5, 1.0, 1.25];
        // density 0.4 → k = 2: τ1 keeps |τ| ≥ 0.5 → [1,1,0,0,1] (0.5 twice, tie kept: 3 elements); τ2 keeps ≥ 0.5 → [0,1,1,0,0].
        let (merged, masks, r) = run(&base, &[t1, t2], Method::Ties { density: 0.4, lambda: 1.0 }, 2);
        assert_eq!(masks[0], vec![1, 1, 0, 0, 1]);
        assert_eq!(masks[1], vec![0, 1, 1, 0, 0]);
        // element 1: kept −0.5 and +0.5 → sum 0 → elected sign 0 → Δ 0; element 0: only τ1 = 0.5; element 4: −1.
        assert_eq!(merged, vec![1.5, 1.0, 1.5, 1.0, 0.0]);
        assert_eq!(r.task_counts, vec![1, 3, 1]);
        assert_eq!(r.kept, 5);
        assert_eq!(r.sign_conflicts, 1);
        assert_eq!(r.keep_threshold, vec![0.5, 0.5]);
        // Trimmed mass: τ1 drops 0.25, τ2 drops 0.25 + 0.25 of a total 2.25 + 1.5.
        assert!((r.trimmed_l1 - 0.75).abs() < 1e-15 && (r.total_l1 - 3.75).abs() < 1e-15);
    }

    #[test]
    fn ties_election_averages_the_agreeing_tasks_and_scales_by_lambda() {
        let base = [0.0f32; 2];
        let t1 = vec![1.0f32, -4.0];
        let t2 = vec![3.0f32, 1.0];
        let t3 = vec![-1.0f32, 2.0];
        let (merged, _, r) = run(&base, &[t1, t2, t3], Method::Ties { density: 1.0, lambda: 0.5 }, 7);
        // element 0: sum 3 > 0 → mean(1, 3) = 2 → ×0.5; element 1: sum −1 < 0 → −4 → ×0.5.
        assert_eq!(merged, vec![1.0, -2.0]);
        assert_eq!(r.sign_conflicts, 2);
        // k = round(0.0 · n) = 0 keeps nothing.
        let (merged, masks, r) = run(&base, &[vec![1.0f32, 2.0]], Method::Ties { density: 0.2, lambda: 1.0 }, 2);
        assert_eq!((merged, masks[0].clone(), r.task_counts), (vec![0.0, 0.0], vec![0, 0], vec![2, 0]));
    }

    /// TIES and breadcrumbs masks by sorting, as a reference.
    fn kth_largest(values: &[f64], k: usize) -> f64 {
        let mut sorted: Vec<f64> = values.iter().map(|v| v.abs()).collect();
        sorted.sort_by(|a, b| b.partial_cmp(a).unwrap());
        sorted[k - 1]
    }

    fn big_case(n: usize, tasks: usize) -> (Vec<f32>, Vec<Vec<f32>>) {
        let base: Vec<f32> = (0..n).map(|i| crate::hash::gaussian(1, i as u64) as f32).collect();
        let tuned = (0..tasks)
            .map(|t| {
                base.iter()
                    .enumerate()
                    // Plenty of exact zeros and repeated magnitudes, so ties at the threshold are exercised.
                    .map(|(i, &b)| if i % 5 == t { b } else { b + ((crate::hash::gaussian(10 + t as u64, i as u64) * 8.0).round() / 64.0) as f32 })
                    .collect()
            })
            .collect();
        (base, tuned)
    }

    #[test]
    fn selection_over_many_passes_finds_the_exact_threshold() {
        // More elements than the collect limit forces histogram passes.
        let n = 200_003;
        let (base, tuned) = big_case(n, 2);
        let (_, masks, r) = run(&base, &tuned, Method::Ties { density: 0.3, lambda: 1.0 }, 65_536);
        let k = (0.3 * n as f64 + 0.5).floor() as usize;
        for t in 0..2 {
            let tau: Vec<f64> = base.iter().zip(&tuned[t]).map(|(&b, &x)| x as f64 - b as f64).collect();
            let threshold = kth_largest(&tau, k);
            assert_eq!(r.keep_threshold[t], threshold);
            let want: Vec<u8> = tau.iter().map(|v| (v.abs() >= threshold) as u8).collect();
            assert_eq!(masks[t], want);
        }
    }

    #[test]
    fn radix_selection_with_a_small_collect_limit_narrows_over_histogram_passes() {
        // Keys with many repeats (zeros, one popular value) and a spread tail; every rank checked against sorting.
        let keys: Vec<u64> = (0..50_000u64)
            .map(|i| match i % 7 {
                0 | 1 => 0,
                2 => 0.5f64.to_bits(),
                _ => (crate::hash::gaussian(3, i).abs() * 1e-3).to_bits(),
            })
            .collect();
        let mut sorted = keys.clone();
        sorted.sort_unstable_by(|a, b| b.cmp(a));
        for rank in [1u64, 2, 7_000, 7_200, 30_000, 40_000, 50_000] {
            let mut selection = Selection::new(rank, keys.len() as u64, 100);
            let mut passes = 0;
            loop {
                passes += 1;
                selection.observe(&keys);
                if selection.end_pass(100) {
                    break;
                }
                assert!(passes < 8);
            }
            assert_eq!(selection.key(), Some(sorted[(rank - 1) as usize]), "rank {} after {} passes", rank, passes);
        }
    }

    #[test]
    fn counts_round_halves_to_even() {
        assert_eq!([rounded_count(0.5, 5), rounded_count(0.5, 7), rounded_count(0.5, 9), rounded_count(0.3, 10)], [2, 4, 4, 3]);
        assert_eq!([rounded_count(0.26, 10), rounded_count(0.24, 10), rounded_count(1.0, 3), rounded_count(0.0, 3)], [3, 2, 3, 0]);
    }

    #[test]
    fn breadcrumbs_drops_the_top_and_bottom_fractions() {
        let n = 70_001;
        let (base, tuned) = big_case(n, 1);
        let (_, masks, r) = run(&base, &tuned, Method::Breadcrumbs { beta: 0.05, gamma: 0.4, lambda: 1.0 }, 10_000);
        let tau: Vec<f64> = base.iter().zip(&tuned[0]).map(|(&b, &x)| x as f64 - b as f64).collect();
        let top = kth_largest(&tau, (0.05 * n as f64 + 0.5).floor() as usize);
        let low = kth_largest(&tau, n - (0.4 * n as f64 + 0.5).floor() as usize);
        let want: Vec<u8> = tau.iter().map(|v| (v.abs() >= low && v.abs() < top) as u8).collect();
        assert_eq!(masks[0], want);
        assert_eq!((r.keep_threshold[0], r.drop_threshold[0]), (low, top));
    }

    #[test]
    fn results_do_not_depend_on_the_chunking() {
        let (base, tuned) = big_case(9_001, 3);
        for method in [
            Method::TaskArithmetic { lambda: 0.5 },
            Method::Ties { density: 0.2, lambda: 1.0 },
            Method::Dare { drop: 0.7, seed: 5, name_hash: 99, lambda: 1.0 },
            Method::Breadcrumbs { beta: 0.1, gamma: 0.2, lambda: 1.0 },
            Method::Tall { lambda: 0.4 },
            Method::Consensus { lambda: 0.4, k: 2 },
        ] {
            // Compared as text: NaN thresholds ("none") must match too.
            let whole = format!("{:?}", run(&base, &tuned, method, 9_001));
            for chunk in [1, 1000, 4097] {
                assert_eq!(format!("{:?}", run(&base, &tuned, method, chunk)), whole, "{:?}, chunks of {}", method, chunk);
            }
        }
    }

    /// The merged bytes, the mask planes (one per task, then consensus's) and the result of a merge of raw
    /// inputs, pushed `chunk` elements at a time, by the fused pass or the general path.
    fn run_raw(dtype: DType, inputs: &[Vec<u8>], method: Method, chunk: usize, general: bool) -> (Vec<u8>, Vec<Vec<u8>>, MergeResult) {
        let size = dtype.group_bytes();
        let n = inputs[0].len() / size;
        let mut job = MergeJob::new(&vec![dtype; inputs.len()], n as u64, method, Outputs { merged: true, masks: true }).unwrap();
        job.general_path = general;
        let (mut merged, mut masks) = (Vec::new(), vec![Vec::new(); inputs.len() - 1 + matches!(method, Method::Consensus { .. }) as usize]);
        loop {
            for start in (0..n).step_by(chunk) {
                let end = (start + chunk).min(n);
                let slices: Vec<&[u8]> = inputs.iter().map(|b| &b[start * size..end * size]).collect();
                job.push(&slices).unwrap();
                let (values, planes) = job.output().split_at(job.output().len().min((end - start) * size));
                merged.extend_from_slice(values);
                for (mask, plane) in masks.iter_mut().zip(planes.chunks(end - start)) {
                    mask.extend_from_slice(plane);
                }
            }
            if !job.end_pass().unwrap() {
                break;
            }
        }
        (merged, masks, job.result().unwrap())
    }

    /// Fine-tunes of a base in `dtype`, with NaN, ±Inf, ±0, subnormals and unchanged elements.
    fn special_case(dtype: DType, n: usize, tasks: usize) -> Vec<Vec<u8>> {
        let specials = [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 0.0, -0.0, 1e-40, -3e-42, 6e-8, -1e-7, 7e4];
        let value = |key: u64, i: usize| {
            let draw = crate::hash::mix64(key * 1_000_003 + i as u64);
            if draw % 97 < specials.len() as u64 {
                specials[(draw % 97) as usize]
            } else {
                crate::hash::gaussian(key, i as u64) * 0.02
            }
        };
        let base: Vec<f64> = (0..n).map(|i| value(1, i)).collect();
        (0..=tasks)
            .map(|t| {
                let values: Vec<f64> = if t == 0 {
                    base.clone()
                } else {
                    base.iter().enumerate().map(|(i, &b)| if i % 4 == t % 4 { b } else { b + value(10 + t as u64, i) * 0.1 }).collect()
                };
                let mut bytes = vec![0u8; crate::encode::encoded_len(dtype, n)];
                crate::encode::encode_f64(dtype, &values, &mut bytes);
                bytes
            })
            .collect()
    }

    #[test]
    fn the_fused_pass_matches_the_general_path_bit_for_bit_whatever_the_chunking() {
        let methods = [
            Method::TaskArithmetic { lambda: 0.7 },
            Method::Ties { density: 0.3, lambda: 1.3 },
            Method::Dare { drop: 0.6, seed: 9, name_hash: 77, lambda: 0.9 },
            Method::Breadcrumbs { beta: 0.05, gamma: 0.3, lambda: 1.1 },
            Method::Tall { lambda: 0.4 },
            Method::Consensus { lambda: 0.5, k: 2 },
        ];
        for dtype in [DType::BF16, DType::F16] {
            for tasks in 1..=MAX_FUSED_TASKS {
                let inputs = special_case(dtype, 10_007, tasks);
                for method in methods {
                    let whole = run_raw(dtype, &inputs, method, 10_007, false);
                    for chunk in [10_007, 4_096, 333, 1] {
                        let (fused, general) = (run_raw(dtype, &inputs, method, chunk, false), run_raw(dtype, &inputs, method, chunk, true));
                        let case = format!("{:?} {} tasks {:?}, chunks of {}", dtype, tasks, method, chunk);
                        // As text: NaN thresholds ("none") compare equal.
                        assert_eq!(format!("{:?}", fused.2), format!("{:?}", general.2), "{}", case);
                        assert!(fused.0 == general.0 && fused.1 == general.1, "{}: merged values or masks differ", case);
                        // Whatever the chunking: the same merged values, masks and counts (L1 masses are summed per
                        // block, so they may round differently).
                        assert!(fused.0 == whole.0 && fused.1 == whole.1, "{}: not as pushed whole", case);
                        let counts = |r: &MergeResult| (r.kept, r.sign_conflicts, r.task_counts.clone(), r.cut_keys.clone());
                        assert_eq!(counts(&fused.2), counts(&whole.2), "{}", case);
                    }
                }
            }
        }
    }

    #[test]
    fn dare_masks_are_deterministic_seeded_and_rescaled() {
        let n = 20_000;
        let base = vec![0.0f32; n];
        let task = vec![vec![1.0f32; n]];
        let method = |seed| Method::Dare { drop: 0.75, seed, name_hash: 7, lambda: 1.0 };
        let (merged, masks, r) = run(&base, &task, method(1), 3000);
        let kept = r.kept as f64 / n as f64;
        assert!((kept - 0.25).abs() < 0.02, "{}", kept);
        assert!(merged.iter().zip(&masks[0]).all(|(&v, &m)| v == if m == 1 { 4.0 } else { 0.0 }));
        assert_eq!(run(&base, &task, method(1), 777).1, masks);
        assert_ne!(run(&base, &task, method(2), 3000).1, masks);
        // The mask of element i is uniform(stream key, i) ≥ p, stream key = mix64(mix64(seed ^ name) + t).
        let key = mix64(mix64(1 ^ 7));
        assert!((0..n).all(|i| masks[0][i] == (uniform(key, i as u64) >= 0.75) as u8));
    }

    #[test]
    fn tall_and_consensus_masks() {
        let base = [0.0f32; 3];
        // τ_MTL = [3, 0.5, 0]; λ = 0.5: task keeps |τ_t| ≥ 0.5·|τ_MTL − τ_t|.
        let t1 = vec![2.0f32, 1.0, 0.0];
        let t2 = vec![1.0f32, -0.5, 0.0];
        let (merged, masks, r) = run(&base, &[t1.clone(), t2.clone()], Method::Tall { lambda: 0.5 }, 3);
        // t1: 2 ≥ 0.5·1 ✓, 1 ≥ 0.5·0.5 ✓, 0 ≥ 0 ✓; t2: 1 ≥ 0.5·2 ✓, 0.5 ≥ 0.5·1 ✓, 0 ≥ 0 ✓.
        assert_eq!((masks[0].clone(), masks[1].clone()), (vec![1, 1, 1], vec![1, 1, 1]));
        assert_eq!(merged, vec![3.0, 0.5, 0.0]);
        assert_eq!(r.sign_conflicts, 1);
        let (merged, masks, r) = run(&base, &[t1, t2], Method::Consensus { lambda: 2.0, k: 2 }, 2);
        // λ = 2: t1 keeps 2 ≥ 2 ✓, 1 ≥ 1 ✓, 0 ≥ 0 ✓; t2 keeps 1 ≥ 4 ✗, 0.5 ≥ 3 ✗, 0 ≥ 0 ✓.
        assert_eq!((masks[0].clone(), masks[1].clone(), masks[2].clone()), (vec![1, 1, 1], vec![0, 0, 1], vec![0, 0, 1]));
        assert_eq!(merged, vec![0.0, 0.0, 0.0]);
        assert_eq!(r.task_counts, vec![0, 2, 1]);
    }

    #[test]
    fn task_arithmetic_keeps_frozen_values_bit_exact() {
        let base = [-0.0f32, 1.0, 2.0];
        let (merged, masks, r) = run(&base, &[vec![-0.0f32, 1.0, 2.5], vec![-0.0f32, 1.5, 2.0]], Method::TaskArithmetic { lambda: 2.0 }, 3);
        assert_eq!(merged[0].to_bits(), (-0.0f32).to_bits());
        assert_eq!(&merged[1..], &[2.0, 3.0]);
        assert_eq!((masks[0].clone(), masks[1].clone()), (vec![0, 0, 1], vec![0, 1, 0]));
        assert_eq!(r.task_counts, vec![1, 2, 0]);
    }

    #[test]
    fn counters_with_the_merged_cuts_reproduce_the_masks_from_any_start() {
        let (base, tuned) = big_case(9_001, 3);
        for method in [Method::Ties { density: 0.2, lambda: 1.0 }, Method::Dare { drop: 0.5, seed: 3, name_hash: 9, lambda: 1.0 }, Method::Tall { lambda: 0.4 }] {
            let (_, masks, r) = run(&base, &tuned, method, 4_000);
            let first = 1_234usize;
            let mut counter = MergeJob::counter(&[DType::F32; 4], method, first as u64).unwrap();
            for (t, &(keep, drop)) in r.cut_keys.iter().enumerate() {
                counter.set_cuts(t, keep, drop).unwrap();
            }
            let inputs: Vec<Vec<u8>> = std::iter::once(&base[first..]).chain(tuned.iter().map(|t| &t[first..])).map(|v| f32_bytes(v)).collect();
            let slices: Vec<&[u8]> = inputs.iter().map(|v| &v[..]).collect();
            let counts = counter.count_kept(&slices).unwrap();
            for (i, c) in counts.iter().enumerate() {
                let want: u8 = (0..3).map(|t| masks[t][first + i]).sum();
                assert_eq!(*c, want as f64, "{:?} element {}", method, first + i);
            }
        }
    }

    #[test]
    fn refuses_bad_parameters_and_input() {
        let dtypes = [DType::F32, DType::F32];
        let outputs = Outputs::default();
        assert!(MergeJob::new(&[DType::F32], 4, Method::TaskArithmetic { lambda: 1.0 }, outputs).is_err());
        assert!(MergeJob::new(&dtypes, 4, Method::Dare { drop: 1.0, seed: 0, name_hash: 0, lambda: 1.0 }, outputs).is_err());
        assert!(MergeJob::new(&dtypes, 4, Method::Breadcrumbs { beta: 0.6, gamma: 0.6, lambda: 1.0 }, outputs).is_err());
        let mut job = MergeJob::new(&dtypes, 2, Method::TaskArithmetic { lambda: 1.0 }, outputs).unwrap();
        assert_eq!(job.push(&[&[0; 8], &[0; 4]]), Err(MergeError::BadInput));
        assert_eq!(job.push(&[&[0; 12], &[0; 12]]), Err(MergeError::BadInput));
        job.push(&[&[0; 4], &[0; 4]]).unwrap();
        assert_eq!(job.end_pass(), Err(MergeError::WrongPhase));
    }
}
