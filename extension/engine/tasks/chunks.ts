/**
 * Cutting element ranges into chunks that every input can read: each chunk holds whole element groups (bytes) of
 * every dtype involved, and at most about `chunkBytes` bytes of the widest input. Used by tasks that stream one
 * tensor by element range (tiles, outliers) or several in lockstep (diffs, merges).
 */
import { lookupDType } from '../../formats/dtypes';
import { TaskFailure } from './taskContext';

export interface ElementChunk {
  /** First element (logical, row-major index). */
  first: number;
  count: number;
}

function groupOf(dtype: string): { elements: number; bytes: number } {
  const info = lookupDType(dtype);
  if (!info) throw new TaskFailure('UNSUPPORTED_DTYPE', `the engine cannot decode dtype ${dtype}`);
  return { elements: info.groupElements, bytes: info.groupBytes };
}

export function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

/** Elements per chunk: a common multiple of every dtype's group, sized by the widest dtype. */
export function chunkElements(dtypes: readonly string[], chunkBytes: number): number {
  const groups = dtypes.map(groupOf);
  const unit = groups.reduce((l, g) => (l / gcd(l, g.elements)) * g.elements, 1);
  const bytesPerUnit = Math.max(...groups.map((g) => (unit / g.elements) * g.bytes));
  return unit * Math.max(1, Math.floor(chunkBytes / bytesPerUnit));
}

/** Chunks covering elements [first, end); `first` must start a group of every dtype (checked). */
export function* elementChunks(first: number, end: number, dtypes: readonly string[], chunkBytes: number): Generator<ElementChunk> {
  for (const dtype of dtypes) {
    if (first % groupOf(dtype).elements !== 0) {
      throw new TaskFailure('INVALID_ARGUMENT', `element ${first} does not start a whole ${dtype} group`);
    }
  }
  const step = chunkElements(dtypes, chunkBytes);
  for (let at = first; at < end; at += step) yield { first: at, count: Math.min(step, end - at) };
}

/** Logical byte range of elements [first, first + count) of a dtype: whole groups (the last may be partial only at
 *  the end of the tensor, where the stored group is whole). */
export function byteSpan(dtype: string, first: number, count: number): { start: number; length: number } {
  const g = groupOf(dtype);
  const start = (first / g.elements) * g.bytes;
  const length = Math.ceil(count / g.elements) * g.bytes;
  return { start, length };
}
