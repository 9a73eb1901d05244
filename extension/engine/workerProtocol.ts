import type { HistogramSummary, TensorStats } from './statsTypes';

/** Data every worker starts with. */
export interface WorkerSetup {
  wasmPath: string;
  /** One Int32 slot: the id of a task the host wants stopped. Read between chunks, so no message is needed. */
  cancelFlag: SharedArrayBuffer;
}

/** Analyse the bytes [offset, offset + bytes) of `file` as one tensor of `dtype`. */
export interface StatsTask {
  type: 'stats';
  taskId: number;
  file: string;
  offset: number;
  bytes: number;
  dtype: string;
  chunkBytes: number;
}

export type HostToWorker = StatsTask | { type: 'closeFiles' };

export type WorkerToHost =
  | { type: 'progress'; taskId: number; bytes: number }
  | { type: 'result'; taskId: number; stats: TensorStats; histogram: HistogramSummary }
  | { type: 'failed'; taskId: number; code: string; message: string }
  | { type: 'cancelled'; taskId: number };
