/** Block diagnostics of one tensor on the shared pool, as the CLI and the editor ask for them. */
import type { TensorEntry } from '../formats/checkpoint';
import { lookupDType } from '../formats/dtypes';
import type { BlockAnalysis } from './blocksTypes';
import { TaskError } from './computePool';
import type { ScanEngine } from './scanEngine';

export interface BlockOutcome {
  analysis: BlockAnalysis | null;
  error: { code: string; message: string } | null;
}

/** Whether block diagnostics apply: a block-quantized (GGUF) dtype. */
export function isBlockQuantized(dtype: string): boolean {
  return lookupDType(dtype)?.kind === 'quant';
}

/** Runs the analysis with a grid of at most `grid` × `grid` cells; a tensor problem or task failure becomes `error`. */
export async function analyseBlocks(engine: ScanEngine, tensor: TensorEntry, grid: number, signal?: AbortSignal): Promise<BlockOutcome> {
  if (tensor.problem) return { analysis: null, error: { code: tensor.problem.code, message: tensor.problem.message } };
  try {
    const analysis = await engine.pool.run('blocks', { location: tensor, gridRows: grid, gridCols: grid, chunkBytes: engine.chunkBytes }, { signal });
    return { analysis, error: null };
  } catch (error) {
    const problem = error instanceof TaskError ? error : new TaskError('READ_ERROR', String(error));
    return { analysis: null, error: { code: problem.code, message: problem.message } };
  }
}
