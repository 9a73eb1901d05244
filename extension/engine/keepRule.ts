/**
 * Which tensors to keep in higher precision by default: those whose SQNR falls DEFAULT_KEEP_MARGIN_DB below the
 * median SQNR of the model's matrices under the same scheme (a tensor with four times the typical relative noise
 * energy). Pure: the CLI, the host and the webview share it.
 */
export const DEFAULT_KEEP_MARGIN_DB = 6;

/** The default threshold over the SQNRs (dB) of the matrices, or null when there is none. */
export function defaultKeepThresholdOf(sqnrs: readonly number[]): number | null {
  if (sqnrs.length === 0) return null;
  const sorted = [...sqnrs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return median - DEFAULT_KEEP_MARGIN_DB;
}
