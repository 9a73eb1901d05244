/** Probabilities of the reported quantiles, as the keys of `TensorStats.quantiles`. */
export const QUANTILE_KEYS = ['0.001', '0.01', '0.05', '0.25', '0.5', '0.75', '0.95', '0.99', '0.999'] as const;
export type QuantileKey = (typeof QUANTILE_KEYS)[number];

/**
 * Statistics of one tensor's decoded values. Moments and quantiles are over finite values only; NaN and ±Inf are
 * counted apart. Fields that are undefined for the data (an empty tensor, zero variance) are null.
 */
export interface TensorStats {
  count: number;
  mean: number | null;
  std: number | null;
  min: number | null;
  max: number | null;
  absmax: number | null;
  l2: number;
  zeros: number;
  nan: number;
  posinf: number;
  neginf: number;
  skewness: number | null;
  kurtosis: number | null;
  quantiles: Record<QuantileKey, number | null>;
}

/** Display histograms derived from the exact bucket table, small enough to send to the webview. */
export interface HistogramSummary {
  /** Equal-width bins over [lo, hi] = [min, max] of the finite values. */
  linear: { lo: number; hi: number; counts: number[] };
  /** Equal-width bins of log10|x| over the nonzero finite values; exact zeros counted apart. */
  logAbs: { lo: number; hi: number; counts: number[]; zeros: number };
  /** Values beyond mean ± k·std, for k = 3, 4, 5, 6. */
  tails: { k: number; below: number; above: number }[];
}

export interface TensorAnalysis {
  stats: TensorStats;
  histogram: HistogramSummary;
}
