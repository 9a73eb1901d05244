/**
 * Worker side of saliency: hand the core's saliency job the activation factor of every input channel (activations.ts),
 * then stream the weight matrix through it; LIFT streams the matrix (and a base, for the overlaps) through its own job.
 */
import type { TensorLocation } from '../../formats/checkpoint';
import { DEFAULT_RANK, type SaliencyAnalysis, type SaliencyMethod } from '../saliencyTypes';
import { pushActivations, type ActivationInput } from './activations';
import { streamOperandPasses } from './operands';
import { streamPasses } from './passes';
import type { TaskContext } from './taskContext';

export interface SaliencySpec {
  location: TensorLocation;
  rows: number;
  cols: number;
  method: SaliencyMethod;
  /** SmoothQuant's migration strength in [0, 1] (ignored by the other methods). */
  alpha: number;
  /** Channels and weights ranked. */
  top: number;
  activation?: ActivationInput;
  /** LIFT: the rank r, whether to count the overlaps, and the base's tensor of the same shape for the delta's. */
  lift?: { rank: number; overlaps: boolean; base?: TensorLocation };
  chunkBytes: number;
}

export type SaliencyTaskResult = SaliencyAnalysis;

export async function runSaliency(spec: SaliencySpec, ctx: TaskContext): Promise<SaliencyTaskResult> {
  if (spec.method === 'lift') return runLift(spec, ctx);
  const job = ctx.core.beginSaliency(spec.location.dtype, spec.rows, spec.cols, spec.method, spec.alpha, spec.top);
  try {
    if (spec.activation) await pushActivations(spec.activation, spec.cols, job, ctx);
    await streamPasses(spec.location, job, ctx, spec.chunkBytes);
    return job.result();
  } finally {
    job.dispose();
  }
}

async function runLift(spec: SaliencySpec, ctx: TaskContext): Promise<SaliencyTaskResult> {
  const { rank, overlaps, base } = spec.lift ?? { rank: DEFAULT_RANK, overlaps: false };
  const job = ctx.core.beginLift(spec.location.dtype, base?.dtype ?? null, spec.rows, spec.cols, rank, spec.top, overlaps);
  try {
    const operand = (location: TensorLocation) => ({ kind: 'tensor' as const, location });
    await streamOperandPasses([operand(spec.location), base ? operand(base) : null], job, ctx, spec.chunkBytes);
    return job.result();
  } finally {
    job.dispose();
  }
}
