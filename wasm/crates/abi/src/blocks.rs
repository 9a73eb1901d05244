//! Block diagnostics jobs: `ws_blocks_new(dtype, rows, row_blocks, grid_rows, grid_cols)`. Record layout (f64 slots,
//! ABI.md): 0 blocks, 1 elements per block, 2 sub-blocks per block, 3 rows, 4 blocks per row, 5 block-scale kind
//! (0 none, 1 f16, 2 f32, 3 E8M0), 6 has dmin, 7–9 zero / subnormal / non-finite scales, 10 saturated blocks,
//! 11 elements at an edge code, 12–13 lowest and highest code (10–13 NaN for types without code edges), 14–15 grid
//! rows and columns, 16–17 rows and blocks per cell; then three statistics records (stats.rs layout) of d, dmin and
//! the sub-block steps (all NaN when absent), then the grid cells row by row.
use crate::stats::{record as stats_record, RECORD_LEN as STATS_LEN};
use crate::{register, Job, JobError};
use weightscope_core::blocks::{BlockScanError, BlockScanJob};
use weightscope_core::quant::BlockScale;
use weightscope_core::{DType, StatsResult};

/// Slots before the three statistics records.
pub const HEADER_LEN: usize = 18;

impl Job for BlockScanJob {
    fn push(&mut self, inputs: &[&[u8]]) -> Result<(), JobError> {
        BlockScanJob::push(self, inputs[0]).map_err(scan_error)
    }

    fn end_pass(&mut self) -> Result<bool, JobError> {
        BlockScanJob::end_pass(self).map_err(scan_error)
    }

    fn record(&mut self) -> Result<Vec<f64>, JobError> {
        let report = self.report().ok_or_else(|| JobError::phase("results asked for before the last pass ended"))?;
        let format = self.format();
        let count = |n: Option<u64>| n.map_or(f64::NAN, |n| n as f64);
        let (low, high) = format.code_edges.map_or((f64::NAN, f64::NAN), |(l, h)| (l as f64, h as f64));
        let scale_kind = match format.scale {
            BlockScale::None => 0.0,
            BlockScale::F16 => 1.0,
            BlockScale::F32 => 2.0,
            BlockScale::E8M0 => 3.0,
        };
        let grid = &report.grid;
        let mut out = vec![
            report.blocks as f64,
            format.elements as f64,
            format.subblocks as f64,
            self.rows() as f64,
            self.row_blocks() as f64,
            scale_kind,
            f64::from(u8::from(format.has_min)),
            report.edges.zero as f64,
            report.edges.subnormal as f64,
            report.edges.non_finite as f64,
            count(report.saturated_blocks),
            count(report.edge_elements),
            low,
            high,
            grid.rows as f64,
            grid.cols as f64,
            grid.rows_per_cell as f64,
            grid.cols_per_cell as f64,
        ];
        debug_assert_eq!(out.len(), HEADER_LEN);
        for stats in [&report.d, &report.dmin, &report.sub_scales] {
            out.extend(stats.as_ref().map_or_else(|| vec![f64::NAN; STATS_LEN], |s: &StatsResult| stats_record(s)));
        }
        out.extend_from_slice(&grid.cells);
        Ok(out)
    }

    fn as_any(&mut self) -> &mut dyn std::any::Any {
        self
    }
}

fn scan_error(error: BlockScanError) -> JobError {
    match error {
        BlockScanError::Params => JobError::params("not a block-quantized dtype, or an unusable shape or grid size"),
        BlockScanError::Input => JobError::input("input is not whole blocks of the tensor, or ends early"),
        BlockScanError::WrongPhase => JobError::phase("the job is in the wrong phase for this call"),
    }
}

/// Starts block diagnostics of a tensor of dtype `code` with `rows` rows of `row_blocks` blocks, pooled into a grid
/// of at most `grid_rows` × `grid_cols` cells (1–1024 each). Returns the handle, or 0 (reason in `ws_error`).
#[no_mangle]
pub extern "C" fn ws_blocks_new(code: u32, rows: f64, row_blocks: f64, grid_rows: u32, grid_cols: u32) -> u32 {
    let whole = |x: f64| x >= 0.0 && x < 9_007_199_254_740_992.0 && x.fract() == 0.0;
    register(match DType::from_code(code) {
        Some(dtype) if whole(rows) && whole(row_blocks) => {
            BlockScanJob::new(dtype, rows as u64, row_blocks as u64, grid_rows as usize, grid_cols as usize)
                .map(|job| Box::new(job) as Box<dyn Job>)
                .map_err(scan_error)
        }
        _ => Err(JobError::params(format!("unknown dtype code {} or a shape that is not whole numbers", code))),
    })
}
