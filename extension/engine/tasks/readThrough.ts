/**
 * The benchmark baseline of lockstep streaming: the same positional reads into the same WASM input slots as a diff
 * or a merge, and no computation. Throughput figures of diffs and merges are quoted against it.
 */
import type { TensorLocation } from '../../formats/checkpoint';
import { elementCount } from '../../formats/checkpoint';
import { byteSpan, elementChunks } from './chunks';
import type { TaskContext } from './taskContext';

export interface ReadThroughSpec {
  locations: TensorLocation[];
  chunkBytes: number;
}

/** Bytes read. */
export type ReadThroughResult = number;

export async function runReadThrough(spec: ReadThroughSpec, ctx: TaskContext): Promise<ReadThroughResult> {
  const dtypes = spec.locations.map((t) => t.dtype);
  const readers = spec.locations.map((t) => ctx.reader(t));
  let total = 0;
  try {
    for (const chunk of elementChunks(0, elementCount(spec.locations[0]!.shape), dtypes, spec.chunkBytes)) {
      ctx.checkCancelled();
      for (let slot = 0; slot < readers.length; slot++) {
        const span = byteSpan(dtypes[slot]!, chunk.first, chunk.count);
        await readers[slot]!.read(span.start, ctx.core.input(span.length, slot));
        total += span.length;
        ctx.progress(span.length);
      }
    }
    return total;
  } finally {
    readers.forEach((r) => r.close());
  }
}
