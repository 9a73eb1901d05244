/**
 * Worker side of saliency: hand the core's saliency job the activation factor of every input channel (activations.ts),
 * then stream the weight matrix through it.
 */
import type { TensorLocation } from '../../formats/checkpoint';
import type { SaliencyAnalysis, StreamedMethod } from '../saliencyTypes';
import { pushActivations, type ActivationInput } from './activations';
import { streamPasses } from './passes';
import type { TaskContext } from './taskContext';

export interface SaliencySpec {
  location: TensorLocation;
  rows: number;
  cols: number;
  method: StreamedMethod;
  /** SmoothQuant's migration strength in [0, 1] (ignored by the other methods). */
  alpha: number;
  /** Channels and weights ranked. */
  top: number;
  activation?: ActivationInput;
  chunkBytes: number;
}

export type SaliencyTaskResult = SaliencyAnalysis;

export async function runSaliency(spec: SaliencySpec, ctx: TaskContext): Promise<SaliencyTaskResult> {
  const job = ctx.core.beginSaliency(spec.location.dtype, spec.rows, spec.cols, spec.method, spec.alpha, spec.top);
  try {
    if (spec.activation) await pushActivations(spec.activation, spec.cols, job, ctx);
    await streamPasses(spec.location, job, ctx, spec.chunkBytes);
    return job.result();
  } finally {
    job.dispose();
  }
}
