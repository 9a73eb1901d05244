/**
 * Plain data of comparisons and merges, shared by the engine, the CLI documents and the webview (through the
 * protocol). Undefined numbers are null.
 */

/** Counts of b − a by log2|δ|: `positive[i]` and `negative[i]` cover |δ| in [2^(log2Lo + i/binsPerOctave), …). */
export interface DeltaHistogram {
  log2Lo: number;
  binsPerOctave: number;
  positive: number[];
  negative: number[];
  zeros: number;
  nonFinite: number;
}

/** The documented per-pair statistics of `weightscope diff --json` (without name, shape and dtypes). */
export interface PairStats {
  l2_a: number | null;
  l2_b: number | null;
  l2_delta: number | null;
  rel_delta: number | null;
  cosine: number | null;
  max_abs_delta: number | null;
  changed_fraction: number | null;
  sign_flip_fraction: number | null;
  identical: boolean;
}

/** One compared pair: the statistics and what backs them. */
export interface PairAnalysis {
  stats: PairStats;
  elements: number;
  changed: number;
  signFlips: number;
  bothNonzero: number;
  histogram: DeltaHistogram;
}

/** Leading singular values of a 2-D delta (randomized SVD) and what follows from them. */
export interface LowRankSummary {
  singular_values: number[];
  /** ‖Δ‖²_F, exact. */
  frobenius_squared: number;
  /** energy[r − 1]: fraction of ‖Δ‖²_F in the r leading singular values. */
  energy: (number | null)[];
  stable_rank: number | null;
  /** exp(entropy) of the normalized computed singular values. */
  effective_rank: number | null;
}

/** What a merge did to one tensor. */
export interface MergeTensorStats {
  elements: number;
  kept_fraction: number | null;
  sign_conflict_fraction: number | null;
  /** task_counts[i]: weights kept by exactly i tasks. */
  task_counts: number[];
  /** Σ|τ| of the weights not kept / Σ|τ|. */
  trimmed_mass: number | null;
  kept_per_task: number[];
  /** Per task: the smallest kept |τ| (TIES, breadcrumbs), null otherwise. */
  keep_threshold: (number | null)[];
  /** Per task: the smallest dropped large |τ| (breadcrumbs), null otherwise. */
  drop_threshold: (number | null)[];
  /** Per task, the cuts as the core keeps them (lowest kept and lowest dropped |τ| key, each as 32-bit halves hi, lo):
   *  what a mask heatmap of the same merge needs. */
  cut_keys: [number, number, number, number][];
}
