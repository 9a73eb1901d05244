/**
 * Worker side of a heatmap tile: streams only the source rows of the requested output rows through a WASM tile job.
 * A narrow column range is read row segment by row segment; otherwise whole rows are read in large chunks.
 */
import { matrixShape, type TensorLocation } from '../../formats/checkpoint';
import { lookupDType } from '../../formats/dtypes';
import type { TileCells, TileReducer } from '../wasmCore';
import { TaskFailure, type TaskContext } from './taskContext';

/** The part of a tile one task computes, whatever the values' source. */
export interface TilePartSpec {
  /** Source rows [A, B) and columns [C, D) of the matrix view `[dim0, product of the rest]`. */
  rows: [number, number];
  cols: [number, number];
  /** Output cells H × W. */
  size: [number, number];
  /** The output rows [i0, i1) this task computes. */
  outRows: [number, number];
  reduce: TileReducer;
  /** Bytes per read. */
  chunkBytes: number;
}

export interface TileTaskSpec extends TilePartSpec {
  location: TensorLocation;
}

export type TileTaskResult = TileCells;

/** First source row of output row i: A + floor(i·(B − A)/H), exact for any size. */
export function sourceRow(rows: readonly [number, number], height: number, i: number): number {
  return rows[0] + Number((BigInt(i) * BigInt(rows[1] - rows[0])) / BigInt(height));
}

/** A byte range of the tensor's logical bytes. */
interface Span {
  start: number;
  length: number;
}

/** What to read for a tile part, and how the job must interpret the stream. */
export function tileReadPlan(spec: Omit<TileTaskSpec, 'chunkBytes' | 'location'> & { location: Pick<TensorLocation, 'dtype' | 'shape'> }) {
  const info = lookupDType(spec.location.dtype);
  if (!info) throw new TaskFailure('UNSUPPORTED_DTYPE', `the engine cannot decode dtype ${spec.location.dtype}`);
  const { cols } = matrixShape(spec.location.shape);
  const g = info.groupElements;
  const gb = info.groupBytes;
  const first = sourceRow(spec.rows, spec.size[0], spec.outRows[0]);
  const end = sourceRow(spec.rows, spec.size[0], spec.outRows[1]);
  const [c, d] = spec.cols;
  const spans: Span[] = [];
  // Row segments pay off when the rectangle is narrow; they need every row to start on an element group.
  if (cols % g === 0 && (d - c) * 2 <= cols) {
    const segStart = Math.floor(c / g) * g;
    const segEnd = Math.ceil(d / g) * g;
    for (let r = first; r < end; r++) spans.push({ start: ((r * cols + segStart) / g) * gb, length: ((segEnd - segStart) / g) * gb });
    return { segment: [segStart, segEnd - segStart] as [number, number], skip: 0, spans };
  }
  const from = Math.floor((first * cols) / g) * g;
  const to = Math.ceil((end * cols) / g) * g;
  if (to > from) spans.push({ start: (from / g) * gb, length: ((to - from) / g) * gb });
  return { segment: [0, cols] as [number, number], skip: first * cols - from, spans };
}

export async function runTile(spec: TileTaskSpec, ctx: TaskContext): Promise<TileTaskResult> {
  const { location } = spec;
  const { cols } = matrixShape(location.shape);
  const plan = tileReadPlan(spec);
  const groupBytes = lookupDType(location.dtype)!.groupBytes;
  const chunk = Math.max(groupBytes, spec.chunkBytes - (spec.chunkBytes % groupBytes));
  const job = ctx.core.beginTile(location.dtype, {
    cols, rows: spec.rows, columns: spec.cols, size: spec.size, outRows: spec.outRows, reducer: spec.reduce,
    segment: plan.segment, skip: plan.skip,
  });
  const reader = ctx.reader(location);
  try {
    // Pack spans into chunks: several short row segments per push, a long span over several pushes.
    let pending: Span[] = [];
    let pendingBytes = 0;
    const flush = async (): Promise<void> => {
      if (pendingBytes === 0) return;
      ctx.checkCancelled();
      const target = ctx.core.input(pendingBytes);
      let at = 0;
      for (const span of pending) {
        await reader.read(span.start, target.subarray(at, at + span.length));
        at += span.length;
      }
      job.push();
      ctx.progress(pendingBytes);
      pending = [];
      pendingBytes = 0;
    };
    for (const span of plan.spans) {
      for (let done = 0; done < span.length; ) {
        const length = Math.min(span.length - done, chunk - pendingBytes);
        pending.push({ start: span.start + done, length });
        pendingBytes += length;
        done += length;
        if (pendingBytes >= chunk) await flush();
      }
    }
    await flush();
    job.endPass();
    return job.result();
  } finally {
    reader.close();
    job.dispose();
  }
}
