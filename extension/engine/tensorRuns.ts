/**
 * A per-tensor analysis over many tensors of a checkpoint: every tensor queued on the compute pool at once, the
 * largest first (so the long ones start early and the pool stays busy at the end), outcomes reported as they
 * arrive, bytes read summed into one progress figure, and nothing reported once the run is cancelled.
 */
import { elementCount, type TensorEntry } from '../formats/checkpoint';
import { TaskError, type RunOptions } from './computePool';

export interface TensorRunOptions<O> {
  signal?: AbortSignal;
  priority?: number;
  onOutcome?(outcome: O): void;
  /** Bytes read so far by the whole run. */
  onProgress?(doneBytes: number): void;
}

/** Why a tensor is left out without reading it. */
export interface Skip {
  code: string;
  message: string;
}

/** What leaves a tensor out of every per-tensor analysis: the reader's problem with it, or no elements. */
export function commonSkip(entry: TensorEntry): Skip | undefined {
  if (entry.problem) return entry.problem;
  if (elementCount(entry.shape) === 0) return { code: 'EMPTY_TENSOR', message: 'the tensor has no elements' };
  return undefined;
}

/** A matrix dimension above what an analysis holds per matrix. */
export function tooLarge(count: number, what: 'rows' | 'columns', limit: number): Skip {
  return { code: 'TOO_LARGE', message: `${count.toLocaleString('en-US')} ${what} is more than the ${limit.toLocaleString('en-US')} analysed per matrix` };
}

export interface TensorAnalysis<O> {
  /** Why a tensor is left out without reading it (too large, undecodable, …), if it is. */
  skipReason(entry: TensorEntry): Skip | undefined;
  /** Its outcome, from tasks run on the pool with `task` as their options. */
  analyse(index: number, entry: TensorEntry, task: RunOptions): Promise<O>;
  /** The outcome of a tensor left out. */
  failed(index: number, problem: { code: string; message: string }): O;
}

/** Runs `analysis` on the given tensors (indices into `entries`); the outcomes by index. */
export async function runTensors<O>(entries: readonly TensorEntry[], indices: readonly number[], analysis: TensorAnalysis<O>, options: TensorRunOptions<O>): Promise<Map<number, O>> {
  const outcomes = new Map<number, O>();
  let doneBytes = 0;
  const task: RunOptions = {
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.priority !== undefined ? { priority: options.priority } : {}),
    onProgress: (bytes) => {
      doneBytes += bytes;
      if (!options.signal?.aborted) options.onProgress?.(doneBytes);
    },
  };
  const report = (index: number, outcome: O): void => {
    if (options.signal?.aborted) return;
    outcomes.set(index, outcome);
    options.onOutcome?.(outcome);
  };
  const order = [...indices].sort((a, b) => entries[b]!.bytes - entries[a]!.bytes || a - b);
  await Promise.all(
    order.map(async (index) => {
      const entry = entries[index]!;
      const skip = analysis.skipReason(entry);
      if (skip) return report(index, analysis.failed(index, skip));
      try {
        report(index, await analysis.analyse(index, entry, task));
      } catch (error) {
        if (error instanceof TaskError && error.code === 'CANCELLED') return;
        report(index, analysis.failed(index, { code: error instanceof TaskError ? error.code : 'READ_ERROR', message: (error as Error).message }));
      }
    }),
  );
  return outcomes;
}
