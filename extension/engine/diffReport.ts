/** The `weightscope diff --json` document: exactly the documented keys, in the documented order. */
import type { Alignment } from '../compare/align';
import type { DiffItem, PairOutcome } from './diffEngine';
import type { DeltaHistogram, LowRankSummary, PairStats } from './diffTypes';

export interface MismatchEntry {
  name: string;
  shape_a: number[];
  shape_b: number[];
  dtype_a: string;
  dtype_b: string;
}

export interface DiffTensorEntry extends PairStats {
  name: string;
  shape: number[];
  dtype_a: string;
  dtype_b: string;
  /** Only with --histogram. */
  delta_histogram?: DeltaHistogram;
  /** Only with --rank, for matrix deltas. */
  low_rank?: LowRankSummary;
}

export interface DiffReport {
  a: { path: string };
  b: { path: string };
  only_a: string[];
  only_b: string[];
  mismatched: MismatchEntry[];
  tensors: DiffTensorEntry[];
}

const UNDEFINED_STATS: PairStats = {
  l2_a: null, l2_b: null, l2_delta: null, rel_delta: null, cosine: null, max_abs_delta: null, changed_fraction: null, sign_flip_fraction: null, identical: false,
};

export interface ReportExtras {
  histograms?: boolean;
  lowRank?: ReadonlyMap<number, LowRankSummary>;
}

export function buildDiffReport(aPath: string, bPath: string, alignment: Alignment<DiffItem>, outcomes: ReadonlyMap<number, PairOutcome>, extras: ReportExtras = {}): DiffReport {
  return {
    a: { path: aPath },
    b: { path: bPath },
    only_a: alignment.onlyA.map((t) => t.name),
    only_b: alignment.onlyB.map((t) => t.name),
    mismatched: alignment.mismatched.map(({ a, b }) => ({ name: a.name, shape_a: [...a.shape], shape_b: [...b.shape], dtype_a: a.dtype, dtype_b: b.dtype })),
    tensors: alignment.pairs.map(({ a, b }, index) => {
      const analysis = outcomes.get(index)?.analysis;
      const s = analysis?.stats ?? UNDEFINED_STATS;
      const low = extras.lowRank?.get(index);
      return {
        name: a.name, shape: [...a.shape], dtype_a: a.dtype, dtype_b: b.dtype,
        l2_a: s.l2_a, l2_b: s.l2_b, l2_delta: s.l2_delta, rel_delta: s.rel_delta, cosine: s.cosine, max_abs_delta: s.max_abs_delta,
        changed_fraction: s.changed_fraction, sign_flip_fraction: s.sign_flip_fraction, identical: s.identical,
        ...(extras.histograms && analysis ? { delta_histogram: analysis.histogram } : {}),
        ...(low ? { low_rank: low } : {}),
      };
    }),
  };
}
