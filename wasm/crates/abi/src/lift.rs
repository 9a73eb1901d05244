//! LIFT jobs: `ws_lift_new(dtype, base_dtype, rows, cols, rank, k, overlaps)`. Slot 0 streams the weights, slot 1 the
//! base (the same elements) when `base_dtype` is not 0, once per pass. Record: 0 principal weights, 1 of them in the
//! top share by |W|, 2 of them in the top share by |W − B| (NaN without overlaps, or without a base for slot 2), then
//! a saliency record (`saliency.rs`) with neither column absmax nor activations.
use crate::saliency::saliency_record;
use crate::tile::whole;
use crate::{register, Job, JobError};
use weightscope_core::lift::{LiftError, LiftJob};
use weightscope_core::DType;

impl Job for LiftJob {
    fn push(&mut self, inputs: &[&[u8]]) -> Result<(), JobError> {
        LiftJob::push(self, inputs[0], inputs[1]).map_err(lift_error)
    }

    fn end_pass(&mut self) -> Result<bool, JobError> {
        LiftJob::end_pass(self).map_err(lift_error)
    }

    fn record(&mut self) -> Result<Vec<f64>, JobError> {
        let r = self.result().ok_or_else(|| JobError::phase("results asked for before the last pass ended"))?;
        let count = |n: Option<u64>| n.map_or(f64::NAN, |n| n as f64);
        let o = r.overlaps;
        let mut out = vec![count(o.map(|o| o.principal)), count(o.map(|o| o.with_magnitude)), count(o.and_then(|o| o.with_delta))];
        out.extend(saliency_record(&r.saliency, self.cols()));
        Ok(out)
    }

    fn as_any(&mut self) -> &mut dyn std::any::Any {
        self
    }
}

fn lift_error(error: LiftError) -> JobError {
    match error {
        LiftError::Params(message) => JobError::params(message),
        LiftError::Input(message) => JobError::input(message),
        LiftError::Phase => JobError::phase("input after the results were final"),
    }
}

/// Starts LIFT of a `rows` × `cols` matrix of dtype `code` at rank `rank`, ranking the `k` best channels and weights;
/// `overlaps` 1 also counts the overlaps, against a base of dtype `base` (0: none). Returns the handle, or 0 with the
/// reason in `ws_error`.
#[no_mangle]
pub extern "C" fn ws_lift_new(code: u32, base: u32, rows: f64, cols: f64, rank: f64, k: f64, overlaps: u32) -> u32 {
    let job = (|| -> Result<Box<dyn Job>, JobError> {
        let dtype = |c: u32| DType::from_code(c).ok_or_else(|| JobError::params(format!("unknown dtype code {}", c)));
        let base = if base == 0 { None } else { Some(dtype(base)?) };
        let job = LiftJob::new(dtype(code)?, base, whole(rows, "rows")?, whole(cols, "cols")?, whole(rank, "rank")?, whole(k, "k")?, overlaps != 0).map_err(lift_error)?;
        Ok(Box::new(job))
    })();
    register(job)
}
