/**
 * Worker side: the bytes of one tensor's elements in logical (row-major) order, whatever the layout on disk —
 * contiguous, strided (PyTorch views, Fortran-order arrays), big-endian, inside a deflated zip entry, decoded in
 * memory (NumPy arrays inside pickles), or encoded as the values of a protobuf field (ONNX varints). Callers ask
 * for logical byte ranges and get them written into their buffer (usually WASM memory), never a whole tensor.
 */
import { closeSync, createReadStream, fstatSync, openSync, readSync } from 'node:fs';
import { createInflateRaw } from 'node:zlib';
import { isContiguous, type TensorLocation } from '../formats/checkpoint';
import { elementBytes, lookupDType } from '../formats/dtypes';
import { decodeVarint, ProtoReader, valueCursor, writeVarintBytes, type ValueCursor } from '../formats/protobuf';
import type { ByteSource } from '../source/byteSource';

/** Largest storage window a strided read holds at once. */
const GATHER_WINDOW_BYTES = 16 << 20;

export class TensorReadError extends Error {
  constructor(
    readonly code: 'READ_ERROR' | 'UNSUPPORTED_LAYOUT',
    message: string,
  ) {
    super(message);
  }
}

/** One worker's open file descriptors, by path. */
export class FileTable {
  private readonly fds = new Map<string, number>();

  fd(path: string): number {
    let fd = this.fds.get(path);
    if (fd === undefined) {
      fd = openSync(path, 'r');
      this.fds.set(path, fd);
    }
    return fd;
  }

  closeAll(): void {
    for (const fd of this.fds.values()) closeSync(fd);
    this.fds.clear();
  }
}

/** Positional reads of raw (stored) bytes. */
interface RawBytes {
  read(offset: number, target: Uint8Array): void | Promise<void>;
  close(): void;
}

export interface TensorReader {
  /** Fills `target` with the tensor's logical bytes from logical byte `start`. */
  read(start: number, target: Uint8Array): void | Promise<void>;
  close(): void;
}

export interface ReaderOptions {
  /** The caller does not care in which order elements arrive (statistics): a strided view that is a permutation of
   *  its storage is then read straight through. */
  anyOrder?: boolean;
}

export function openTensorReader(location: TensorLocation, files: FileTable, options: ReaderOptions = {}): TensorReader {
  if (location.protobufField) return new ProtobufFieldReader(location, files);
  const raw: RawBytes = location.inline
    ? new MemoryBytes(location.inline, location.offset)
    : location.deflate
      ? new DeflatedBytes(location.file, location.deflate)
      : new FileBytes(files, location.file);
  const info = lookupDType(location.dtype);
  const size = info && elementBytes(info);
  const needsElements = location.strides !== undefined || (location.bigEndian === true && size !== undefined && size > 1);
  if (needsElements && size === undefined) {
    throw new TensorReadError('UNSUPPORTED_LAYOUT', `strided or big-endian ${location.dtype} data cannot be read element by element`);
  }
  let reader: TensorReader = { read: (start, target) => raw.read(location.offset + start, target), close: () => raw.close() };
  if (location.strides && !(options.anyOrder && isPermutation(location.shape, location.strides)) && !isContiguous(location.shape, location.strides)) {
    reader = new StridedReader(raw, location.offset, size!, location.shape, location.strides);
  }
  if (location.bigEndian && size! > 1) return swapped(reader, size!);
  return reader;
}

/** Kept here too for the engine's callers; the formats own it. */
export { isContiguous };

class FileBytes implements RawBytes {
  private readonly fd: number;

  constructor(files: FileTable, private readonly path: string) {
    this.fd = files.fd(path);
  }

  read(offset: number, target: Uint8Array): void {
    let filled = 0;
    while (filled < target.length) {
      const n = readSync(this.fd, target, filled, target.length - filled, offset + filled);
      if (n === 0) throw new TensorReadError('READ_ERROR', `${this.path} ended at byte ${offset + filled}, inside a tensor`);
      filled += n;
    }
  }

  close(): void {}
}

/** Bytes already in memory; `offset` counts from the tensor's `offset` like a file would. */
class MemoryBytes implements RawBytes {
  constructor(
    private readonly bytes: Uint8Array,
    private readonly base: number,
  ) {}

  read(offset: number, target: Uint8Array): void {
    const start = offset - this.base;
    if (start < 0 || start + target.length > this.bytes.length) {
      throw new TensorReadError('READ_ERROR', `bytes ${start}..${start + target.length} are outside the ${this.bytes.length} decoded bytes`);
    }
    target.set(this.bytes.subarray(start, start + target.length));
  }

  close(): void {}
}

/** A deflated zip entry, inflated as a stream: sequential reads cost nothing extra, going back restarts. */
class DeflatedBytes implements RawBytes {
  private iterator: AsyncIterator<Buffer> | undefined;
  private position = 0;
  private carry: Buffer = Buffer.alloc(0);
  private streams: { destroy(): void }[] = [];

  constructor(
    private readonly path: string,
    private readonly entry: { dataOffset: number; compressedBytes: number },
  ) {}

  async read(offset: number, target: Uint8Array): Promise<void> {
    if (!this.iterator || offset < this.position) this.restart();
    let filled = 0;
    while (filled < target.length) {
      if (this.carry.length === 0) {
        const next = await this.iterator!.next();
        if (next.done) throw new TensorReadError('READ_ERROR', `the deflated entry in ${this.path} ended before byte ${offset + filled}`);
        this.carry = next.value;
      }
      const skip = Math.min(this.carry.length, Math.max(0, offset - this.position));
      if (skip > 0) {
        this.carry = this.carry.subarray(skip);
        this.position += skip;
        continue;
      }
      const n = Math.min(this.carry.length, target.length - filled);
      target.set(this.carry.subarray(0, n), filled);
      this.carry = this.carry.subarray(n);
      this.position += n;
      filled += n;
    }
  }

  private restart(): void {
    this.close();
    const { dataOffset, compressedBytes } = this.entry;
    const file = createReadStream(this.path, { start: dataOffset, end: dataOffset + Math.max(0, compressedBytes - 1), highWaterMark: 1 << 20 });
    const inflate = createInflateRaw();
    file.on('error', (error) => inflate.destroy(error));
    file.pipe(inflate);
    this.streams = [file, inflate];
    this.iterator = inflate[Symbol.asyncIterator]();
    this.position = 0;
    this.carry = Buffer.alloc(0);
  }

  close(): void {
    for (const stream of this.streams) stream.destroy();
    this.streams = [];
    this.iterator = undefined;
  }
}

/**
 * Elements stored as the values of a repeated protobuf field (ONNX int64_data, value_ints, unpacked floats), each
 * value giving one element group: decoded in order through the protobuf reader's bounded window. Reads go forward
 * from where the last one ended; going back restarts from the message's start.
 */
class ProtobufFieldReader implements TensorReader {
  private readonly proto: ProtoReader;
  private readonly valueBytes: number;
  private cursor!: ValueCursor;
  private position = 0;

  constructor(
    private readonly location: TensorLocation,
    files: FileTable,
  ) {
    this.proto = new ProtoReader(fileSource(files, location.file));
    this.valueBytes = lookupDType(location.dtype)?.groupBytes ?? 1;
    this.restart();
  }

  async read(start: number, target: Uint8Array): Promise<void> {
    const size = this.valueBytes;
    if (start % size !== 0 || target.length % size !== 0) {
      throw new TensorReadError('READ_ERROR', 'a read of protobuf-encoded values must cover whole values');
    }
    if (start < this.position) this.restart();
    if (start > this.position) await this.values((start - this.position) / size, () => {});
    const { encoding } = this.location.protobufField!;
    let filled = 0;
    await this.values(target.length / size, (bytes, at, length) => {
      if (encoding === 'varint') writeVarintBytes(decodeVarint(bytes, at, at + length), size, target, filled);
      else target.set(bytes.subarray(at, at + size), filled);
      filled += size;
    });
    if (this.position === this.location.bytes && (await this.proto.nextValues(this.cursor, 1, () => {})) > 0) {
      throw new TensorReadError('READ_ERROR', `the field holds more values than the shape needs (${this.location.bytes / size})`);
    }
  }

  /** Walks `count` more values; the field must have them. */
  private async values(count: number, each: (bytes: Uint8Array, at: number, length: number) => void): Promise<void> {
    const found = await this.proto.nextValues(this.cursor, count, each);
    this.position += found * this.valueBytes;
    if (found < count) {
      throw new TensorReadError('READ_ERROR', `the field holds ${this.position / this.valueBytes} values, fewer than the shape needs (${this.location.bytes / this.valueBytes})`);
    }
  }

  private restart(): void {
    const { offset, protobufField } = this.location;
    this.cursor = valueCursor(offset, offset + protobufField!.messageBytes, protobufField!.field, protobufField!.encoding);
    this.position = 0;
  }

  close(): void {}
}

/** A worker's open file as a ByteSource, for readers written against that interface. */
function fileSource(files: FileTable, path: string): ByteSource {
  const fd = files.fd(path);
  return {
    name: path,
    size: fstatSync(fd).size,
    read: async (offset, target) => {
      let filled = 0;
      while (filled < target.length) {
        const n = readSync(fd, target, filled, target.length - filled, offset + filled);
        if (n === 0) break;
        filled += n;
      }
      return filled;
    },
    close: async () => {},
  };
}

/** Gathers the elements of a strided view in logical order through bounded windows of its storage. */
class StridedReader implements TensorReader {
  constructor(
    private readonly raw: RawBytes,
    private readonly base: number,
    private readonly size: number,
    private readonly shape: readonly number[],
    private readonly strides: readonly number[],
  ) {}

  async read(start: number, target: Uint8Array): Promise<void> {
    if (start % this.size !== 0 || target.length % this.size !== 0) {
      throw new TensorReadError('READ_ERROR', 'a strided read must cover whole elements');
    }
    const count = target.length / this.size;
    const storage = storageIndices(this.shape, this.strides, start / this.size, count);
    let lo = Infinity;
    let hi = -Infinity;
    for (const s of storage) {
      if (s < lo) lo = s;
      if (s > hi) hi = s;
    }
    const windowElements = Math.max(1, Math.floor(GATHER_WINDOW_BYTES / this.size));
    for (let from = lo; from <= hi; from += windowElements) {
      const to = Math.min(hi + 1, from + windowElements);
      const window = new Uint8Array((to - from) * this.size);
      await this.raw.read(this.base + from * this.size, window);
      storage.forEach((s, i) => {
        if (s >= from && s < to) target.set(window.subarray((s - from) * this.size, (s - from + 1) * this.size), i * this.size);
      });
    }
  }

  close(): void {
    this.raw.close();
  }
}

/** Storage element index of each of `count` logical elements from logical element `first`. */
export function storageIndices(shape: readonly number[], strides: readonly number[], first: number, count: number): Float64Array {
  const out = new Float64Array(count);
  const index = new Array<number>(shape.length).fill(0);
  let rest = first;
  for (let d = shape.length - 1; d >= 0; d--) {
    index[d] = rest % shape[d]!;
    rest = Math.floor(rest / shape[d]!);
  }
  let position = index.reduce((sum, i, d) => sum + i * strides[d]!, 0);
  for (let k = 0; k < count; k++) {
    out[k] = position;
    for (let d = shape.length - 1; d >= 0; d--) {
      index[d]!++;
      position += strides[d]!;
      if (index[d]! < shape[d]!) break;
      position -= index[d]! * strides[d]!;
      index[d] = 0;
    }
  }
  return out;
}

/** The view visits every element of a contiguous storage span exactly once (a transpose, Fortran order). */
export function isPermutation(shape: readonly number[], strides: readonly number[]): boolean {
  const dims = shape.map((n, d) => ({ n, stride: strides[d]! })).filter((d) => d.n !== 1).sort((a, b) => a.stride - b.stride);
  let expected = 1;
  for (const d of dims) {
    if (d.stride !== expected) return false;
    expected *= d.n;
  }
  return true;
}

function swapped(reader: TensorReader, size: number): TensorReader {
  return {
    async read(start, target) {
      await reader.read(start, target);
      for (let i = 0; i < target.length; i += size) {
        for (let a = i, b = i + size - 1; a < b; a++, b--) {
          const t = target[a]!;
          target[a] = target[b]!;
          target[b] = t;
        }
      }
    },
    close: () => reader.close(),
  };
}
