/**
 * Worker side of statistics tasks: stream one tensor through a WASM statistics job, as many passes as it asks; or a
 * batch of small tensors in one task, so a model of thousands of biases and norms does not pay a round trip each.
 */
import type { TensorLocation } from '../../formats/checkpoint';
import type { TensorAnalysis } from '../statsTypes';
import { streamPasses } from './passes';
import { Cancelled, describeFailure, type TaskContext } from './taskContext';

export interface StatsSpec {
  location: TensorLocation;
  /** Bytes per read; rounded down to whole element groups. */
  chunkBytes: number;
}

export type StatsTaskResult = TensorAnalysis;

export interface StatsBatchSpec {
  locations: TensorLocation[];
  chunkBytes: number;
}

/** Per tensor of the batch, in order: its analysis, or why it has none. */
export type StatsBatchResult = ({ analysis: TensorAnalysis } | { problem: { code: string; message: string } })[];

export async function runStatsBatch(spec: StatsBatchSpec, ctx: TaskContext): Promise<StatsBatchResult> {
  const results: StatsBatchResult = [];
  for (const location of spec.locations) {
    try {
      results.push({ analysis: await runStats({ location, chunkBytes: spec.chunkBytes }, ctx) });
    } catch (error) {
      if (error instanceof Cancelled) throw error;
      results.push({ problem: describeFailure(error) });
    }
  }
  return results;
}

export async function runStats(spec: StatsSpec, ctx: TaskContext): Promise<StatsTaskResult> {
  const job = ctx.core.beginStats(spec.location.dtype);
  try {
    // Statistics do not depend on element order, so a transposed view is read straight through; exact quantiles of
    // wide integer types need more passes over the same bytes.
    await streamPasses(spec.location, job, ctx, spec.chunkBytes, { anyOrder: true });
    return job.result();
  } finally {
    job.dispose();
  }
}
