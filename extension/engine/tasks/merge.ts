/**
 * Worker side of a merge of one tensor: the base (slot 0) and every fine-tune (slot t + 1) streamed in lockstep,
 * as many passes as the method needs (selection passes for TIES and breadcrumbs, then the merging pass). The merging
 * pass writes the merged elements and the masks straight to their places in the output files, whose headers the
 * host wrote beforehand, so no tensor is ever held whole.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import type { TensorLocation } from '../../formats/checkpoint';
import { elementCount } from '../../formats/checkpoint';
import type { MergeTensorStats } from '../diffTypes';
import type { MergeJobParams } from '../wasmCore';
import { byteSpan, elementChunks } from './chunks';
import { TaskFailure, type TaskContext } from './taskContext';

/** Where the merging pass writes: absolute byte offsets of this tensor's data in each output file. */
export interface MergeTargets {
  merged?: { path: string; offset: number };
  /** One U8 plane per task, then (consensus) the consensus mask. */
  masks?: { path: string; offsets: number[] };
}

export interface MergeSpec {
  name: string;
  base: TensorLocation;
  tasks: TensorLocation[];
  params: Omit<MergeJobParams, 'dtypes' | 'elements' | 'nameHash' | 'outputs'>;
  targets: MergeTargets;
  chunkBytes: number;
}

export type MergeTaskResult = MergeTensorStats;

export async function runMerge(spec: MergeSpec, ctx: TaskContext): Promise<MergeTaskResult> {
  const inputs = [spec.base, ...spec.tasks];
  const elements = elementCount(spec.base.shape);
  if (inputs.some((t) => elementCount(t.shape) !== elements)) throw new TaskFailure('INVALID_ARGUMENT', `the fine-tunes' "${spec.name}" differ in size from the base's`);
  const dtypes = inputs.map((t) => t.dtype);
  const { merged, masks } = spec.targets;
  const job = ctx.core.beginMerge({
    ...spec.params, dtypes, elements, nameHash: fnv1a64(spec.name), outputs: { merged: merged !== undefined, masks: masks !== undefined },
  });
  const readers = inputs.map((t) => ctx.reader(t));
  const files = new Map<string, number>();
  const fd = (path: string): number => {
    let handle = files.get(path);
    if (handle === undefined) files.set(path, (handle = openSync(path, 'r+')));
    return handle;
  };
  try {
    let firstPass = true;
    do {
      for (const chunk of elementChunks(0, elements, dtypes, spec.chunkBytes)) {
        ctx.checkCancelled();
        let read = 0;
        for (let slot = 0; slot < inputs.length; slot++) {
          const span = byteSpan(dtypes[slot]!, chunk.first, chunk.count);
          await readers[slot]!.read(span.start, ctx.core.input(span.length, slot));
          read += span.length;
        }
        job.push();
        if (firstPass) ctx.progress(read);
        const out = job.output();
        if (out.length === 0) continue;
        let at = 0;
        if (merged) {
          const span = byteSpan(spec.base.dtype, chunk.first, chunk.count);
          writeAll(fd(merged.path), out.subarray(0, span.length), merged.offset + span.start);
          at = span.length;
        }
        for (const offset of masks?.offsets ?? []) {
          writeAll(fd(masks!.path), out.subarray(at, at + chunk.count), offset + chunk.first);
          at += chunk.count;
        }
      }
      firstPass = false;
    } while (job.endPass());
    return job.result();
  } finally {
    job.dispose();
    readers.forEach((r) => r.close());
    for (const handle of files.values()) closeSync(handle);
  }
}

function writeAll(fd: number, bytes: Uint8Array, position: number): void {
  for (let done = 0; done < bytes.length; ) done += writeSync(fd, bytes, done, bytes.length - done, position + done);
}

/** FNV-1a (64-bit) of the UTF-8 name: part of the DARE stream key, so masks differ per tensor. */
export function fnv1a64(text: string): bigint {
  let hash = 0xcbf29ce484222325n;
  for (const byte of new TextEncoder().encode(text)) hash = BigInt.asUintN(64, (hash ^ BigInt(byte)) * 0x100000001b3n);
  return hash;
}
