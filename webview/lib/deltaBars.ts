/**
 * Geometry of a delta histogram on a symmetric log axis: negative deltas on the left (largest magnitude
 * outermost), exact zeros in the middle, positive on the right; only the span that holds counts is kept.
 */
import type { DeltaHistogram } from '../../extension/protocol/messages';

export interface DeltaBar {
  /** Position on the axis: bars left of the zero slot are negative, right of it positive. */
  position: number;
  count: number;
  /** Signed magnitude range of the bin, for labels: [lower |δ|, upper |δ|) with the bin's sign. */
  sign: -1 | 0 | 1;
  low: number;
  high: number;
}

export function deltaBars(h: DeltaHistogram): { bars: DeltaBar[]; zeroAt: number; span: [number, number] } {
  const bins = h.positive.length;
  const edge = (i: number): number => 2 ** (h.log2Lo + i / h.binsPerOctave);
  const used = (counts: number[]): number[] => counts.flatMap((c, i) => (c > 0 ? [i] : []));
  const usedPositive = used(h.positive);
  const usedNegative = used(h.negative);
  const lowest = Math.min(...usedPositive, ...usedNegative, bins);
  const highest = Math.max(...usedPositive, ...usedNegative, -1);
  // Bins [lowest, highest] on each side around one zero slot; with no nonzero delta, just the zero slot.
  const width = highest >= lowest ? highest - lowest + 1 : 0;
  const zeroAt = width;
  const bars: DeltaBar[] = [];
  for (let i = lowest; i <= highest; i++) {
    if (h.negative[i]! > 0) bars.push({ position: zeroAt - 1 - (i - lowest), count: h.negative[i]!, sign: -1, low: edge(i), high: edge(i + 1) });
    if (h.positive[i]! > 0) bars.push({ position: zeroAt + 1 + (i - lowest), count: h.positive[i]!, sign: 1, low: edge(i), high: edge(i + 1) });
  }
  if (h.zeros > 0) bars.push({ position: zeroAt, count: h.zeros, sign: 0, low: 0, high: 0 });
  return { bars, zeroAt, span: [0, 2 * width + 1] };
}
