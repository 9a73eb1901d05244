//! Merge jobs: `ws_merge_new(method, tasks, dtypes0, dtypes1, dtypes2, elements, lambda, density, drop, beta, gamma,
//! k, seed, name_hash_hi, name_hash_lo, outputs)`. Slot 0 is the base, slot t + 1 task t. Dtype codes are packed
//! eight bits each, six per f64 (slot s in `dtypes[s / 6]` at bits 8·(s mod 6)). Methods: 1 task arithmetic, 2 TIES,
//! 3 DARE, 4 breadcrumbs, 5 TALL, 6 consensus. Outputs: bit 0 the merged elements, bit 1 the masks.
//!
//! Record: 0 n, 1 tasks N, 2 kept (Σ over tasks), 3 sign conflicts, 4 trimmed L1, 5 total L1, then N + 1 task
//! counts, N kept per task, N keep thresholds, N drop thresholds (NaN: none), then per task the cut keys as four
//! 32-bit halves: keep lowest (hi, lo), drop lowest (hi, lo).
//!
//! Mask counts (mask heatmaps): `ws_maskcount_new(method, tasks, dtypes0, dtypes1, dtypes2, first, lambda, density,
//! drop, beta, gamma, k, seed, name_hash_hi, name_hash_lo)`, `ws_maskcount_cut(h, task, keep_hi, keep_lo, drop_hi,
//! drop_lo)` with a merge record's cut keys, then `ws_maskcount_stage(h)`: the base in slot 1 and task t in slot t + 2
//! become, staged in slot 0 as little-endian F64, the number of tasks keeping each element.
use crate::{register, stage_input, with_inputs, with_job, Job, JobError};
use weightscope_core::merge::{MergeError, MergeJob, Method, Outputs};
use weightscope_core::DType;

impl Job for MergeJob {
    fn push(&mut self, inputs: &[&[u8]]) -> Result<(), JobError> {
        MergeJob::push(self, inputs).map_err(merge_error)
    }

    fn end_pass(&mut self) -> Result<bool, JobError> {
        MergeJob::end_pass(self).map_err(merge_error)
    }

    fn record(&mut self) -> Result<Vec<f64>, JobError> {
        let r = self.result().ok_or_else(|| JobError::phase("results asked for before the last pass ended"))?;
        let mut out = vec![r.n as f64, r.kept_per_task.len() as f64, r.kept as f64, r.sign_conflicts as f64, r.trimmed_l1, r.total_l1];
        out.extend(r.task_counts.iter().map(|&c| c as f64));
        out.extend(r.kept_per_task.iter().map(|&c| c as f64));
        out.extend_from_slice(&r.keep_threshold);
        out.extend_from_slice(&r.drop_threshold);
        let halves = |key: u64| [(key >> 32) as f64, (key & 0xffff_ffff) as f64];
        for &(keep, drop) in &r.cut_keys {
            out.extend_from_slice(&halves(keep));
            out.extend_from_slice(&halves(drop));
        }
        Ok(out)
    }

    fn output(&self) -> &[u8] {
        MergeJob::output(self)
    }

    fn as_any(&mut self) -> &mut dyn std::any::Any {
        self
    }
}

fn merge_error(error: MergeError) -> JobError {
    match error {
        MergeError::BadInput => JobError::input("the inputs are not the same number of whole elements, or too many"),
        MergeError::WrongPhase => JobError::phase("a pass did not cover the tensor exactly once"),
        MergeError::BadParams => JobError::params("no tasks, too many, or parameters out of range"),
    }
}

/// The dtypes (unpacked) and the method of a merge, from the constructor's parameters.
#[allow(clippy::too_many_arguments)]
fn merge_setup(
    method: u32,
    tasks: u32,
    packed: [f64; 3],
    lambda: f64,
    density: f64,
    drop: f64,
    beta: f64,
    gamma: f64,
    k: u32,
    seed: f64,
    name_hash_hi: u32,
    name_hash_lo: u32,
) -> Result<(Vec<DType>, Method), JobError> {
    let slots = tasks as usize + 1;
    let dtypes: Option<Vec<DType>> = if slots <= 18 && packed.iter().all(|&p| crate::whole(p)) {
        (0..slots).map(|s| DType::from_code(((packed[s / 6] as u64 >> (8 * (s % 6))) & 0xff) as u32)).collect()
    } else {
        None
    };
    let method = match method {
        1 => Some(Method::TaskArithmetic { lambda }),
        2 => Some(Method::Ties { density, lambda }),
        3 if crate::whole(seed) => Some(Method::Dare { drop, seed: seed as u64, name_hash: (name_hash_hi as u64) << 32 | name_hash_lo as u64, lambda }),
        4 => Some(Method::Breadcrumbs { beta, gamma, lambda }),
        5 => Some(Method::Tall { lambda }),
        6 => Some(Method::Consensus { lambda, k }),
        _ => None,
    };
    match (dtypes, method) {
        (Some(dtypes), Some(method)) => Ok((dtypes, method)),
        _ => Err(JobError::params("unknown method or dtype code")),
    }
}

/// Starts the merge of one tensor (see the module documentation for the parameters).
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub extern "C" fn ws_merge_new(
    method: u32,
    tasks: u32,
    dtypes0: f64,
    dtypes1: f64,
    dtypes2: f64,
    elements: f64,
    lambda: f64,
    density: f64,
    drop: f64,
    beta: f64,
    gamma: f64,
    k: u32,
    seed: f64,
    name_hash_hi: u32,
    name_hash_lo: u32,
    outputs: u32,
) -> u32 {
    let outputs = Outputs { merged: outputs & 1 != 0, masks: outputs & 2 != 0 };
    register(
        merge_setup(method, tasks, [dtypes0, dtypes1, dtypes2], lambda, density, drop, beta, gamma, k, seed, name_hash_hi, name_hash_lo).and_then(|(dtypes, method)| {
            if !crate::whole(elements) {
                return Err(JobError::params("the element count is not a whole number"));
            }
            MergeJob::new(&dtypes, elements as u64, method, outputs).map(|job| Box::new(job) as Box<dyn Job>).map_err(merge_error)
        }),
    )
}

/// A mask counter over a merge's elements from `first` (see the module documentation).
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub extern "C" fn ws_maskcount_new(
    method: u32,
    tasks: u32,
    dtypes0: f64,
    dtypes1: f64,
    dtypes2: f64,
    first: f64,
    lambda: f64,
    density: f64,
    drop: f64,
    beta: f64,
    gamma: f64,
    k: u32,
    seed: f64,
    name_hash_hi: u32,
    name_hash_lo: u32,
) -> u32 {
    register(
        merge_setup(method, tasks, [dtypes0, dtypes1, dtypes2], lambda, density, drop, beta, gamma, k, seed, name_hash_hi, name_hash_lo).and_then(|(dtypes, method)| {
            if !crate::whole(first) {
                return Err(JobError::params("the first element is not a whole number"));
            }
            MergeJob::counter(&dtypes, method, first as u64).map(|job| Box::new(job) as Box<dyn Job>).map_err(merge_error)
        }),
    )
}

fn merge_of(job: &mut dyn Job) -> Result<&mut MergeJob, JobError> {
    job.as_any().downcast_mut::<MergeJob>().ok_or_else(|| JobError::phase("not a merge job"))
}

/// Sets task `task`'s cuts from a merge record's cut keys. 0 ok; below 0 an error.
#[no_mangle]
pub extern "C" fn ws_maskcount_cut(handle: u32, task: u32, keep_hi: u32, keep_lo: u32, drop_hi: u32, drop_lo: u32) -> i32 {
    let key = |hi: u32, lo: u32| (hi as u64) << 32 | lo as u64;
    with_job(handle, |job| merge_of(job)?.set_cuts(task as usize, key(keep_hi, keep_lo), key(drop_hi, drop_lo)).map_err(merge_error))
        .map(|()| 0)
        .unwrap_or_else(|status| status)
}

/// Stages in slot 0 (F64) how many tasks keep each element of slots 1 (base), 2, 3, … (tasks). 0 ok; below 0 an
/// error.
#[no_mangle]
pub extern "C" fn ws_maskcount_stage(handle: u32) -> i32 {
    let counts = with_inputs(|inputs| with_job(handle, |job| merge_of(job)?.count_kept(&inputs[1..]).map_err(merge_error)));
    match counts {
        Ok(counts) => stage_input(0, |buffer| buffer.extend(counts.iter().flat_map(|c| c.to_le_bytes()))).map(|()| 0).unwrap_or_else(crate::fail),
        Err(status) => status,
    }
}
