//! Low-rank jobs: `ws_lowrank_new(dtype_a, dtype_b, rows, cols, k, oversample, power_iterations, seed)`, the delta
//! D = b − a (dtype_a 0: D = b) streamed row-major, once per pass. Record: 0 k, 1 ‖D‖²_F, 2 stable rank,
//! 3 effective rank, then k singular values (largest first), then k cumulative energy fractions.
use crate::{register, Job, JobError};
use weightscope_core::lowrank::{LowRankError, LowRankJob};
use weightscope_core::DType;

impl Job for LowRankJob {
    fn push(&mut self, inputs: &[&[u8]]) -> Result<(), JobError> {
        LowRankJob::push(self, inputs[0], inputs[1]).map_err(low_rank_error)
    }

    fn end_pass(&mut self) -> Result<bool, JobError> {
        LowRankJob::end_pass(self).map_err(low_rank_error)
    }

    fn record(&mut self) -> Result<Vec<f64>, JobError> {
        let r = self.result().ok_or_else(|| JobError::phase("results asked for before the last pass ended"))?;
        let mut out = vec![r.singular_values.len() as f64, r.frobenius_squared, r.stable_rank, r.effective_rank];
        out.extend_from_slice(&r.singular_values);
        out.extend_from_slice(&r.energy);
        Ok(out)
    }

    fn as_any(&mut self) -> &mut dyn std::any::Any {
        self
    }
}

fn low_rank_error(error: LowRankError) -> JobError {
    match error {
        LowRankError::BadInput => JobError::input("the inputs are not the same number of whole elements"),
        LowRankError::WrongPhase => JobError::phase("a pass did not cover the matrix exactly once"),
        LowRankError::BadParams => JobError::params("empty matrix or no singular values asked for"),
    }
}

/// Starts a randomized SVD of a `rows` × `cols` delta; `a` 0 means there is no first operand.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub extern "C" fn ws_lowrank_new(a: u32, b: u32, rows: f64, cols: f64, k: u32, oversample: u32, power_iterations: u32, seed: f64) -> u32 {
    let a_dtype = if a == 0 { Some(None) } else { DType::from_code(a).map(Some) };
    register(match (a_dtype, DType::from_code(b)) {
        (Some(a), Some(b)) if crate::whole(rows) && crate::whole(cols) && crate::whole(seed) => {
            LowRankJob::new(a, b, rows as usize, cols as usize, k as usize, oversample as usize, power_iterations as usize, seed as u64)
                .map(|job| Box::new(job) as Box<dyn Job>)
                .map_err(low_rank_error)
        }
        _ => Err(JobError::params("unknown dtype code, or a size that is not a whole number")),
    })
}
