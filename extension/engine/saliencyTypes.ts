/** What a saliency analysis of one weight matrix yields (`weightscope saliency`, the editor's Saliency tab). */

/** Every saliency method, in the order the CLI and the editor list them. */
export const SALIENCY_METHODS = ['magnitude', 'lift', 'wanda', 'awq', 'smoothquant', 'obs'] as const;
export type SaliencyMethod = (typeof SALIENCY_METHODS)[number];

/** The methods computed by the streaming saliency kernel (LIFT has a job of its own, on the randomized SVD). */
export type StreamedMethod = Exclude<SaliencyMethod, 'lift'>;

/** LIFT's rank r by default, and the largest the core accepts. */
export const DEFAULT_RANK = 8;
export const MAX_RANK = 256;

/** LIFT's principal weights (the top 5 % by |W_r|) and how many of them are also in the top 5 % by |W| and by
 *  |W − W_base|. */
export interface LiftOverlaps {
  principal: number;
  withMagnitude: number;
  /** Null without a base. */
  withDelta: number | null;
}

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
  /** LIFT's overlaps, when they were asked for. */
  overlaps: LiftOverlaps | null;
}
