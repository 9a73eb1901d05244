/** Worker side of a statistics task: stream one tensor through a WASM statistics job, as many passes as it asks. */
import type { TensorLocation } from '../../formats/checkpoint';
import { lookupDType } from '../../formats/dtypes';
import type { TensorAnalysis } from '../statsTypes';
import type { TaskContext } from './taskContext';

export interface StatsSpec {
  location: TensorLocation;
  /** Bytes per read; rounded down to whole element groups. */
  chunkBytes: number;
}

export type StatsTaskResult = TensorAnalysis;

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
