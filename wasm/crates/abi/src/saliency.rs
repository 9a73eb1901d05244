//! Saliency jobs: `ws_saliency_new(dtype, rows, cols, method, alpha, k)`. Slot 0 streams the matrix; a push with
//! slot 1 non-empty first takes it as the activation vector (one little-endian f64 per column). Record (f64 slots,
//! ABI.md): a header of 5 — channels ranked C, weights ranked K, cols, has column absmax, has activations — then C ×
//! (column, score), K × (row, column, score), the `cols` channel scores, then the column absmaxes and the activation
//! vector when present.
use crate::tile::whole;
use crate::{f64_values, register, Job, JobError};
use weightscope_core::saliency::{Method, SaliencyError, SaliencyJob, SaliencyResult};
use weightscope_core::DType;

impl Job for SaliencyJob {
    fn push(&mut self, inputs: &[&[u8]]) -> Result<(), JobError> {
        if !inputs[1].is_empty() {
            self.set_activations(f64_values(inputs[1])?).map_err(saliency_error)?;
        }
        if inputs[0].is_empty() {
            return Ok(());
        }
        SaliencyJob::push(self, inputs[0]).map_err(saliency_error)
    }

    fn end_pass(&mut self) -> Result<bool, JobError> {
        SaliencyJob::end_pass(self).map_err(saliency_error)
    }

    fn record(&mut self) -> Result<Vec<f64>, JobError> {
        let r = self.result().ok_or_else(|| JobError::phase("results asked for before the last pass ended"))?;
        Ok(saliency_record(r, self.cols()))
    }

    fn as_any(&mut self) -> &mut dyn std::any::Any {
        self
    }
}

/// The saliency record of `r` for a matrix of `cols` columns (layout in the module comment).
pub fn saliency_record(r: &SaliencyResult, cols: usize) -> Vec<f64> {
    let cols = cols as u64;
    let mut out = vec![
        r.top_channels.len() as f64,
        r.top_weights.len() as f64,
        cols as f64,
        f64::from(u8::from(r.column_absmax.is_some())),
        f64::from(u8::from(r.activations.is_some())),
    ];
    for c in &r.top_channels {
        out.extend_from_slice(&[c.position as f64, c.score]);
    }
    for w in &r.top_weights {
        out.extend_from_slice(&[(w.position / cols) as f64, (w.position % cols) as f64, w.score]);
    }
    out.extend_from_slice(&r.channel_scores);
    for vector in [&r.column_absmax, &r.activations].into_iter().flatten() {
        out.extend_from_slice(vector);
    }
    out
}

fn saliency_error(error: SaliencyError) -> JobError {
    match error {
        SaliencyError::Params(message) => JobError::params(message),
        SaliencyError::Input(message) => JobError::input(message),
        SaliencyError::Phase => JobError::phase("input after the results were final"),
    }
}

/// Starts saliency of a `rows` × `cols` matrix of dtype `code` by `method` (1 magnitude, 2 wanda, 3 awq,
/// 4 smoothquant with `alpha` in [0, 1], 5 obs), ranking the `k` best channels and weights. Returns the handle, or 0
/// with the reason in `ws_error`.
#[no_mangle]
pub extern "C" fn ws_saliency_new(code: u32, rows: f64, cols: f64, method: u32, alpha: f64, k: f64) -> u32 {
    let job = (|| -> Result<Box<dyn Job>, JobError> {
        let dtype = DType::from_code(code).ok_or_else(|| JobError::params(format!("unknown dtype code {}", code)))?;
        let method = Method::from_code(method, alpha).ok_or_else(|| JobError::params(format!("unknown method {} or alpha {} outside [0, 1]", method, alpha)))?;
        let job = SaliencyJob::new(dtype, whole(rows, "rows")?, whole(cols, "cols")?, method, whole(k, "k")?).map_err(saliency_error)?;
        Ok(Box::new(job))
    })();
    register(job)
}

