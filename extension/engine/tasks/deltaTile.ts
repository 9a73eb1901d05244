/**
 * Worker side of a heatmap tile of a difference B − A (the diff view's delta heatmap): both operands' whole rows of
 * the requested output rows are streamed in lockstep, their difference staged in WASM as F64, and fed to the same
 * tile job a tensor's heatmap uses.
 */
import { matrixShape } from '../../formats/checkpoint';
import type { TileCells } from '../wasmCore';
import { openOperand, operandChunks, operandUnit, type Operand, type OperandStream } from './operands';
import { sourceRow, type TilePartSpec } from './tile';
import type { TaskContext } from './taskContext';

export interface DeltaTileSpec extends TilePartSpec {
  a: Operand;
  b: Operand;
  /** The shape both operands share (the matrix view is `[dim0, product of the rest]`). */
  shape: number[];
}

export async function runDeltaTile(spec: DeltaTileSpec, ctx: TaskContext): Promise<TileCells> {
  const { cols } = matrixShape(spec.shape);
  const first = sourceRow(spec.rows, spec.size[0], spec.outRows[0]) * cols;
  const end = sourceRow(spec.rows, spec.size[0], spec.outRows[1]) * cols;
  // Chunks start on whole groups of both dtypes (and whole LoRA rows): the job skips what precedes the first row.
  const unit = operandUnit([spec.a, spec.b]);
  const from = Math.floor(first / unit) * unit;
  const job = ctx.core.beginTile('F64', {
    cols, rows: spec.rows, columns: spec.cols, size: spec.size, outRows: spec.outRows, reducer: spec.reduce, segment: [0, cols], skip: first - from,
  });
  const [a, b] = await openBoth(spec, ctx);
  try {
    for (const chunk of operandChunks([spec.a, spec.b], end, spec.chunkBytes, from)) {
      ctx.checkCancelled();
      const read = (await a.fill(chunk, 1)) + (await b.fill(chunk, 2));
      ctx.core.stageDelta(a.dtype, b.dtype);
      job.push();
      ctx.progress(read);
    }
    job.endPass();
    return job.result();
  } finally {
    job.dispose();
    a.close();
    b.close();
  }
}

async function openBoth(spec: { a: Operand; b: Operand; chunkBytes: number }, ctx: TaskContext): Promise<[OperandStream, OperandStream]> {
  const a = await openOperand(spec.a, ctx, spec.chunkBytes);
  try {
    return [a, await openOperand(spec.b, ctx, spec.chunkBytes)];
  } catch (error) {
    a.close();
    throw error;
  }
}
