/** Worker side of the quantization-error preview of one tensor under several schemes, errors optionally weighted per
 *  input channel (H_jj from imported activation statistics). */
import { matrixShape, type TensorLocation } from '../../formats/checkpoint';
import type { KeepFraction, QuantScheme, QuantSums } from '../wasmCore';
import { pushActivations, type ActivationInput } from './activations';
import { streamPasses } from './passes';
import type { TaskContext } from './taskContext';

export interface QuantSpec {
  location: TensorLocation;
  schemes: QuantScheme[];
  keep: KeepFraction[];
  /** Column weights a_j for the weighted errors. */
  activation?: ActivationInput;
  chunkBytes: number;
}

export async function runQuant(spec: QuantSpec, ctx: TaskContext): Promise<QuantSums> {
  const { rows, cols } = matrixShape(spec.location.shape);
  const job = ctx.core.beginQuant(spec.location.dtype, rows, cols, spec.schemes, spec.keep);
  try {
    if (spec.activation) await pushActivations(spec.activation, cols, job, ctx);
    await streamPasses(spec.location, job, ctx, spec.chunkBytes);
    return job.result();
  } finally {
    job.dispose();
  }
}
