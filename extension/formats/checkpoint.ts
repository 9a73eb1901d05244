import type { ErrorCode } from './formatError';

/** A problem confined to one tensor: the rest of the checkpoint is still analysed. */
export interface TensorProblem {
  readonly code: ErrorCode;
  readonly message: string;
}

/** One tensor as a reader found it: where its bytes are and how to read them. No values. */
export interface TensorEntry {
  readonly name: string;
  /** Canonical dtype name (aliases resolved), or the raw string when unknown (then `problem` is set). */
  readonly dtype: string;
  /** Logical shape, outer → inner (row-major). */
  readonly shape: readonly number[];
  /** Path of the file that holds the bytes. */
  readonly file: string;
  /** Absolute byte offset of the data in `file`. */
  readonly offset: number;
  readonly bytes: number;
  readonly problem?: TensorProblem;
}

export interface CheckpointFile {
  readonly path: string;
  readonly bytes: number;
}

/** Everything a header tells, before any tensor value is read. */
export interface Checkpoint {
  readonly format: 'safetensors';
  readonly files: readonly CheckpointFile[];
  readonly metadata: Readonly<Record<string, string>>;
  readonly tensors: readonly TensorEntry[];
}

export function elementCount(shape: readonly number[]): number {
  return shape.reduce((n, d) => n * d, 1);
}
