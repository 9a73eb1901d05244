import type { ErrorCode } from './formatError';

/** A problem confined to one tensor: the rest of the checkpoint is still analysed. */
export interface TensorProblem {
  readonly code: ErrorCode;
  readonly message: string;
}

/**
 * Where a tensor's bytes are and how its elements are laid out: everything a worker needs to stream the elements
 * in logical (row-major, outer → inner) order.
 */
export interface TensorLocation {
  /** Canonical dtype name (safetensors spelling, or the GGUF type name such as Q4_K). */
  readonly dtype: string;
  /** Logical shape, outer → inner (row-major). */
  readonly shape: readonly number[];
  /** Path of the file that holds the bytes. */
  readonly file: string;
  /** Absolute byte offset of element 0 in `file` (within the decompressed entry when `deflate` is set; where the
   *  message starts when `protobufField` is set). */
  readonly offset: number;
  /** Bytes of the tensor's elements: element count × element size. */
  readonly bytes: number;
  /** Element strides, outer → inner, when the elements are not stored row-major and contiguous (a PyTorch view, a
   *  Fortran-order array). Absent means contiguous. */
  readonly strides?: readonly number[];
  /** Multi-byte elements stored big-endian (PyTorch `byteorder` "big", NumPy `>f4`). */
  readonly bigEndian?: boolean;
  /** The bytes sit in a deflate-compressed zip entry starting at `dataOffset` in `file`. */
  readonly deflate?: { readonly dataOffset: number; readonly compressedBytes: number };
  /** The bytes were decoded from the file rather than stored in place (a NumPy array pickled as latin-1 text inside
   *  a PyTorch pickle); `offset` is then the offset of the pickle that holds them. Bounded by the pickle size cap. */
  readonly inline?: Uint8Array;
  /** The elements are the values of repeated scalar field `field` of the protobuf message of `messageBytes` bytes
   *  at `offset` (an ONNX TensorProto's int64_data, a Constant node's value_ints, unpacked floats…), packed or not:
   *  each value, decoded in order, gives the low bytes of one element group, little-endian. `bytes` counts the
   *  decoded bytes. */
  readonly protobufField?: { readonly messageBytes: number; readonly field: number; readonly encoding: 'varint' | 'fixed32' | 'fixed64' };
}

/** One tensor as a reader found it: where its bytes are and how to read them. No values. */
export interface TensorEntry extends TensorLocation {
  readonly name: string;
  /** Set when the tensor cannot be analysed (unknown dtype, …); `dtype` then holds the raw type text. */
  readonly problem?: TensorProblem;
}

export interface CheckpointFile {
  readonly path: string;
  readonly bytes: number;
}

/** Something in the file a user should know about although it did not stop reading (a pickle GLOBAL, …). */
export interface Finding {
  readonly code: string;
  readonly message: string;
  readonly file: string;
}

export type CheckpointFormat = 'safetensors' | 'gguf' | 'pytorch' | 'onnx' | 'numpy';

/** Everything a header tells, before any tensor value is read. */
export interface Checkpoint {
  readonly format: CheckpointFormat;
  readonly files: readonly CheckpointFile[];
  readonly metadata: Readonly<Record<string, string>>;
  readonly tensors: readonly TensorEntry[];
  readonly findings?: readonly Finding[];
  /** The `*.index.json` the shards were found through, when there was one (an input too, though it holds no tensor). */
  readonly index?: string;
}

/**
 * Sets a metadata entry as an own property. Keys come from files: plain assignment would make "__proto__" set the
 * prototype instead of adding a key.
 */
export function setMetadataEntry(into: Record<string, string>, key: string, value: string): void {
  Object.defineProperty(into, key, { value, writable: true, enumerable: true, configurable: true });
}

/** Copies the entries of `from` whose keys `into` does not have yet (the first file's value wins); inherited members
 *  such as "constructor" do not count as present. */
export function addMissingMetadata(into: Record<string, string>, from: Readonly<Record<string, string>>): void {
  for (const [key, value] of Object.entries(from)) if (!Object.hasOwn(into, key)) setMetadataEntry(into, key, value);
}

export function elementCount(shape: readonly number[]): number {
  return shape.reduce((n, d) => n * d, 1);
}

/** Rows and columns of a tensor seen as a matrix: `[dim0, product of the rest]`; 1-D is one row, 0-D one cell. */
export function matrixShape(shape: readonly number[]): { rows: number; cols: number } {
  if (shape.length === 0) return { rows: 1, cols: 1 };
  if (shape.length === 1) return { rows: 1, cols: shape[0]! };
  return { rows: shape[0]!, cols: elementCount(shape.slice(1)) };
}

/** Row-major strides: the layout needs no gathering. Dimensions of size 1 may have any stride. */
export function isContiguous(shape: readonly number[], strides: readonly number[]): boolean {
  let expected = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    if (shape[d] === 1) continue;
    if (strides[d] !== expected) return false;
    expected *= shape[d]!;
  }
  return true;
}
