/** The statistics document shared by `weightscope stats --json`, the editor's export and the tests. */
import type { Checkpoint, TensorEntry } from '../formats/checkpoint';
import { QUANTILE_KEYS, type TensorStats } from './statsTypes';
import type { TensorOutcome } from './scanEngine';

/** Where a tensor is, as every per-tensor JSON report starts. */
export interface TensorPlace {
  name: string;
  dtype: string;
  shape: number[];
  file: string;
  offset: number;
  bytes: number;
}

export function placeOf(entry: TensorEntry): TensorPlace {
  return { name: entry.name, dtype: entry.dtype, shape: [...entry.shape], file: entry.file, offset: entry.offset, bytes: entry.bytes };
}

export function filesOf(checkpoint: Checkpoint): { path: string; bytes: number }[] {
  return checkpoint.files.map((f) => ({ path: f.path, bytes: f.bytes }));
}

export interface TensorReport extends TensorPlace {
  stats: TensorStats | null;
  error: { code: string; message: string } | null;
}

export interface StatsReport {
  format: string;
  files: { path: string; bytes: number }[];
  metadata: Record<string, string>;
  tensors: TensorReport[];
}

/** Builds the report in the documented key order; tensors without an outcome (a cancelled scan) get stats null. */
export function buildStatsReport(checkpoint: Checkpoint, outcomes: ReadonlyMap<number, TensorOutcome>, indices?: readonly number[]): StatsReport {
  const selected = indices ?? checkpoint.tensors.map((_, i) => i);
  return {
    format: checkpoint.format,
    files: filesOf(checkpoint),
    metadata: { ...checkpoint.metadata },
    tensors: selected.map((index) => {
      const entry = checkpoint.tensors[index]!;
      const outcome = outcomes.get(index);
      return {
        ...placeOf(entry),
        stats: outcome?.analysis ? orderedStats(outcome.analysis.stats) : null,
        error: outcome?.problem ? { code: outcome.problem.code, message: outcome.problem.message } : null,
      };
    }),
  };
}

function orderedStats(s: TensorStats): TensorStats {
  const quantiles = {} as TensorStats['quantiles'];
  for (const key of QUANTILE_KEYS) quantiles[key] = s.quantiles[key];
  return {
    count: s.count, mean: s.mean, std: s.std, min: s.min, max: s.max, absmax: s.absmax, l2: s.l2,
    zeros: s.zeros, nan: s.nan, posinf: s.posinf, neginf: s.neginf, skewness: s.skewness, kurtosis: s.kurtosis,
    quantiles,
  };
}

const CSV_STAT_COLUMNS = ['count', 'mean', 'std', 'min', 'max', 'absmax', 'l2', 'zeros', 'nan', 'posinf', 'neginf', 'skewness', 'kurtosis'] as const;

/** One row per tensor; shape as `4096x11008`; quantiles as q0.001…; empty cells for nulls. */
export function statsReportToCsv(report: StatsReport): string {
  const header = ['name', 'dtype', 'shape', 'file', 'offset', 'bytes', ...CSV_STAT_COLUMNS, ...QUANTILE_KEYS.map((q) => `q${q}`), 'error'];
  const lines = [header.join(',')];
  for (const t of report.tensors) {
    const stats = t.stats;
    const cells = [
      t.name, t.dtype, t.shape.join('x'), t.file, String(t.offset), String(t.bytes),
      ...CSV_STAT_COLUMNS.map((k) => csvNumber(stats?.[k])),
      ...QUANTILE_KEYS.map((q) => csvNumber(stats?.quantiles[q])),
      t.error ? `${t.error.code}: ${t.error.message}` : '',
    ];
    lines.push(cells.map(csvCell).join(','));
  }
  return lines.join('\n') + '\n';
}

function csvNumber(value: number | null | undefined): string {
  return value === null || value === undefined ? '' : String(value);
}

function csvCell(text: string): string {
  return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}
