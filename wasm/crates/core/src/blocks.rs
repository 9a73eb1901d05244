//! Block diagnostics of a GGUF block-quantized tensor, streamed block by block: the distributions of the block
//! scales `d`, of `dmin` (or Q4_1/Q5_1's `m`) and of the sub-block steps d·sc; blocks whose scale sits at the edge
//! of its number format (zero, subnormal, Inf/NaN); blocks whose codes reach the edge of the code range; and a
//! max-pooled grid of |d| over (rows × block columns) showing where the large scales sit.
use crate::dtype::DType;
use crate::quant::{self, Block, BlockScale, Format};
use crate::stats::{StatsJob, StatsResult};

/// Why a block scan refused its parameters or input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockScanError {
    /// The dtype is not block-quantized, or the shape or grid size is not usable.
    Params,
    /// Input that is not whole blocks, or more blocks than the tensor has.
    Input,
    /// Input after the results were final.
    WrongPhase,
}

/// Counts of blocks whose scale `d` sits at the edge of its number format.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ScaleEdges {
    /// d is ±0: every value of the block is its min (usually all zeros).
    pub zero: u64,
    /// d is a subnormal f16/f32: the scale itself has lost precision.
    pub subnormal: u64,
    /// d is Inf or NaN (for E8M0, the NaN byte 0xFF): the block decodes to non-finite values.
    pub non_finite: u64,
}

/// Where the blocks are, as a grid of cells each covering `rows_per_cell` rows × `cols_per_cell` blocks of a row.
#[derive(Clone, Debug, PartialEq)]
pub struct ScaleGrid {
    /// Cells down.
    pub rows: usize,
    /// Cells across.
    pub cols: usize,
    /// Tensor rows per cell.
    pub rows_per_cell: u64,
    /// Blocks of a row per cell.
    pub cols_per_cell: u64,
    /// Row-major cells: the largest |d| of the blocks in the cell (NaN for a cell with no finite scale); for types
    /// without a block scale (NVFP4), the largest |sub-block step|.
    pub cells: Vec<f64>,
}

/// Everything a block scan found.
#[derive(Clone, Debug)]
pub struct BlockReport {
    /// Blocks scanned.
    pub blocks: u64,
    /// Scale statistics of d (None when the type has no block scale).
    pub d: Option<StatsResult>,
    /// Statistics of dmin / m (None when the type has none).
    pub dmin: Option<StatsResult>,
    /// Statistics of the sub-block steps (None for types with one scale per block).
    pub sub_scales: Option<StatsResult>,
    /// Blocks whose scale is at the edge of its format.
    pub edges: ScaleEdges,
    /// Blocks with at least one code at the lowest or highest code of the type (None: codebook or ternary types).
    pub saturated_blocks: Option<u64>,
    /// Elements whose code is the lowest or highest code of the type.
    pub edge_elements: Option<u64>,
    /// Where the large scales sit.
    pub grid: ScaleGrid,
}

/// Streaming block diagnostics of one tensor: `rows` rows of `row_blocks` blocks each, pushed in storage order.
pub struct BlockScanJob {
    format: &'static Format,
    rows: u64,
    row_blocks: u64,
    total_blocks: u64,
    next_block: u64,
    first_pass: bool,
    d: Option<StatsJob>,
    dmin: Option<StatsJob>,
    sub_scales: Option<StatsJob>,
    edges: ScaleEdges,
    saturated_blocks: u64,
    edge_elements: u64,
    grid: ScaleGrid,
    block: Block,
    done: bool,
}

/// The element type a block scale is stored in.
fn scale_dtype(scale: BlockScale) -> Option<DType> {
    match scale {
        BlockScale::F16 => Some(DType::F16),
        BlockScale::F32 => Some(DType::F32),
        BlockScale::E8M0 => Some(DType::F8E8M0),
        BlockScale::None => None,
    }
}

/// Most cells along either side of the grid.
pub const MAX_GRID_SIDE: usize = 1024;

impl BlockScanJob {
    /// A scan of a `dtype` tensor of `rows` rows, each `row_blocks` blocks long, with a grid of at most
    /// `max_grid_rows` × `max_grid_cols` cells.
    pub fn new(dtype: DType, rows: u64, row_blocks: u64, max_grid_rows: usize, max_grid_cols: usize) -> Result<BlockScanJob, BlockScanError> {
        let format = quant::format(dtype).ok_or(BlockScanError::Params)?;
        let sides_ok = (1..=MAX_GRID_SIDE).contains(&max_grid_rows) && (1..=MAX_GRID_SIDE).contains(&max_grid_cols);
        let total_blocks = rows.checked_mul(row_blocks).ok_or(BlockScanError::Params)?;
        if !sides_ok || total_blocks >= 1 << 53 {
            return Err(BlockScanError::Params);
        }
        let (grid_rows, rows_per_cell) = cells_along(rows, max_grid_rows);
        let (grid_cols, cols_per_cell) = cells_along(row_blocks, max_grid_cols);
        Ok(BlockScanJob {
            format,
            rows,
            row_blocks,
            total_blocks,
            next_block: 0,
            first_pass: true,
            d: scale_dtype(format.scale).map(StatsJob::new),
            dmin: if format.has_min { Some(StatsJob::new(DType::F16)) } else { None },
            sub_scales: if format.subblocks > 1 { Some(StatsJob::new(DType::F32)) } else { None },
            edges: ScaleEdges::default(),
            saturated_blocks: 0,
            edge_elements: 0,
            grid: ScaleGrid { rows: grid_rows, cols: grid_cols, rows_per_cell, cols_per_cell, cells: vec![f64::NAN; grid_rows * grid_cols] },
            block: Block::new(),
            done: false,
        })
    }

    /// Feeds the next whole blocks, in storage order. Later passes (asked for by `end_pass`) must repeat the bytes.
    pub fn push(&mut self, bytes: &[u8]) -> Result<(), BlockScanError> {
        if self.done {
            return Err(BlockScanError::WrongPhase);
        }
        let format = self.format;
        let count = (bytes.len() / format.bytes) as u64;
        if bytes.len() % format.bytes != 0 || self.next_block + count > self.total_blocks {
            return Err(BlockScanError::Input);
        }
        let mut d_bytes = Vec::with_capacity(bytes.len() / format.bytes * 4);
        let mut min_bytes = Vec::new();
        let mut sub_bytes = Vec::new();
        for src in bytes.chunks_exact(format.bytes) {
            format.unpack(src, &mut self.block);
            let block = &self.block;
            match format.scale {
                BlockScale::F32 => d_bytes.extend_from_slice(&block.d_bits.to_le_bytes()),
                BlockScale::F16 => d_bytes.extend_from_slice(&(block.d_bits as u16).to_le_bytes()),
                BlockScale::E8M0 => d_bytes.push(block.d_bits as u8),
                BlockScale::None => {}
            }
            if format.has_min {
                min_bytes.extend_from_slice(&block.min_bits.to_le_bytes());
            }
            if format.subblocks > 1 {
                for s in &block.scales[..format.subblocks] {
                    sub_bytes.extend_from_slice(&s.to_le_bytes());
                }
            }
            if self.first_pass {
                self.count_block();
            }
            self.next_block += 1;
        }
        for (job, bytes) in [(&mut self.d, &d_bytes), (&mut self.dmin, &min_bytes), (&mut self.sub_scales, &sub_bytes)] {
            if let Some(job) = job {
                if job.result().is_none() {
                    job.push(bytes).map_err(|_| BlockScanError::Input)?;
                }
            }
        }
        Ok(())
    }

    /// Edges, saturation and the grid cell of the block just unpacked (first pass only).
    fn count_block(&mut self) {
        let (format, block) = (self.format, &self.block);
        let d = block.d(format);
        match format.scale {
            BlockScale::F16 => classify(&mut self.edges, (block.d_bits >> 10) & 31, block.d_bits & 0x3ff, 31),
            BlockScale::F32 => classify(&mut self.edges, (block.d_bits >> 23) & 255, block.d_bits & 0x7f_ffff, 255),
            BlockScale::E8M0 => self.edges.non_finite += u64::from(d.is_nan()),
            BlockScale::None => {}
        }
        if let Some((low, high)) = format.code_edges {
            let at_edge = block.codes[..format.elements].iter().filter(|&&q| q <= low || q >= high).count() as u64;
            self.edge_elements += at_edge;
            self.saturated_blocks += u64::from(at_edge > 0);
        }
        let magnitude = if format.scale == BlockScale::None {
            block.scales[..format.subblocks].iter().fold(f64::NAN, |m, s| max_finite(m, (*s as f64).abs()))
        } else {
            d.abs()
        };
        let (row, col) = (self.next_block / self.row_blocks, self.next_block % self.row_blocks);
        let cell = (row / self.grid.rows_per_cell) as usize * self.grid.cols + (col / self.grid.cols_per_cell) as usize;
        self.grid.cells[cell] = max_finite(self.grid.cells[cell], magnitude);
    }

    /// Ends a pass: true when the same bytes must be streamed again (exact quantiles of the f32 sub-block steps).
    pub fn end_pass(&mut self) -> Result<bool, BlockScanError> {
        if self.done {
            return Ok(false);
        }
        if self.next_block != self.total_blocks {
            return Err(BlockScanError::Input);
        }
        let mut again = false;
        for job in [&mut self.d, &mut self.dmin, &mut self.sub_scales].into_iter().flatten() {
            again |= job.end_pass();
        }
        self.first_pass = false;
        self.next_block = 0;
        self.done = !again;
        Ok(again)
    }

    /// The results, once `end_pass` returned false.
    pub fn report(&self) -> Option<BlockReport> {
        if !self.done {
            return None;
        }
        let result = |job: &Option<StatsJob>| job.as_ref().and_then(|j| j.result().cloned());
        let saturation = self.format.code_edges.is_some();
        Some(BlockReport {
            blocks: self.total_blocks,
            d: result(&self.d),
            dmin: result(&self.dmin),
            sub_scales: result(&self.sub_scales),
            edges: self.edges,
            saturated_blocks: if saturation { Some(self.saturated_blocks) } else { None },
            edge_elements: if saturation { Some(self.edge_elements) } else { None },
            grid: self.grid.clone(),
        })
    }

    /// The block layout of the dtype scanned.
    pub fn format(&self) -> &'static Format {
        self.format
    }

    /// Rows of the tensor (elements / blocks per row / block size).
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Blocks per row.
    pub fn row_blocks(&self) -> u64 {
        self.row_blocks
    }
}

/// Zero, subnormal or non-finite from a float's exponent and mantissa fields.
fn classify(edges: &mut ScaleEdges, exponent: u32, mantissa: u32, all_ones: u32) {
    if exponent == all_ones {
        edges.non_finite += 1;
    } else if exponent == 0 {
        if mantissa == 0 {
            edges.zero += 1;
        } else {
            edges.subnormal += 1;
        }
    }
}

/// The larger of two magnitudes, ignoring NaN (a cell of only non-finite scales stays NaN; Inf counts as large).
fn max_finite(current: f64, candidate: f64) -> f64 {
    if candidate.is_nan() || candidate <= current {
        current
    } else {
        candidate
    }
}

/// Cells along one side for `items` items and at most `max_cells` cells: (cells, items per cell).
fn cells_along(items: u64, max_cells: usize) -> (usize, u64) {
    if items == 0 {
        return (1, 1);
    }
    let per_cell = (items + max_cells as u64 - 1) / max_cells as u64;
    (((items + per_cell - 1) / per_cell) as usize, per_cell)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Q8_0 blocks with chosen d bits and codes.
    fn q8_block(d_bits: u16, codes: &[i8; 32]) -> Vec<u8> {
        let mut b = d_bits.to_le_bytes().to_vec();
        b.extend(codes.iter().map(|&c| c as u8));
        b
    }

    fn run(job: &mut BlockScanJob, bytes: &[u8], chunk_blocks: usize) -> BlockReport {
        let step = chunk_blocks * job.format().bytes;
        loop {
            for chunk in bytes.chunks(step) {
                job.push(chunk).unwrap();
            }
            if !job.end_pass().unwrap() {
                return job.report().unwrap();
            }
        }
    }

    #[test]
    fn counts_edges_saturation_and_pools_the_grid() {
        // 2 rows × 3 blocks: d = 1, 2, 0 / subnormal, Inf, 0.5; one code at 127 in block 0, −128 in block 4.
        let mut codes = [1i8; 32];
        let mut bytes = Vec::new();
        codes[5] = 127;
        bytes.extend(q8_block(0x3c00, &codes));
        codes[5] = 1;
        bytes.extend(q8_block(0x4000, &codes));
        bytes.extend(q8_block(0x0000, &codes));
        bytes.extend(q8_block(0x0001, &codes));
        codes[0] = -128;
        codes[1] = -127;
        bytes.extend(q8_block(0x7c00, &codes));
        codes[0] = 1;
        codes[1] = 1;
        bytes.extend(q8_block(0x3800, &codes));
        let mut job = BlockScanJob::new(DType::Q8_0, 2, 3, 1, 2).unwrap();
        let report = run(&mut job, &bytes, 4);
        assert_eq!(report.blocks, 6);
        assert_eq!(report.edges, ScaleEdges { zero: 1, subnormal: 1, non_finite: 1 });
        assert_eq!(report.saturated_blocks, Some(2));
        assert_eq!(report.edge_elements, Some(3));
        // One grid row covering both rows; two columns of 2 and 1 blocks: max |d| of {1, 2, 2^-24, Inf} and {0, 0.5}.
        assert_eq!((report.grid.rows, report.grid.cols, report.grid.rows_per_cell, report.grid.cols_per_cell), (1, 2, 2, 2));
        assert_eq!(report.grid.cells[0], f64::INFINITY);
        assert_eq!(report.grid.cells[1], 0.5);
        let d = report.d.unwrap();
        assert_eq!((d.count, d.min, d.max, d.nan, d.posinf), (5.0, 0.0, 2.0, 0.0, 1.0));
        assert!(report.dmin.is_none() && report.sub_scales.is_none());
    }

    #[test]
    fn chunking_does_not_change_the_report() {
        // Q4_K blocks from a simple generator: d, dmin, packed scales and codes all vary.
        let mut bytes = Vec::new();
        let mut state = 12345u32;
        for _ in 0..40 * 144 {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
            bytes.push((state >> 16) as u8 & 0x3b); // keeps f16 exponents away from Inf/NaN
        }
        let reports: Vec<String> = [1, 3, 7, 40]
            .iter()
            .map(|&chunk| {
                let mut job = BlockScanJob::new(DType::Q4_K, 5, 8, 2, 3).unwrap();
                format!("{:?}", run(&mut job, &bytes, chunk))
            })
            .collect();
        assert!(reports.iter().all(|r| r == &reports[0]));
        let mut job = BlockScanJob::new(DType::Q4_K, 5, 8, 2, 3).unwrap();
        let report = run(&mut job, &bytes, 40);
        let sub = report.sub_scales.as_ref().unwrap();
        assert_eq!(sub.count + sub.nan + sub.posinf + sub.neginf, 40.0 * 8.0);
        assert!(report.dmin.is_some());
        assert_eq!((report.grid.rows, report.grid.cols), (2, 3));
    }

    #[test]
    fn refuses_bad_parameters_and_input() {
        assert_eq!(BlockScanJob::new(DType::F32, 1, 1, 8, 8).err(), Some(BlockScanError::Params));
        assert_eq!(BlockScanJob::new(DType::Q4_0, 1, 1, 0, 8).err(), Some(BlockScanError::Params));
        let mut job = BlockScanJob::new(DType::Q4_0, 1, 1, 8, 8).unwrap();
        assert_eq!(job.push(&[0; 17]), Err(BlockScanError::Input));
        assert_eq!(job.push(&[0; 36]), Err(BlockScanError::Input)); // two blocks of a one-block tensor
        assert_eq!(job.end_pass(), Err(BlockScanError::Input)); // ended before the last block
        job.push(&[0; 18]).unwrap();
        assert_eq!(job.end_pass(), Ok(false));
        assert_eq!(job.push(&[0; 18]), Err(BlockScanError::WrongPhase));
    }
}
