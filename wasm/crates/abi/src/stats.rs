//! Statistics jobs: `ws_stats_new(dtype)`, merged with `ws_stats_merge`. Record layout (f64 slots, ABI.md):
//! 0–12 count, mean, std, min, max, absmax, l2, zeros, nan, posinf, neginf, skewness, kurtosis; 13–21 quantiles;
//! then linear_lo, linear_hi, HIST_BINS linear bins, log_lo, log_hi, log_zeros, HIST_BINS log bins, 8 tail counts.
use crate::{register, with_job, Job, JobError};
use weightscope_core::stats::{StatsError, HIST_BINS};
use weightscope_core::{DType, StatsJob, StatsResult};

/// f64 slots of a statistics record.
pub const RECORD_LEN: usize = 22 + 2 + HIST_BINS + 3 + HIST_BINS + 8;

impl Job for StatsJob {
    fn push(&mut self, inputs: &[&[u8]]) -> Result<(), JobError> {
        StatsJob::push(self, inputs[0]).map_err(stats_error)
    }

    fn end_pass(&mut self) -> Result<bool, JobError> {
        Ok(StatsJob::end_pass(self))
    }

    fn record(&mut self) -> Result<Vec<f64>, JobError> {
        self.result().map(record).ok_or_else(|| JobError::phase("results asked for before the last pass ended"))
    }

    fn as_any(&mut self) -> &mut dyn std::any::Any {
        self
    }
}

fn stats_error(error: StatsError) -> JobError {
    match error {
        StatsError::PartialElement => JobError::input("input is not a whole number of elements"),
        StatsError::WrongPhase => JobError::phase("the job is in the wrong phase for this call"),
    }
}

/// Starts a statistics job for dtype `code` (ABI.md); returns its handle, or 0 when the dtype is unknown.
#[no_mangle]
pub extern "C" fn ws_stats_new(code: u32) -> u32 {
    register(match DType::from_code(code) {
        Some(dtype) => Ok(Box::new(StatsJob::new(dtype))),
        None => Err(JobError::params(format!("unknown dtype code {}", code))),
    })
}

/// Adds statistics job `from` into `into` (same dtype, first pass). 0 ok; −1 bad handle; −3 wrong phase or dtype.
#[no_mangle]
pub extern "C" fn ws_stats_merge(into: u32, from: u32) -> i32 {
    let other = match with_job(from, |job| stats_of(job).map(|s| s.clone())) {
        Ok(job) => job,
        Err(status) => return status,
    };
    with_job(into, |job| stats_of(job)?.merge(&other).map_err(stats_error)).map(|()| 0).unwrap_or_else(|s| s)
}

fn stats_of(job: &mut dyn Job) -> Result<&mut StatsJob, JobError> {
    job.as_any().downcast_mut::<StatsJob>().ok_or_else(|| JobError::phase("not a statistics job"))
}

/// The record layout above.
pub fn record(r: &StatsResult) -> Vec<f64> {
    let mut out = vec![
        r.count, r.mean, r.std, r.min, r.max, r.absmax, r.l2, r.zeros, r.nan, r.posinf, r.neginf, r.skewness, r.kurtosis,
    ];
    out.extend_from_slice(&r.quantiles);
    let d = &r.display;
    out.extend_from_slice(&[d.linear_lo, d.linear_hi]);
    out.extend_from_slice(&d.linear);
    out.extend_from_slice(&[d.log_lo, d.log_hi, d.log_zeros]);
    out.extend_from_slice(&d.log);
    out.extend_from_slice(&d.tails);
    debug_assert_eq!(out.len(), RECORD_LEN);
    out
}
