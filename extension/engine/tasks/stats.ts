/** Worker side of a statistics task: stream one tensor through a WASM statistics job, as many passes as it asks. */
import type { TensorLocation } from '../../formats/checkpoint';
import type { TensorAnalysis } from '../statsTypes';
import { streamTensor } from './stream';
import type { TaskContext } from './taskContext';

export interface StatsSpec {
  location: TensorLocation;
  /** Bytes per read; rounded down to whole element groups. */
  chunkBytes: number;
}

export type StatsTaskResult = TensorAnalysis;

export async function runStats(spec: StatsSpec, ctx: TaskContext): Promise<StatsTaskResult> {
  const job = ctx.core.beginStats(spec.location.dtype);
  try {
    // Statistics do not depend on element order, so a transposed view is read straight through.
    await streamTensor(ctx, spec.location, job, spec.chunkBytes, { anyOrder: true });
    return job.result();
  } finally {
    job.dispose();
  }
}
