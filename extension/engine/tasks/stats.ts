/**
 * Worker side of statistics tasks: stream one tensor through a WASM statistics job, as many passes as it asks; or a
 * batch of small tensors in one task, so a model of thousands of biases and norms does not pay a round trip each.
 */
import type { TensorLocation } from '../../formats/checkpoint';
import { lookupDType } from '../../formats/dtypes';
import type { TensorAnalysis } from '../statsTypes';
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
  const { location } = spec;
  const job = ctx.core.beginStats(location.dtype);
  // Statistics do not depend on element order, so a transposed view is read straight through.
  const reader = ctx.reader(location, { anyOrder: true });
  const groupBytes = lookupDType(location.dtype)?.groupBytes ?? 1;
  const chunk = Math.max(groupBytes, spec.chunkBytes - (spec.chunkBytes % groupBytes));
  try {
    // Exact quantiles of wide integer types need more passes over the same bytes; progress counts the first only.
    let firstPass = true;
    do {
      for (let done = 0; done < location.bytes; ) {
        ctx.checkCancelled();
        const len = Math.min(chunk, location.bytes - done);
        await reader.read(done, ctx.core.input(len));
        job.push();
        done += len;
        if (firstPass) ctx.progress(len);
      }
      firstPass = false;
    } while (job.endPass());
    return job.result();
  } finally {
    reader.close();
    job.dispose();
  }
}
