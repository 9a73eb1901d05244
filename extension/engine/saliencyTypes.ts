/** What a saliency analysis of one weight matrix yields (`weightscope saliency`, the editor's Saliency tab). */

/** Every saliency method, in the order the CLI and the editor list them. */
export const SALIENCY_METHODS = ['magnitude', 'lift', 'wanda', 'awq', 'smoothquant', 'obs'] as const;
export type SaliencyMethod = (typeof SALIENCY_METHODS)[number];

/** The methods computed by the streaming kernel (everything but LIFT, which needs a low-rank approximation). */
export type StreamedMethod = Exclude<SaliencyMethod, 'lift'>;

/** One input channel (a column) and its channel score; Infinity stays a number here (null only in JSON). */
export interface RankedChannel {
  index: number;
  score: number;
}

/** One weight and its weight score. */
export interface RankedWeight {
  row: number;
  col: number;
  score: number;
}

export interface SaliencyAnalysis {
  cols: number;
  /** The best channels and weights, best first (ties: lower index, lower row then column). */
  topChannels: RankedChannel[];
  topWeights: RankedWeight[];
  /** Every column's channel score (NaN where undefined). */
  channelScores: Float64Array;
  /** max_i |W_ij| per column, for magnitude and SmoothQuant. */
  columnAbsmax: Float64Array | null;
  /** The activation statistic a_j the method used (‖X_j‖₂, mean|X_j|, max|X_j| or H_jj). */
  activations: Float64Array | null;
}
