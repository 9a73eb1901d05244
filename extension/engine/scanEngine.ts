/**
 * Statistics of many tensors at once, on a compute pool: largest tensors first so the workers finish together,
 * per-tensor outcomes as they arrive, byte progress, and cancellation of the whole scan.
 */
import type { TensorEntry, TensorProblem } from '../formats/checkpoint';
import type { ErrorCode } from '../formats/formatError';
import { ComputePool, TaskError, type PoolOptions } from './computePool';
import type { TensorAnalysis } from './statsTypes';

export const DEFAULT_CHUNK_BYTES = 1 << 20;
export const MAX_CHUNK_BYTES = 16 << 20;

export interface EngineOptions extends PoolOptions {
  chunkBytes?: number;
}

/** What became of one tensor: its analysis, or the problem that stopped it. */
export type TensorOutcome =
  | { index: number; analysis: TensorAnalysis; problem?: undefined }
  | { index: number; analysis?: undefined; problem: TensorProblem };

export interface ScanCallbacks {
  onTensor?(outcome: TensorOutcome): void;
  /** Bytes of tensor data read so far in this scan (first pass only). */
  onProgress?(doneBytes: number): void;
}

export type ScanEnd = 'done' | 'cancelled';

/** Tensors below this size share a task with others; above it each gets its own. */
const SMALL_TENSOR_BYTES = 1 << 20;
const BATCH_BYTES = 8 << 20;
const BATCH_TENSORS = 256;

/** Largest first (the pool finishes together); small tensors grouped into batches of bounded size. */
function batchesOf<T extends { entry: TensorEntry; index: number }>(items: T[]): T[][] {
  const order = [...items].sort((a, b) => b.entry.bytes - a.entry.bytes || a.index - b.index);
  const batches: T[][] = [];
  let current: T[] = [];
  let currentBytes = 0;
  for (const item of order) {
    if (item.entry.bytes >= SMALL_TENSOR_BYTES) {
      batches.push([item]);
      continue;
    }
    if (current.length === BATCH_TENSORS || currentBytes + item.entry.bytes > BATCH_BYTES) {
      batches.push(current);
      current = [];
      currentBytes = 0;
    }
    current.push(item);
    currentBytes += item.entry.bytes;
  }
  if (current.length > 0) batches.push(current);
  return batches;
}

export class ScanEngine {
  /** The pool the scans run on; other analyses (tiles, diffs, …) share it. */
  readonly pool: ComputePool;
  readonly chunkBytes: number;

  constructor(options: EngineOptions) {
    this.pool = new ComputePool(options);
    this.chunkBytes = Math.min(Math.max(options.chunkBytes ?? DEFAULT_CHUNK_BYTES, 4096), MAX_CHUNK_BYTES);
  }

  get workerCount(): number {
    return this.pool.workerCount;
  }

  /**
   * Analyses the given tensors. Resolves when every tensor has an outcome, or with 'cancelled' soon after `signal`
   * aborts (running jobs stop between chunks; no outcome is reported after that).
   */
  async scan(entries: readonly TensorEntry[], callbacks: ScanCallbacks = {}, signal?: AbortSignal): Promise<ScanEnd> {
    let doneBytes = 0;
    const report = (outcome: TensorOutcome): void => {
      if (!signal?.aborted) callbacks.onTensor?.(outcome);
    };
    entries.forEach((entry, index) => entry.problem && report({ index, problem: entry.problem }));
    const batches = batchesOf(entries.map((entry, index) => ({ entry, index })).filter(({ entry }) => !entry.problem));
    await Promise.all(
      batches.map(async (batch) => {
        try {
          const results = await this.pool.run('statsBatch', { locations: batch.map((b) => b.entry), chunkBytes: this.chunkBytes }, {
            signal,
            onProgress: (bytes) => {
              doneBytes += bytes;
              if (!signal?.aborted) callbacks.onProgress?.(doneBytes);
            },
          });
          results.forEach((result, i) => {
            const index = batch[i]!.index;
            if ('analysis' in result) report({ index, analysis: result.analysis });
            else report({ index, problem: { code: result.problem.code as ErrorCode, message: result.problem.message } });
          });
        } catch (error) {
          if (error instanceof TaskError && error.code === 'CANCELLED') return;
          const problem = error instanceof TaskError ? error : new TaskError('READ_ERROR', String(error));
          for (const { index } of batch) report({ index, problem: { code: problem.code as ErrorCode, message: problem.message } });
        }
      }),
    );
    return signal?.aborted ? 'cancelled' : 'done';
  }

  dispose(): void {
    this.pool.dispose();
  }
}
