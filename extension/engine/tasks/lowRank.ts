/** Worker side of a low-rank analysis: a randomized SVD of D = b − a (or of b alone), streamed once per pass. */
import type { LowRankSummary } from '../diffTypes';
import { openOperand, operandChunks, operandElements, type Operand } from './operands';
import { openBoth } from './diff';
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
  const streams = spec.a ? await openBoth({ a: spec.a, b: spec.b, chunkBytes: spec.chunkBytes }, ctx) : [null, await openOperand(spec.b, ctx, spec.chunkBytes)] as const;
  const [a, b] = streams;
  const job = ctx.core.beginLowRank(a?.dtype ?? null, b.dtype, spec.rows, spec.cols, spec.k, spec.oversample, spec.powerIterations, spec.seed);
  try {
    let firstPass = true;
    do {
      for (const chunk of operandChunks(spec.a ? [spec.a, spec.b] : [spec.b], elements, spec.chunkBytes)) {
        ctx.checkCancelled();
        const read = (a ? await a.fill(chunk, 0) : (ctx.core.input(0, 0), 0)) + (await b.fill(chunk, 1));
        job.push();
        if (firstPass) ctx.progress(read);
      }
      firstPass = false;
    } while (job.endPass());
    return job.result();
  } finally {
    job.dispose();
    a?.close();
    b.close();
  }
}
