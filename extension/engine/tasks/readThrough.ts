/**
 * The benchmark baseline of lockstep streaming: the same positional reads into the same WASM input slots as a diff
 * or a merge, and no computation; with `copyTo`, slot 0's bytes are also written out at the same positions (a raw
 * copy, the baseline of a merge). Throughput figures of diffs and merges are quoted against it.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import type { TensorLocation } from '../../formats/checkpoint';
import { elementCount } from '../../formats/checkpoint';
import { byteSpan, elementChunks } from './chunks';
import type { TaskContext } from './taskContext';

export interface ReadThroughSpec {
  locations: TensorLocation[];
  chunkBytes: number;
  copyTo?: { path: string; offset: number };
}

/** Bytes read. */
export type ReadThroughResult = number;

export async function runReadThrough(spec: ReadThroughSpec, ctx: TaskContext): Promise<ReadThroughResult> {
  const dtypes = spec.locations.map((t) => t.dtype);
  const readers = spec.locations.map((t) => ctx.reader(t));
  const out = spec.copyTo && openSync(spec.copyTo.path, 'r+');
  let total = 0;
  try {
    for (const chunk of elementChunks(0, elementCount(spec.locations[0]!.shape), dtypes, spec.chunkBytes)) {
      ctx.checkCancelled();
      for (let slot = 0; slot < readers.length; slot++) {
        const span = byteSpan(dtypes[slot]!, chunk.first, chunk.count);
        await readers[slot]!.read(span.start, ctx.core.input(span.length, slot));
        total += span.length;
        ctx.progress(span.length);
        if (slot === 0 && out !== undefined) {
          const bytes = ctx.core.input(span.length, 0);
          for (let done = 0; done < bytes.length; ) done += writeSync(out, bytes, done, bytes.length - done, spec.copyTo!.offset + span.start + done);
        }
      }
    }
    return total;
  } finally {
    readers.forEach((r) => r.close());
    if (out !== undefined) closeSync(out);
  }
}
