//! Diff jobs: `ws_diff_new(dtype_a, dtype_b)`, two input slots (a, b) holding the same elements. Record (f64 slots,
//! ABI.md): 0 n, 1 l2_a, 2 l2_b, 3 l2_delta, 4 rel_delta, 5 cosine, 6 max_abs_delta, 7 changed, 8 both_nonzero,
//! 9 sign_flips, 10 identical, 11 a has a non-finite value (0/1), 12 b has one (0/1), 13 delta_zeros, 14 delta_nonfinite, 15 log2 of the
//! first bin's lower edge, 16 bins per octave, then DELTA_BINS positive and DELTA_BINS negative delta counts.
use crate::{register, Job, JobError};
use weightscope_core::diff::{DiffError, DiffJob, DELTA_BINS, DELTA_BINS_PER_OCTAVE, DELTA_LOG2_LO};
use weightscope_core::DType;

/// f64 slots of a diff record.
pub const RECORD_LEN: usize = 17 + 2 * DELTA_BINS;

impl Job for DiffJob {
    fn push(&mut self, inputs: &[&[u8]]) -> Result<(), JobError> {
        DiffJob::push(self, inputs[0], inputs[1]).map_err(|e| match e {
            DiffError::BadInput => JobError::input("the two inputs are not the same number of whole elements"),
            DiffError::WrongPhase => JobError::phase("input after the results were taken"),
        })
    }

    fn end_pass(&mut self) -> Result<bool, JobError> {
        Ok(false)
    }

    fn record(&mut self) -> Result<Vec<f64>, JobError> {
        let r = self.finish();
        let mut out = vec![
            r.n as f64,
            r.l2_a,
            r.l2_b,
            r.l2_delta,
            r.rel_delta,
            r.cosine,
            r.max_abs_delta,
            r.changed as f64,
            r.both_nonzero as f64,
            r.sign_flips as f64,
            r.identical as u8 as f64,
            r.nonfinite_a as u8 as f64,
            r.nonfinite_b as u8 as f64,
            r.delta_zeros as f64,
            r.delta_nonfinite as f64,
            DELTA_LOG2_LO as f64,
            DELTA_BINS_PER_OCTAVE as f64,
        ];
        out.extend(r.delta_positive.iter().map(|&c| c as f64));
        out.extend(r.delta_negative.iter().map(|&c| c as f64));
        debug_assert_eq!(out.len(), RECORD_LEN);
        Ok(out)
    }

    fn as_any(&mut self) -> &mut dyn std::any::Any {
        self
    }
}

/// Starts a comparison of a tensor of dtype code `a` with one of dtype code `b`; 0 when a code is unknown.
#[no_mangle]
pub extern "C" fn ws_diff_new(a: u32, b: u32) -> u32 {
    register(match (DType::from_code(a), DType::from_code(b)) {
        (Some(a), Some(b)) => Ok(Box::new(DiffJob::new(a, b))),
        _ => Err(JobError::params(format!("unknown dtype code {} or {}", a, b))),
    })
}

/// Stages the difference of two streams for a job that reads one (a heatmap tile of B − A): decodes input slot 1
/// (A, dtype `a`) and slot 2 (B, dtype `b`), the same elements, and writes b − a as little-endian F64 into slot 0.
/// 0 ok; −2 when the slots are not the same number of whole elements; −4 for an unknown dtype.
#[no_mangle]
pub extern "C" fn ws_stage_delta(a: u32, b: u32) -> i32 {
    let (a, b) = match (DType::from_code(a), DType::from_code(b)) {
        (Some(a), Some(b)) => (a, b),
        _ => return crate::fail(JobError::params(format!("unknown dtype code {} or {}", a, b))),
    };
    let delta = match crate::with_inputs(|inputs| weightscope_core::diff::delta_bytes(a, inputs[1], b, inputs[2])) {
        Some(bytes) => bytes,
        None => return crate::fail(JobError::input("the two inputs are not the same number of whole elements")),
    };
    crate::stage_input(0, |buffer| buffer.extend_from_slice(&delta)).map(|()| 0).unwrap_or_else(crate::fail)
}
