/** Worker side of a low-rank analysis: a randomized SVD of D = b − a (or of b alone), streamed once per pass. */
import type { LowRankSummary } from '../diffTypes';
import { operandDtype, operandElements, streamOperandPasses, type Operand } from './operands';
import { TaskFailure, type TaskContext } from './taskContext';

export interface LowRankSpec {
  /** Null: the singular values of `b` itself (a LoRA delta). */
  a: Operand | null;
  b: Operand;
  rows: number;
  cols: number;
  /** Singular values wanted. */
  k: number;
  oversample: number;
  powerIterations: number;
  seed: number;
  chunkBytes: number;
}

export type LowRankTaskResult = LowRankSummary;

export async function runLowRank(spec: LowRankSpec, ctx: TaskContext): Promise<LowRankTaskResult> {
  const elements = spec.rows * spec.cols;
  if (operandElements(spec.b) !== elements || (spec.a && operandElements(spec.a) !== elements)) {
    throw new TaskFailure('INVALID_ARGUMENT', 'the operands are not rows × cols elements');
  }
  const job = ctx.core.beginLowRank(spec.a ? operandDtype(spec.a) : null, operandDtype(spec.b), spec.rows, spec.cols, spec.k, spec.oversample, spec.powerIterations, spec.seed);
  try {
    await streamOperandPasses([spec.a, spec.b], job, ctx, spec.chunkBytes);
    return job.result();
  } finally {
    job.dispose();
  }
}
