//! Outlier-channel jobs: `ws_channels_new(dtype, rows, cols, k)`. One input slot, one pass. Record (f64 slots,
//! ABI.md): count, mean_abs, std_abs, row_median, col_median, row_ratio, col_ratio, then the numbers of top rows,
//! top columns and top scalars, then 4 slots per top row and per top column (index, absmax, rms, kurtosis) and per
//! top scalar (row, col, value, z).
use crate::tile::whole;
use crate::{register, Job, JobError};
use weightscope_core::channels::{ChannelError, ChannelJob};
use weightscope_core::DType;

impl Job for ChannelJob {
    fn push(&mut self, inputs: &[&[u8]]) -> Result<(), JobError> {
        ChannelJob::push(self, inputs[0]).map_err(channel_error)
    }

    fn end_pass(&mut self) -> Result<bool, JobError> {
        ChannelJob::end_pass(self).map_err(channel_error)?;
        Ok(false)
    }

    fn record(&mut self) -> Result<Vec<f64>, JobError> {
        let r = self.result().ok_or_else(|| JobError::phase("results asked for before the pass ended"))?;
        let mut out = vec![r.count, r.mean_abs, r.std_abs, r.row_median, r.col_median, r.row_ratio, r.col_ratio];
        out.extend_from_slice(&[r.top_rows.len() as f64, r.top_cols.len() as f64, r.top_scalars.len() as f64]);
        for c in r.top_rows.iter().chain(&r.top_cols) {
            out.extend_from_slice(&[c.index as f64, c.absmax, c.rms, c.kurtosis]);
        }
        for s in &r.top_scalars {
            out.extend_from_slice(&[s.row as f64, s.col as f64, s.value, s.z]);
        }
        Ok(out)
    }

    fn as_any(&mut self) -> &mut dyn std::any::Any {
        self
    }
}

fn channel_error(error: ChannelError) -> JobError {
    match error {
        ChannelError::Params(message) => JobError::params(message),
        ChannelError::Input(message) => JobError::input(message),
        ChannelError::Phase => JobError::phase("input after the results were final"),
    }
}

/// Starts an outlier-channel job over a `rows × cols` matrix of dtype `code`, ranking the top `k`. Returns the
/// handle, or 0 with the reason in `ws_error` (a matrix wider than 2^20 columns or taller than 2^24 rows).
#[no_mangle]
pub extern "C" fn ws_channels_new(code: u32, rows: f64, cols: f64, k: f64) -> u32 {
    register((|| -> Result<Box<dyn Job>, JobError> {
        let dtype = DType::from_code(code).ok_or_else(|| JobError::params(format!("unknown dtype code {}", code)))?;
        let job = ChannelJob::new(dtype, whole(rows, "rows")?, whole(cols, "cols")?, whole(k, "k")?).map_err(channel_error)?;
        Ok(Box::new(job))
    })())
}
