/** Pure geometry of the histogram: which bins to draw for the chosen axes. */
import type { HistogramSummary } from '../../extension/protocol/messages';

export type XScale = 'linear' | 'log';

export interface Bar {
  x0: number;
  x1: number;
  count: number;
}

/** Bars in data coordinates (value, or log10|x| on the log axis); empty bins are dropped. */
export function histogramBars(h: HistogramSummary, x: XScale): { bars: Bar[]; lo: number; hi: number } {
  const bins = x === 'linear' ? h.linear : h.logAbs;
  const { lo, hi } = bins;
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return { bars: [], lo: 0, hi: 1 };
  // A single value: draw one bar of unit width around it.
  const [from, to] = hi > lo ? [lo, hi] : [lo - 0.5, lo + 0.5];
  const width = (to - from) / bins.counts.length;
  const bars = bins.counts.flatMap((count, i) => (count > 0 ? [{ x0: from + i * width, x1: from + (i + 1) * width, count }] : []));
  return { bars, lo: from, hi: to };
}

/** Where a value sits on the chosen axis, or null when it cannot be shown (zero on a log axis). */
export function axisPosition(value: number | null, x: XScale): number | null {
  if (value === null) return null;
  if (x === 'linear') return value;
  return value === 0 ? null : Math.log10(Math.abs(value));
}
