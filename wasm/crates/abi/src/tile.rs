//! Heatmap tile jobs: `ws_tile_new(…)`. One input slot, one pass. Record (f64 slots, ABI.md): the `rows × W` cell
//! values (NaN = null), then per output row absmax, Σx², count, then per output column absmax, Σx², count.
use crate::{register, Job, JobError};
use weightscope_core::tile::{Reducer, TileError, TileJob, TileSpec};
use weightscope_core::DType;

impl Job for TileJob {
    fn push(&mut self, inputs: &[&[u8]]) -> Result<(), JobError> {
        TileJob::push(self, inputs[0]).map_err(tile_error)
    }

    fn end_pass(&mut self) -> Result<bool, JobError> {
        TileJob::end_pass(self).map_err(tile_error)?;
        Ok(false)
    }

    fn record(&mut self) -> Result<Vec<f64>, JobError> {
        let r = self.result().ok_or_else(|| JobError::phase("results asked for before the pass ended"))?;
        Ok([&r.values[..], &r.row_absmax, &r.row_squares, &r.row_count, &r.col_absmax, &r.col_squares, &r.col_count].concat())
    }

    fn as_any(&mut self) -> &mut dyn std::any::Any {
        self
    }
}

fn tile_error(error: TileError) -> JobError {
    match error {
        TileError::Params(message) => JobError::params(message),
        TileError::Input(message) => JobError::input(message),
        TileError::Phase => JobError::phase("input after the tile was final"),
    }
}

/// A whole number below 2^53 passed as f64.
pub(crate) fn whole(x: f64, what: &str) -> Result<u64, JobError> {
    if x >= 0.0 && x < 9_007_199_254_740_992.0 && x.fract() == 0.0 {
        Ok(x as u64)
    } else {
        Err(JobError::params(format!("{} must be a whole number, not {}", what, x)))
    }
}

/// Starts a tile job (ABI.md): matrix columns `cols`; source rows [row_begin, row_end) and columns
/// [col_begin, col_end); `out_rows × out_cols` cells of which rows [out_first, out_last) are computed; reducer 0 mean,
/// 1 absmax, 2 min, 3 max; each streamed row holds columns [seg_start, seg_start + seg_len); `skip` leading elements
/// are dropped. Returns the handle, or 0 with the reason in `ws_error`.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub extern "C" fn ws_tile_new(
    dtype: u32,
    cols: f64,
    row_begin: f64,
    row_end: f64,
    col_begin: f64,
    col_end: f64,
    out_rows: f64,
    out_cols: f64,
    out_first: f64,
    out_last: f64,
    reducer: u32,
    seg_start: f64,
    seg_len: f64,
    skip: f64,
) -> u32 {
    let job = (|| -> Result<Box<dyn Job>, JobError> {
        let dtype = DType::from_code(dtype).ok_or_else(|| JobError::params(format!("unknown dtype code {}", dtype)))?;
        let reducer = Reducer::from_code(reducer).ok_or_else(|| JobError::params(format!("unknown reducer {}", reducer)))?;
        let spec = TileSpec {
            cols: whole(cols, "cols")?,
            rows: (whole(row_begin, "row_begin")?, whole(row_end, "row_end")?),
            columns: (whole(col_begin, "col_begin")?, whole(col_end, "col_end")?),
            size: (whole(out_rows, "out_rows")?, whole(out_cols, "out_cols")?),
            out_rows: (whole(out_first, "out_first")?, whole(out_last, "out_last")?),
            reducer,
            segment: (whole(seg_start, "seg_start")?, whole(seg_len, "seg_len")?),
            skip: whole(skip, "skip")?,
        };
        Ok(Box::new(TileJob::new(dtype, spec).map_err(tile_error)?))
    })();
    register(job)
}
