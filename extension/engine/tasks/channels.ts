/** Worker side of the outlier analysis of one tensor: its matrix view streamed through a WASM channel job. */
import { matrixShape, type TensorLocation } from '../../formats/checkpoint';
import type { ChannelSummary } from '../wasmCore';
import { streamPasses } from './passes';
import type { TaskContext } from './taskContext';

export interface ChannelsSpec {
  location: TensorLocation;
  /** Rows, columns and scalars to rank. */
  top: number;
  chunkBytes: number;
}

export async function runChannels(spec: ChannelsSpec, ctx: TaskContext): Promise<ChannelSummary> {
  const { rows, cols } = matrixShape(spec.location.shape);
  const job = ctx.core.beginChannels(spec.location.dtype, rows, cols, spec.top);
  try {
    await streamPasses(spec.location, job, ctx, spec.chunkBytes);
    return job.result();
  } finally {
    job.dispose();
  }
}
