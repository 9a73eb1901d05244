/** Worker side of the quantization-error preview of one tensor under several schemes. */
import { matrixShape, type TensorLocation } from '../../formats/checkpoint';
import type { KeepFraction, QuantScheme, QuantSums } from '../wasmCore';
import { streamPasses } from './passes';
import type { TaskContext } from './taskContext';

export interface QuantSpec {
  location: TensorLocation;
  schemes: QuantScheme[];
  keep: KeepFraction[];
  chunkBytes: number;
}

export async function runQuant(spec: QuantSpec, ctx: TaskContext): Promise<QuantSums> {
  const { rows, cols } = matrixShape(spec.location.shape);
  const job = ctx.core.beginQuant(spec.location.dtype, rows, cols, spec.schemes, spec.keep);
  try {
    await streamPasses(spec.location, job, ctx, spec.chunkBytes);
    return job.result();
  } finally {
    job.dispose();
  }
}
