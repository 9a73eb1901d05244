/**
 * Outlier hunting over a checkpoint: which tensors are analysed, the `outliers --json` document, super-weight
 * candidates and the cross-layer "same channel index" view. The per-tensor numbers come from the core's channel job
 * (tasks/channels.ts); this module only selects, ranks and shapes them.
 */
import { matrixShape, type TensorEntry } from '../formats/checkpoint';
import { lookupDType } from '../formats/dtypes';
import type { ComputePool } from './computePool';
import { commonSkip, runTensors, tooLarge, type Skip, type TensorRunOptions } from './tensorRuns';
import type { ChannelSummary } from './wasmCore';

/** Widest and tallest matrices analysed (the core's per-column accumulators and per-row medians). */
export const MAX_OUTLIER_COLUMNS = 1 << 20;
export const MAX_OUTLIER_ROWS = 1 << 24;
export const DEFAULT_TOP = 10;
/**
 * Super-weight candidates are among the SUPER_WEIGHT_TOP largest scalars of a down projection, with a z-score of at
 * least SUPER_WEIGHT_MIN_Z, and at least SUPER_WEIGHT_MIN_LEAD times the SUPER_WEIGHT_REFERENCE-th largest |value|
 * of the tensor: a lone scalar, not one of a whole loud channel.
 */
export const SUPER_WEIGHT_TOP = 4;
export const SUPER_WEIGHT_MIN_Z = 20;
export const SUPER_WEIGHT_REFERENCE = 8;
export const SUPER_WEIGHT_MIN_LEAD = 2;
/** Scalars every analysis ranks at least, so that the candidates do not depend on `--top`. */
export const MIN_RANKED = SUPER_WEIGHT_REFERENCE;
/** A channel "stands out" when its absmax is at least this many times the median channel absmax. */
export const STANDOUT_FACTOR = 3;

/**
 * Names of MLP down projections (the layer that maps the wide hidden state back to the model width), across
 * Llama/Mistral/Qwen (`mlp.down_proj`), GGUF (`ffn_down`, `ffn_down_exps`, `ffn_down_shexp`), Mixtral and Meta's
 * originals (`w2`), OPT/Phi/CLIP/Whisper (`fc2`), GPT-2 (`mlp.c_proj`), GPT-NeoX/Falcon/BLOOM (`dense_4h_to_h`),
 * T5 (`DenseReluDense.wo`), wav2vec2/HuBERT (`feed_forward.output_dense`), BERT (`layer.N.output.dense`, not the
 * attention's `attention.output.dense`).
 */
export const DOWN_PROJECTION = new RegExp(
  [
    '(^|[._])down_proj([._]|$)',
    '(^|[._])ffn_down(_exps|_shexp)?([._]|$)',
    '(^|\\.)w2(\\.|$)',
    '(^|[._])fc2([._]|$)',
    '(^|\\.)mlp\\.c_proj(\\.|$)',
    '(^|[._])dense_4h_to_h([._]|$)',
    '(^|\\.)DenseReluDense\\.wo(\\.|$)',
    '(^|\\.)feed_forward\\.output_dense(\\.|$)',
    '(^|\\.)layer\\.\\d+\\.output\\.dense(\\.|$)',
  ].join('|'),
);

export function isDownProjection(name: string): boolean {
  return DOWN_PROJECTION.test(name);
}

/** Why a tensor is not analysed, or undefined when it is. 0-D tensors and non-float dtypes are simply not listed. */
export function outlierSkipReason(entry: TensorEntry): Skip | undefined {
  const common = commonSkip(entry);
  if (common) return common;
  const { rows, cols } = matrixShape(entry.shape);
  if (cols > MAX_OUTLIER_COLUMNS) return tooLarge(cols, 'columns', MAX_OUTLIER_COLUMNS);
  if (rows > MAX_OUTLIER_ROWS) return tooLarge(rows, 'rows', MAX_OUTLIER_ROWS);
  return undefined;
}

/** Tensors worth an outlier analysis: float (or dequantizable) values with at least one dimension. */
export function hasOutlierAnalysis(entry: TensorEntry): boolean {
  const kind = lookupDType(entry.dtype)?.kind;
  return entry.shape.length >= 1 && (kind === 'float' || kind === 'quant' || entry.problem !== undefined);
}

export type OutlierOutcome =
  | { index: number; summary: ChannelSummary; problem?: undefined }
  | { index: number; summary?: undefined; problem: { code: string; message: string } };

export interface OutlierRunOptions extends TensorRunOptions<OutlierOutcome> {
  top: number;
  chunkBytes: number;
}

/** Analyses the given tensors (by index into `entries`) on the pool, largest first. */
export function runOutliers(pool: ComputePool, entries: readonly TensorEntry[], indices: readonly number[], options: OutlierRunOptions): Promise<Map<number, OutlierOutcome>> {
  return runTensors(entries, indices, {
    skipReason: outlierSkipReason,
    analyse: async (index, entry, task) => ({ index, summary: await pool.run('channels', { location: entry, top: options.top, chunkBytes: options.chunkBytes }, task) }),
    failed: (index, problem) => ({ index, problem }),
  }, options);
}

export interface SuperWeightCandidate {
  /** Index of the tensor in the checkpoint, and its name. */
  index: number;
  tensor: string;
  row: number;
  col: number;
  value: number;
  z: number;
}

/** Super-weight candidates (the rule above), ranked across the model by decreasing |value| (then checkpoint order,
 *  row, column). */
export function superWeightCandidates(entries: readonly TensorEntry[], outcomes: ReadonlyMap<number, OutlierOutcome>): SuperWeightCandidate[] {
  const found: SuperWeightCandidate[] = [];
  entries.forEach((entry, index) => {
    const summary = outcomes.get(index)?.summary;
    const reference = summary?.topScalars[SUPER_WEIGHT_REFERENCE - 1];
    if (!summary || !reference || entry.shape.length < 2 || !isDownProjection(entry.name)) return;
    for (const s of summary.topScalars.slice(0, SUPER_WEIGHT_TOP)) {
      if (s.z >= SUPER_WEIGHT_MIN_Z && Math.abs(s.value) >= SUPER_WEIGHT_MIN_LEAD * Math.abs(reference.value)) found.push({ index, tensor: entry.name, row: s.row, col: s.col, value: s.value, z: s.z });
    }
  });
  return found.sort((a, b) => Math.abs(b.value) - Math.abs(a.value) || a.index - b.index || a.row - b.row || a.col - b.col);
}

const finite = (value: number): number | null => (Number.isFinite(value) ? value : null);

/** The `outliers --json` document: tensors with ≥ 2 dimensions in checkpoint order, then the candidates. */
export function outliersDocument(entries: readonly TensorEntry[], outcomes: ReadonlyMap<number, OutlierOutcome>, top: number) {
  const tensors = entries.flatMap((entry, index) => {
    const summary = outcomes.get(index)?.summary;
    if (!summary || entry.shape.length < 2) return [];
    const channel = (c: ChannelSummary['topRows'][number]) => ({ index: c.index, absmax: c.absmax, rms: finite(c.rms) });
    return [{
      name: entry.name,
      shape: [...entry.shape],
      row_outlier_ratio: finite(summary.rowRatio),
      col_outlier_ratio: finite(summary.colRatio),
      top_rows: summary.topRows.slice(0, top).map(channel),
      top_cols: summary.topCols.slice(0, top).map(channel),
      top_scalars: summary.topScalars.slice(0, top).map((s) => ({ row: s.row, col: s.col, value: s.value, z: finite(s.z) })),
    }];
  });
  const super_weight_candidates = superWeightCandidates(entries, outcomes).map(({ tensor, row, col, value }) => ({ tensor, row, col, value }));
  return { tensors, super_weight_candidates };
}

/** One tensor in the cross-layer view: how far a channel index stands out there (absmax / median absmax). */
export interface ChannelEcho {
  /** Index of the tensor in the checkpoint. */
  tensor: number;
  /** 'col' for an input channel (a column, or an element of a 1-D tensor), 'row' for an output channel. */
  axis: 'row' | 'col';
  ratio: number;
}

export interface CrossLayerChannel {
  index: number;
  echoes: ChannelEcho[];
}

/**
 * The same channel index standing out across tensors whose rows or columns span the model width (the most common
 * column count among analysed tensors): norm gains, embedding columns, projection inputs and down-projection
 * outputs. A channel stands out in a tensor when it is among that tensor's top rows/columns with absmax at least
 * STANDOUT_FACTOR × the median. Channels are ranked by the number of tensors they stand out in.
 */
export function crossLayerChannels(entries: readonly TensorEntry[], outcomes: ReadonlyMap<number, OutlierOutcome>): { width: number; channels: CrossLayerChannel[] } {
  const widths = new Map<number, number>();
  for (const [index, outcome] of outcomes) {
    if (outcome.summary) {
      const { cols } = matrixShape(entries[index]!.shape);
      widths.set(cols, (widths.get(cols) ?? 0) + 1);
    }
  }
  const width = [...widths].sort((a, b) => b[1] - a[1] || b[0] - a[0])[0]?.[0] ?? 0;
  const byChannel = new Map<number, ChannelEcho[]>();
  entries.forEach((entry, index) => {
    const summary = outcomes.get(index)?.summary;
    if (!summary) return;
    const { rows, cols } = matrixShape(entry.shape);
    const add = (axis: 'row' | 'col', list: ChannelSummary['topCols'], median: number): void => {
      if (!(median > 0)) return;
      for (const c of list) {
        const ratio = c.absmax / median;
        if (ratio < STANDOUT_FACTOR) continue;
        const echoes = byChannel.get(c.index) ?? [];
        echoes.push({ tensor: index, axis, ratio });
        byChannel.set(c.index, echoes);
      }
    };
    if (cols === width) add('col', summary.topCols, summary.colMedian);
    if (rows === width && entry.shape.length >= 2) add('row', summary.topRows, summary.rowMedian);
  });
  const channels = [...byChannel].map(([index, echoes]) => ({ index, echoes }));
  channels.sort((a, b) => b.echoes.length - a.echoes.length || a.index - b.index);
  return { width, channels };
}
