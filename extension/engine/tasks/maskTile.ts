/**
 * Worker side of a mask heatmap tile of a merge: the base and every fine-tune's whole rows of the requested output
 * rows are streamed in lockstep (slots 1, 2, …), the core stages how many tasks keep each weight (F64, slot 0) with
 * the cuts the merge found, and the tile job reduces that like any tensor.
 */
import { elementCount, matrixShape, type TensorLocation } from '../../formats/checkpoint';
import type { MergeJobParams, TileCells } from '../wasmCore';
import { byteSpan, elementChunks, chunkElements } from './chunks';
import { fnv1a64 } from './merge';
import { sourceRow, type TilePartSpec } from './tile';
import type { TaskContext } from './taskContext';

export interface MaskTileSpec extends TilePartSpec {
  name: string;
  base: TensorLocation;
  tasks: TensorLocation[];
  params: Omit<MergeJobParams, 'dtypes' | 'elements' | 'nameHash' | 'outputs'>;
  /** The merge record's cut keys, per task. */
  cuts: [number, number, number, number][];
}

export async function runMaskTile(spec: MaskTileSpec, ctx: TaskContext): Promise<TileCells> {
  const inputs = [spec.base, ...spec.tasks];
  const dtypes = inputs.map((t) => t.dtype);
  const { cols } = matrixShape(spec.base.shape);
  const first = sourceRow(spec.rows, spec.size[0], spec.outRows[0]) * cols;
  const end = Math.min(elementCount(spec.base.shape), sourceRow(spec.rows, spec.size[0], spec.outRows[1]) * cols);
  const unit = chunkElements(dtypes, 1);
  const from = Math.floor(first / unit) * unit;
  const tile = ctx.core.beginTile('F64', {
    cols, rows: spec.rows, columns: spec.cols, size: spec.size, outRows: spec.outRows, reducer: spec.reduce, segment: [0, cols], skip: first - from,
  });
  const counter = ctx.core.beginMaskCount({ ...spec.params, dtypes, nameHash: fnv1a64(spec.name) }, from, spec.cuts);
  const readers = inputs.map((t) => ctx.reader(t));
  try {
    for (const chunk of elementChunks(from, end, dtypes, spec.chunkBytes)) {
      ctx.checkCancelled();
      for (let i = 0; i < inputs.length; i++) {
        const span = byteSpan(dtypes[i]!, chunk.first, chunk.count);
        await readers[i]!.read(span.start, ctx.core.input(span.length, i + 1));
        ctx.progress(span.length);
      }
      counter.stage();
      tile.push();
    }
    tile.endPass();
    return tile.result();
  } finally {
    readers.forEach((r) => r.close());
    counter.dispose();
    tile.dispose();
  }
}
