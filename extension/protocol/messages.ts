/**
 * The one protocol between the extension host and the webview. Both sides import only this file (and the
 * plain data types it re-exports), so the compiler ties every request to its reply.
 */
import type { BlockOutcome } from '../engine/blockDiagnostics';
import type { HistogramSummary, TensorStats } from '../engine/statsTypes';
export type { HistogramSummary, TensorStats, QuantileKey } from '../engine/statsTypes';
export type { BlockAnalysis, ScaleDistribution } from '../engine/blocksTypes';
export type { BlockOutcome } from '../engine/blockDiagnostics';
export { QUANTILE_KEYS } from '../engine/statsTypes';

export interface ProblemInfo {
  code: string;
  message: string;
}

export interface CheckpointSummary {
  format: string;
  /** Display name of what was opened (file or index). */
  title: string;
  files: { path: string; bytes: number }[];
  metadata: Record<string, string>;
  tensorCount: number;
  totalBytes: number;
  totalParams: number;
  paramsByDtype: Record<string, number>;
  /** Security notes from the reader (pickle globals that would run code when loaded with torch.load). */
  findings: { code: string; message: string; file: string }[];
}

export interface TensorRow {
  id: number;
  name: string;
  dtype: string;
  shape: number[];
  params: number;
  bytes: number;
  file: string;
  offset: number;
  /** A block-quantized (GGUF) dtype: the Blocks tab applies. */
  quantized: boolean;
  problem: ProblemInfo | null;
}

/** Statistics of one tensor as they stream in; `error` set when that tensor could not be analysed. */
export interface StatsRecord {
  id: number;
  stats: TensorStats | null;
  error: ProblemInfo | null;
}

export type ScanState = 'idle' | 'running' | 'done' | 'cancelled' | 'failed';

export interface ScanProgress {
  state: ScanState;
  doneTensors: number;
  totalTensors: number;
  doneBytes: number;
  totalBytes: number;
}

export type OpenResponse =
  | { kind: 'checkpoint'; summary: CheckpointSummary; tensors: TensorRow[]; records: StatsRecord[]; progress: ScanProgress }
  | { kind: 'error'; file: string; problem: ProblemInfo };

/** Webview → host requests, each with its reply type. */
export interface HostApi {
  open: { req: Record<string, never>; res: OpenResponse };
  rescan: { req: Record<string, never>; res: null };
  cancel: { req: Record<string, never>; res: null };
  histogram: { req: { id: number }; res: HistogramSummary | null };
  /** Block diagnostics of a quantized tensor (computed once per document). */
  blocks: { req: { id: number }; res: BlockOutcome };
  copyText: { req: { text: string }; res: null };
  exportStats: { req: { format: 'json' | 'csv' }; res: null };
}

/** Host → webview notifications. */
export type HostEvent =
  | { type: 'scanProgress'; records: StatsRecord[]; progress: ScanProgress }
  | { type: 'focusTensor'; name: string };

export type HostMethod = keyof HostApi & string;

export type Envelope =
  | { kind: 'req'; id: number; method: HostMethod; params: unknown }
  | { kind: 'res'; id: number; ok: true; result: unknown }
  | { kind: 'res'; id: number; ok: false; error: ProblemInfo }
  | { kind: 'evt'; event: HostEvent };
