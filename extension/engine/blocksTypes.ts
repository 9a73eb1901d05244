/** The block diagnostics of one GGUF quantized tensor (`weightscope blocks --json`, the editor's Blocks tab). */
import type { HistogramSummary, TensorStats } from './statsTypes';

/** Statistics of one kind of scale, with its histograms (the log10 |x| one shows the spread of scales best). */
export interface ScaleDistribution {
  stats: TensorStats;
  histogram: HistogramSummary;
}

export interface BlockAnalysis {
  /** Elements and bytes of one block, and how many sub-blocks (each with its own scale) it has. */
  blockElements: number;
  blockBytes: number;
  subBlocks: number;
  blocks: number;
  /** ggml rows (every dimension but the innermost, multiplied) and blocks along one row. */
  rows: number;
  blocksPerRow: number;
  scales: {
    /** The block scale d (f16; f32 for Q8_K; 2^(e−127) for MXFP4's E8M0); null for types without one (NVFP4). */
    d: ScaleDistribution | null;
    /** dmin of Q2_K/Q4_K/Q5_K, or the block minimum m of Q4_1/Q5_1; null for the other types. */
    dmin: ScaleDistribution | null;
    /** Every sub-block's step d·sc as ggml computes it; null for types with one scale per block. */
    subBlock: ScaleDistribution | null;
  };
  /** Blocks whose d is ±0, subnormal, or Inf/NaN (for E8M0: the NaN byte 0xFF). */
  scaleEdges: { zero: number; subnormal: number; nonFinite: number };
  /**
   * Blocks with at least one code at the lowest or highest code the type stores (for Q8_0/Q8_K: |code| ≥ 127), and
   * the elements at those codes. Null for codebook and ternary types (IQ2/IQ3/IQ1, TQ, Q1_0).
   */
  saturation: { lowestCode: number; highestCode: number; blocks: number; blockFraction: number; elements: number; elementFraction: number } | null;
  /** Max-pooled |d| (NVFP4: largest sub-block step) over cells of `rowsPerCell` rows × `blocksPerCell` blocks;
   *  `cells[r][c]` is null when no block of the cell has a finite scale. */
  grid: { rows: number; cols: number; rowsPerCell: number; blocksPerCell: number; cells: (number | null)[][] };
}
