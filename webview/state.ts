/** What the webview shows and remembers. View state persists through `setState`; data comes from the host. */
import type { CheckpointSummary, ScanProgress, StatsRecord, TensorRow } from '../extension/protocol/messages';
import type { XScale } from './lib/histogramGeometry';

export type SortColumn = 'name' | 'dtype' | 'shape' | 'params' | 'size' | 'mean' | 'std' | 'absmax' | 'kurtosis';

/** Persisted with vscode.setState, restored when the tab comes back. */
export interface ViewState {
  filter: string;
  sort: { column: SortColumn; direction: 'asc' | 'desc' };
  /** Key of the row under the cursor: a tensor name or a group prefix. */
  cursor: string | null;
  /** Groups toggled away from their default. */
  toggled: Record<string, boolean>;
  histX: XScale;
  histY: 'linear' | 'log';
  scrollTop: number;
  /** The model-wide view shown: 'tensors' or a CheckpointView id. */
  mainView: string;
  /** The selected tensor's detail tab (a DetailPanel id). */
  detailTab: string;
  /** Per-panel settings (a heatmap's reducer and colour scale, …), by panel id. */
  panels: Record<string, unknown>;
}

export const INITIAL_VIEW: ViewState = {
  filter: '',
  sort: { column: 'name', direction: 'asc' },
  cursor: null,
  toggled: {},
  histX: 'linear',
  histY: 'log',
  scrollTop: 0,
  mainView: 'tensors',
  detailTab: 'statistics',
  panels: {},
};

export interface CheckpointData {
  summary: CheckpointSummary;
  tensors: TensorRow[];
  records: Map<number, StatsRecord>;
  progress: ScanProgress;
}

export type Anomaly = 'nan' | 'inf' | 'zero' | 'constant' | 'kurtosis' | 'error';

/** What makes a tensor stand out; extreme kurtosis means heavy tails worth a look before quantizing. */
export function anomaliesOf(row: TensorRow, record: StatsRecord | undefined): Anomaly[] {
  if (row.problem || record?.error) return ['error'];
  const s = record?.stats;
  if (!s) return [];
  const found: Anomaly[] = [];
  if (s.nan > 0) found.push('nan');
  if (s.posinf + s.neginf > 0) found.push('inf');
  if (s.count > 0 && s.absmax === 0) found.push('zero');
  else if (s.count > 1 && s.std === 0) found.push('constant');
  if (s.kurtosis !== null && s.kurtosis > 50) found.push('kurtosis');
  return found;
}

export const ANOMALY_TEXT: Record<Anomaly, string> = {
  nan: 'NaN',
  inf: 'Inf',
  zero: 'all zero',
  constant: 'constant',
  kurtosis: 'heavy tails',
  error: 'error',
};
