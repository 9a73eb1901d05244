/** Worker side of block diagnostics: stream a GGUF quantized tensor's blocks, in storage order, through a WASM job. */
import { elementCount, type TensorLocation } from '../../formats/checkpoint';
import { lookupDType } from '../../formats/dtypes';
import type { BlockAnalysis } from '../blocksTypes';
import { streamPasses } from './passes';
import { TaskFailure, type TaskContext } from './taskContext';

export interface BlocksSpec {
  location: TensorLocation;
  /** Most cells of the |d| grid down and across (1–1024). */
  gridRows: number;
  gridCols: number;
  chunkBytes: number;
}

export type BlocksTaskResult = BlockAnalysis;

export async function runBlocks(spec: BlocksSpec, ctx: TaskContext): Promise<BlocksTaskResult> {
  const { location } = spec;
  const info = lookupDType(location.dtype);
  if (!info || info.kind !== 'quant') throw new TaskFailure('UNSUPPORTED_DTYPE', `${location.dtype} is not a block-quantized type`);
  // Blocks run along the innermost dimension (ggml's ne[0]); every other dimension counts rows.
  const inner = location.shape.length > 0 ? location.shape[location.shape.length - 1]! : 1;
  const rows = inner > 0 ? elementCount(location.shape) / inner : 0;
  const job = ctx.core.beginBlocks(location.dtype, rows, inner / info.groupElements, spec.gridRows, spec.gridCols);
  try {
    await streamPasses(location, job, ctx, spec.chunkBytes);
    return { ...job.result(), blockBytes: info.groupBytes };
  } finally {
    job.dispose();
  }
}
