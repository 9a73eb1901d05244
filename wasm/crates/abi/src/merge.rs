//! Merge jobs: `ws_merge_new(method, tasks, dtypes0, dtypes1, dtypes2, elements, lambda, density, drop, beta, gamma,
//! k, seed, name_hash_hi, name_hash_lo, outputs)`. Slot 0 is the base, slot t + 1 task t. Dtype codes are packed
//! eight bits each, six per f64 (slot s in `dtypes[s / 6]` at bits 8·(s mod 6)). Methods: 1 task arithmetic, 2 TIES,
//! 3 DARE, 4 breadcrumbs, 5 TALL, 6 consensus. Outputs: bit 0 the merged elements, bit 1 the masks.
//!
//! Record: 0 n, 1 tasks N, 2 kept (Σ over tasks), 3 sign conflicts, 4 trimmed L1, 5 total L1, then N + 1 task
//! counts, N kept per task, N keep thresholds, N drop thresholds (NaN: none).
use crate::{register, Job, JobError};
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
    let packed = [dtypes0, dtypes1, dtypes2];
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
    let outputs = Outputs { merged: outputs & 1 != 0, masks: outputs & 2 != 0 };
    register(match (dtypes, method) {
        (Some(dtypes), Some(method)) if crate::whole(elements) => {
            MergeJob::new(&dtypes, elements as u64, method, outputs).map(|job| Box::new(job) as Box<dyn Job>).map_err(merge_error)
        }
        _ => Err(JobError::params("unknown method or dtype code, or a count that is not a whole number")),
    })
}
