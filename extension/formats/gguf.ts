/**
 * GGUF, ggml's single-file format (v2 and v3; spec: ggml/docs/gguf.md): a fixed header, typed key–value metadata,
 * tensor infos (ggml dimensions innermost first), then tensor data at `general.alignment` (default 32). Split sets
 * (`name-00001-of-00003.gguf`, llama.cpp's gguf-split) open as one checkpoint from any of their files.
 *
 * Every count and length is checked against the bytes the file still holds before anything is allocated or read,
 * and the header is streamed through a bounded window, so a hostile file cannot make the reader allocate or loop
 * more than its own size allows. Big-endian files (v3) are read too: their plain tensors are marked `bigEndian`;
 * their quantized blocks get a per-tensor problem.
 */
import { basename, dirname, join } from 'node:path';
import type { ByteSource, SourceOpener } from '../source/byteSource';
import { addMissingMetadata, setMetadataEntry, type CheckpointFile, type Finding, type TensorEntry } from './checkpoint';
import { lookupDType } from './dtypes';
import { FormatError, type ErrorCode } from './formatError';
import type { CheckpointPart, FormatReader } from './formatReader';

/** "GGUF" as stored: the magic is written as these four bytes whatever the file's byte order. */
const MAGIC = [0x47, 0x47, 0x55, 0x46];
/** magic, version, tensor_count, kv_count. */
const FIXED_HEADER_BYTES = 24;
/** GGML_MAX_DIMS. */
export const MAX_DIMS = 4;
/** Keys and tensor names longer than this are refused (the spec's limit for keys). */
export const MAX_NAME_BYTES = 65535;
/** Arrays nested deeper than this are refused. */
const MAX_ARRAY_DEPTH = 8;
/** A metadata string longer than this is kept truncated. */
const MAX_KEPT_STRING_BYTES = 1 << 20;
/** Arrays up to this many elements are shown whole; longer ones as a count and their first few elements. */
const ARRAY_SHOWN_WHOLE = 16;
const ARRAY_SUMMARY_ELEMENTS = 3;
/** A string element inside an array is shown with at most this many characters. */
const ARRAY_STRING_CHARS = 200;
export const DEFAULT_ALIGNMENT = 32;
/** The header is streamed through a window of this size. */
const WINDOW_BYTES = 1 << 20;
/** Smallest possible key–value pair (empty key, u8 value) and tensor info (empty name, no dimension). */
const MIN_KV_BYTES = 8 + 4 + 1;
const MIN_TENSOR_INFO_BYTES = 8 + 4 + 4 + 8;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const SPLIT_NAME = /^(.*)-(\d{5})-of-(\d{5})\.gguf$/i;

/** GGUF metadata value types (gguf_metadata_value_type). */
export enum ValueType {
  U8 = 0, I8 = 1, U16 = 2, I16 = 3, U32 = 4, I32 = 5, F32 = 6, BOOL = 7, STRING = 8, ARRAY = 9, U64 = 10, I64 = 11, F64 = 12,
}
const VALUE_TYPE_NAMES = ['u8', 'i8', 'u16', 'i16', 'u32', 'i32', 'f32', 'bool', 'string', 'array', 'u64', 'i64', 'f64'];
const FIXED_SIZES = [1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8];

/**
 * ggml_type codes, by position: the GGUF type name (the dtype of its tensors; plain types in safetensors spelling),
 * or null for codes removed from ggml (Q4_2, Q4_3 and the repacked Q4_0_x_y / IQ4_NL_x_y).
 */
export const GGML_TYPES: readonly (string | null)[] = [
  'F32', 'F16', 'Q4_0', 'Q4_1', null, null, 'Q5_0', 'Q5_1', 'Q8_0', 'Q8_1', 'Q2_K', 'Q3_K', 'Q4_K', 'Q5_K', 'Q6_K',
  'Q8_K', 'IQ2_XXS', 'IQ2_XS', 'IQ3_XXS', 'IQ1_S', 'IQ4_NL', 'IQ3_S', 'IQ2_S', 'IQ4_XS', 'I8', 'I16', 'I32', 'I64',
  'F64', 'IQ1_M', 'BF16', null, null, null, 'TQ1_0', 'TQ2_0', null, null, null, 'MXFP4', 'NVFP4', 'Q1_0', 'Q2_0',
];

/** A scalar metadata value as stored, for the keys the reader itself interprets. */
export interface ScalarValue {
  type: ValueType;
  value: number | bigint | boolean | string;
}

/** One GGUF file's header. */
export interface GgufHeader {
  version: number;
  bigEndian: boolean;
  /** Every key, its value rendered as text (large arrays summarized), in file order. */
  metadata: Record<string, string>;
  /** Scalar values with their stored types. */
  scalars: Map<string, ScalarValue>;
  alignment: number;
  /** Absolute offset of the tensor data. */
  dataStart: number;
  tensors: TensorEntry[];
}

type Fail = (code: ErrorCode, message: string, tensor?: string) => never;

/** Positional reads of the header through a bounded window, with the file size as the bound of every length. */
class Cursor {
  private buffer = new Uint8Array(0);
  private view = new DataView(this.buffer.buffer);
  private windowStart = 0;
  private filled = 0;
  position = 0;
  /** What is being read, for the message when the file ends too early. */
  context = 'the header';

  constructor(
    private readonly source: ByteSource,
    private readonly fail: Fail,
    public littleEndian = true,
  ) {}

  get size(): number {
    return this.source.size;
  }

  get remaining(): number {
    return this.source.size - this.position;
  }

  /** Fails unless `n` more bytes exist. */
  check(n: number | bigint): void {
    if (BigInt(n) > BigInt(this.remaining)) {
      this.fail('TRUNCATED_HEADER', `the file ends at byte ${this.size}, inside ${this.context} (${n} more bytes needed at byte ${this.position})`);
    }
  }

  /** Makes the next `n` (at most the window) bytes available, consumes them and returns their index in the window. */
  private async at(n: number): Promise<number> {
    this.check(n);
    if (this.position < this.windowStart || this.position + n > this.windowStart + this.filled) {
      const length = Math.min(Math.max(WINDOW_BYTES, n), this.remaining);
      if (this.buffer.length < length) {
        this.buffer = new Uint8Array(length);
        this.view = new DataView(this.buffer.buffer);
      }
      const got = await this.source.read(this.position, this.buffer.subarray(0, length));
      if (got !== length) throw new FormatError('READ_ERROR', `short read at byte ${this.position}: ${got} of ${length}`, this.source.name);
      this.windowStart = this.position;
      this.filled = length;
    }
    const index = this.position - this.windowStart;
    this.position += n;
    return index;
  }

  async u8(): Promise<number> {
    return this.view.getUint8(await this.at(1));
  }

  async u16(): Promise<number> {
    return this.view.getUint16(await this.at(2), this.littleEndian);
  }

  async u32(): Promise<number> {
    return this.view.getUint32(await this.at(4), this.littleEndian);
  }

  async u64(): Promise<bigint> {
    return this.view.getBigUint64(await this.at(8), this.littleEndian);
  }

  /** A fixed-size scalar of metadata type `type`. */
  async scalar(type: ValueType): Promise<number | bigint | boolean> {
    const i = await this.at(FIXED_SIZES[type]!);
    const v = this.view;
    const le = this.littleEndian;
    switch (type) {
      case ValueType.U8: return v.getUint8(i);
      case ValueType.I8: return v.getInt8(i);
      case ValueType.U16: return v.getUint16(i, le);
      case ValueType.I16: return v.getInt16(i, le);
      case ValueType.U32: return v.getUint32(i, le);
      case ValueType.I32: return v.getInt32(i, le);
      case ValueType.F32: return v.getFloat32(i, le);
      case ValueType.BOOL: {
        const b = v.getUint8(i);
        if (b > 1) this.fail('INVALID_METADATA', `${this.context}: a bool must be 0 or 1, not ${b}`);
        return b === 1;
      }
      case ValueType.U64: return v.getBigUint64(i, le);
      case ValueType.I64: return v.getBigInt64(i, le);
      default: return v.getFloat64(i, le);
    }
  }

  /** The next `n` bytes (any length the file holds), copied. */
  async bytes(n: number): Promise<Uint8Array> {
    if (n <= WINDOW_BYTES) {
      const i = await this.at(n);
      return this.buffer.slice(i, i + n);
    }
    this.check(n);
    const out = new Uint8Array(n);
    const got = await this.source.read(this.position, out);
    if (got !== n) throw new FormatError('READ_ERROR', `short read at byte ${this.position}: ${got} of ${n}`, this.source.name);
    this.position += n;
    return out;
  }

  skip(n: number | bigint): void {
    this.check(n);
    this.position += Number(n);
  }

  /** Skips `n` gguf_strings; lengths already in the window are read without awaiting (tokenizer vocabularies). */
  async skipStrings(n: number): Promise<void> {
    for (let i = 0; i < n; i++) {
      const at = this.position - this.windowStart;
      if (at < 0 || at + 8 > this.filled) {
        this.skip(await this.stringLength());
        continue;
      }
      const length = this.view.getBigUint64(at, this.littleEndian);
      this.position += 8;
      this.skip(length);
    }
  }

  /** A gguf_string's length, checked against the bytes left and against `limit` (failing with `code`). */
  async stringLength(limit = Infinity, code: ErrorCode = 'INVALID_KEY'): Promise<number> {
    const length = await this.u64();
    if (limit !== Infinity && length > BigInt(limit)) return this.fail(code, `${this.context} is ${length} bytes long, more than ${limit}`);
    this.check(length);
    return Number(length);
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });
const lenientUtf8 = new TextDecoder('utf-8');

/** Shortest decimal that reads back as the same f32. */
function formatF32(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  for (let digits = 1; digits < 9; digits++) {
    const text = x.toPrecision(digits);
    if (Math.fround(Number(text)) === x) return String(Number(text));
  }
  return String(x);
}

function renderScalar(type: ValueType, value: number | bigint | boolean): string {
  return type === ValueType.F32 ? formatF32(value as number) : String(value);
}

/** Reads one metadata value of `type`: its rendering, and the value itself when it is a scalar. */
async function readValue(cursor: Cursor, type: ValueType, fail: Fail, depth = 0): Promise<{ text: string; scalar?: ScalarValue }> {
  if (type === ValueType.STRING) {
    const length = await cursor.stringLength();
    const kept = Math.min(length, MAX_KEPT_STRING_BYTES);
    let text = lenientUtf8.decode(await cursor.bytes(kept));
    cursor.skip(length - kept);
    if (kept < length) text += `… (${length} bytes)`;
    return { text, scalar: { type, value: text } };
  }
  if (type === ValueType.ARRAY) return { text: await readArray(cursor, fail, depth + 1) };
  if (!(type >= 0 && type <= ValueType.F64)) return fail('UNKNOWN_VALUE_TYPE', `${cursor.context} has value type ${type}, not one of GGUF's 0–12`);
  const value = await cursor.scalar(type);
  return { text: renderScalar(type, value), scalar: { type, value } };
}

/** An array: `[a, b]` when short, `[N × type: a, b, c, …]` when long; elements past the shown ones are skipped. */
async function readArray(cursor: Cursor, fail: Fail, depth: number): Promise<string> {
  if (depth > MAX_ARRAY_DEPTH) return fail('INVALID_METADATA', `${cursor.context} nests arrays more than ${MAX_ARRAY_DEPTH} deep`);
  const type = (await cursor.u32()) as ValueType;
  if (!(type >= 0 && type <= ValueType.F64)) return fail('UNKNOWN_VALUE_TYPE', `${cursor.context} is an array of value type ${type}, not one of GGUF's 0–12`);
  const count = await cursor.u64();
  // Every element takes at least its fixed size, 8 bytes (a string) or 12 (an array): bound the count by the file.
  const minimum = type === ValueType.STRING ? 8n : type === ValueType.ARRAY ? 12n : BigInt(FIXED_SIZES[type]!);
  if (count * minimum > BigInt(cursor.remaining)) {
    return fail('TRUNCATED_HEADER', `${cursor.context} declares ${count} elements of ${VALUE_TYPE_NAMES[type]}, more than the ${cursor.remaining} bytes left can hold`);
  }
  const n = Number(count);
  const whole = n <= ARRAY_SHOWN_WHOLE;
  const shown = whole ? n : ARRAY_SUMMARY_ELEMENTS;
  const items: string[] = [];
  for (let i = 0; i < shown; i++) {
    const { text } = await readValue(cursor, type, fail, depth);
    items.push(type === ValueType.STRING ? JSON.stringify(text.length > ARRAY_STRING_CHARS ? text.slice(0, ARRAY_STRING_CHARS) + '…' : text) : text);
  }
  await skipValues(cursor, type, n - shown, fail, depth);
  return whole ? `[${items.join(', ')}]` : `[${n} × ${VALUE_TYPE_NAMES[type]}: ${items.join(', ')}, …]`;
}

/** Skips `n` values of `type` without rendering them. */
async function skipValues(cursor: Cursor, type: ValueType, n: number, fail: Fail, depth: number): Promise<void> {
  if (type === ValueType.STRING) {
    await cursor.skipStrings(n);
  } else if (type === ValueType.ARRAY) {
    for (let i = 0; i < n; i++) await readArray(cursor, fail, depth + 1);
  } else {
    cursor.skip(BigInt(n) * BigInt(FIXED_SIZES[type]!));
  }
}

/** Reads and validates one GGUF file's header. */
export async function readGgufHeader(source: ByteSource): Promise<GgufHeader> {
  const file = source.name;
  const fail: Fail = (code, message, tensor) => {
    throw new FormatError(code, message, file, tensor);
  };
  if (source.size < FIXED_HEADER_BYTES) fail('HEADER_TOO_SMALL', `the file has ${source.size} bytes, fewer than GGUF's ${FIXED_HEADER_BYTES}-byte header`);
  const cursor = new Cursor(source, fail);
  const magic = await cursor.bytes(4);
  if (!MAGIC.every((b, i) => magic[i] === b)) fail('INVALID_MAGIC', `the file does not start with "GGUF" (found bytes ${[...magic].map((b) => b.toString(16).padStart(2, '0')).join(' ')})`);
  let version = await cursor.u32();
  // A big-endian writer stores the version byte-swapped: its low 16 bits read as zero.
  const bigEndian = (version & 0xffff) === 0;
  if (bigEndian) {
    cursor.littleEndian = false;
    cursor.position = 4;
    version = await cursor.u32();
  }
  if (version !== 2 && version !== 3) {
    fail('UNSUPPORTED_VERSION', version === 1 ? 'GGUF v1 (32-bit counts) is not supported: convert the file with a current llama.cpp' : `GGUF version ${version} is not one Weightscope reads (2 and 3)`);
  }
  const tensorCount = await cursor.u64();
  const kvCount = await cursor.u64();
  const left = BigInt(source.size - FIXED_HEADER_BYTES);
  if (kvCount * BigInt(MIN_KV_BYTES) > left) fail('COUNT_TOO_LARGE', `the header declares ${kvCount} metadata entries, more than a ${source.size}-byte file can hold`);
  if (tensorCount * BigInt(MIN_TENSOR_INFO_BYTES) > left) fail('COUNT_TOO_LARGE', `the header declares ${tensorCount} tensors, more than a ${source.size}-byte file can hold`);

  const metadata: Record<string, string> = {};
  const scalars = new Map<string, ScalarValue>();
  for (let i = 0; i < Number(kvCount); i++) {
    cursor.context = `the key of metadata entry ${i}`;
    const key = decodeName(await cursor.bytes(await cursor.stringLength(MAX_NAME_BYTES)), 'INVALID_KEY', `the key of metadata entry ${i}`, fail);
    if (key === '') fail('INVALID_KEY', `metadata entry ${i} has an empty key`);
    if (Object.hasOwn(metadata, key)) fail('DUPLICATE_KEY', `the metadata key "${key}" appears twice`);
    cursor.context = `the value of "${key}"`;
    const type = (await cursor.u32()) as ValueType;
    const { text, scalar } = await readValue(cursor, type, fail);
    setMetadataEntry(metadata, key, text);
    if (scalar) scalars.set(key, scalar);
  }
  const alignment = readAlignment(scalars, fail);

  const infos: RawInfo[] = [];
  const names = new Set<string>();
  for (let i = 0; i < Number(tensorCount); i++) {
    cursor.context = `the name of tensor ${i}`;
    const name = decodeName(await cursor.bytes(await cursor.stringLength(MAX_NAME_BYTES, 'INVALID_TENSOR_INFO')), 'INVALID_TENSOR_INFO', `the name of tensor ${i}`, fail);
    if (names.has(name)) fail('DUPLICATE_TENSOR', `the file names "${name}" twice`, name);
    names.add(name);
    cursor.context = `the info of tensor "${name}"`;
    const nDims = await cursor.u32();
    if (nDims > MAX_DIMS) fail('INVALID_SHAPE', `${nDims} dimensions, more than ggml's ${MAX_DIMS}`, name);
    const dims: bigint[] = [];
    for (let d = 0; d < nDims; d++) dims.push(await cursor.u64());
    const type = await cursor.u32();
    const offset = await cursor.u64();
    infos.push({ name, dims, type, offset });
  }
  const infoEnd = cursor.position;
  const dataStart = Math.ceil(infoEnd / alignment) * alignment;
  const tensors = infos.map((info) => tensorEntry(info, { file, dataStart, alignment, size: source.size, bigEndian }, fail));
  checkOverlaps(tensors, fail);
  return { version, bigEndian, metadata, scalars, alignment, dataStart, tensors };
}

interface RawInfo {
  name: string;
  dims: bigint[];
  type: number;
  offset: bigint;
}

function decodeName(bytes: Uint8Array, code: ErrorCode, what: string, fail: Fail): string {
  try {
    return utf8.decode(bytes);
  } catch {
    return fail(code, `${what} is not valid UTF-8`);
  }
}

/** `general.alignment`: a u32, a nonzero power of two (ggml's rule; the spec's values are multiples of 8). */
function readAlignment(scalars: Map<string, ScalarValue>, fail: Fail): number {
  const stored = scalars.get('general.alignment');
  if (!stored) return DEFAULT_ALIGNMENT;
  const value = stored.value;
  if (stored.type !== ValueType.U32 || typeof value !== 'number' || value === 0 || (value & (value - 1)) !== 0) {
    return fail('INVALID_ALIGNMENT', `general.alignment must be a u32 power of two, not ${String(value)} (${VALUE_TYPE_NAMES[stored.type] ?? stored.type})`);
  }
  return value;
}

/** The tensor entry of one info: dtype, logical shape (ggml's dimensions reversed), absolute offset, bytes. */
function tensorEntry(info: RawInfo, file: { file: string; dataStart: number; alignment: number; size: number; bigEndian: boolean }, fail: Fail): TensorEntry {
  const { name, dims, type, offset } = info;
  if (dims.some((d) => d > MAX_SAFE)) fail('INVALID_SHAPE', `a dimension exceeds 2^53 − 1 (${dims.join(' × ')})`, name);
  if (offset % BigInt(file.alignment) !== 0n) fail('INVALID_OFFSETS', `offset ${offset} is not a multiple of the alignment ${file.alignment}`, name);
  if (offset > BigInt(file.size)) fail('INVALID_OFFSETS', `offset ${offset} lies past the end of the ${file.size}-byte file`, name);
  const shape = dims.map(Number).reverse();
  const base = { name, shape, file: file.file, offset: file.dataStart + Number(offset) };
  const typeName = GGML_TYPES[type];
  const dtypeInfo = typeName ? lookupDType(typeName) : undefined;
  if (!typeName || !dtypeInfo) {
    const what = typeName === null ? 'a type removed from ggml' : 'not a ggml type Weightscope knows';
    return { ...base, dtype: `GGML_TYPE_${type}`, bytes: 0, problem: { code: 'UNSUPPORTED_DTYPE', message: `ggml type ${type} is ${what}` } };
  }
  const elements = dims.reduce((n, d) => n * d, 1n);
  const inner = dims[0] ?? 1n;
  if (inner % BigInt(dtypeInfo.groupElements) !== 0n) {
    fail('INVALID_SHAPE', `the innermost dimension ${inner} is not a multiple of ${typeName}'s block of ${dtypeInfo.groupElements}`, name);
  }
  const bytes = (elements / BigInt(dtypeInfo.groupElements)) * BigInt(dtypeInfo.groupBytes);
  if (bytes > MAX_SAFE || BigInt(base.offset) + bytes > MAX_SAFE) fail('SIZE_OVERFLOW', `${dims.join(' × ')} elements of ${typeName} are too large to address`, name);
  const entry: TensorEntry = { ...base, dtype: typeName, bytes: Number(bytes), ...(file.bigEndian && dtypeInfo.groupBytes > 1 ? { bigEndian: true } : {}) };
  const end = base.offset + Number(bytes);
  if (end > file.size) {
    return { ...entry, problem: { code: 'TRUNCATED_FILE', message: `the data runs to byte ${end} but the file ends at ${file.size}` } };
  }
  if (file.bigEndian && dtypeInfo.kind === 'quant') {
    return { ...entry, problem: { code: 'UNSUPPORTED_LAYOUT', message: `${typeName} blocks of a big-endian GGUF file are not supported` } };
  }
  return entry;
}

/** Tensors must not share bytes (holes are allowed: padding). */
function checkOverlaps(tensors: readonly TensorEntry[], fail: Fail): void {
  const sized = tensors.filter((t) => t.bytes > 0).sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < sized.length; i++) {
    const previous = sized[i - 1]!;
    if (sized[i]!.offset < previous.offset + previous.bytes) {
      fail('INVALID_OFFSETS', `"${sized[i]!.name}" starts at byte ${sized[i]!.offset}, inside "${previous.name}" (bytes ${previous.offset}–${previous.offset + previous.bytes})`, sized[i]!.name);
    }
  }
}

async function withSource<T>(path: string, opener: SourceOpener, read: (source: ByteSource) => Promise<T>): Promise<T> {
  const source = await opener.open(path);
  try {
    return await read(source);
  } finally {
    await source.close();
  }
}

function splitNumber(header: GgufHeader, key: string): number | undefined {
  const value = header.scalars.get(key)?.value;
  return typeof value === 'number' ? value : typeof value === 'bigint' ? Number(value) : undefined;
}

/** The files of the split set `path` belongs to, in order; one path when it is not (recognisably) part of one. */
export function splitSiblings(path: string): string[] | undefined {
  const match = SPLIT_NAME.exec(basename(path));
  if (!match) return undefined;
  const count = Number(match[3]);
  if (count < 1) return undefined;
  return Array.from({ length: count }, (_, i) => join(dirname(path), `${match[1]}-${String(i + 1).padStart(5, '0')}-of-${match[3]}.gguf`));
}

/** Opens `path`, and when it is one file of a split set, every file of the set as one part. */
async function openGguf(path: string, opener: SourceOpener): Promise<CheckpointPart> {
  const first = await withSource(path, opener, async (s) => ({ header: await readGgufHeader(s), bytes: s.size }));
  const count = splitNumber(first.header, 'split.count');
  if (count === undefined || count <= 1) return part([{ path, ...first }]);
  const invalid = (message: string, file = path): never => {
    throw new FormatError('INVALID_SPLIT', message, file);
  };
  const siblings = splitSiblings(path);
  if (!siblings) {
    const findings: Finding[] = [{
      code: 'PARTIAL_SPLIT',
      message: `this file is split ${(splitNumber(first.header, 'split.no') ?? 0) + 1} of ${count}, but its name does not follow "…-0000k-of-0000n.gguf", so the other splits cannot be found`,
      file: path,
    }];
    return { ...part([{ path, ...first }]), findings };
  }
  if (siblings.length !== count) invalid(`the name says ${siblings.length} splits but split.count is ${count}`);
  const files: { path: string; header: GgufHeader; bytes: number }[] = [];
  for (const [i, sibling] of siblings.entries()) {
    if (sibling === path) {
      files.push({ path, ...first });
      continue;
    }
    if (!(await opener.exists(sibling))) {
      throw new FormatError('MISSING_SHARD', `split ${i + 1} of ${count} (${basename(sibling)}) does not exist`, path);
    }
    files.push({ path: sibling, ...(await withSource(sibling, opener, async (s) => ({ header: await readGgufHeader(s), bytes: s.size }))) });
  }
  for (const [i, f] of files.entries()) {
    if (splitNumber(f.header, 'split.count') !== count) invalid(`split.count is ${splitNumber(f.header, 'split.count')}, not ${count} as in ${basename(path)}`, f.path);
    if (splitNumber(f.header, 'split.no') !== i) invalid(`split.no is ${splitNumber(f.header, 'split.no')} but the name makes it split ${i} (0-based)`, f.path);
  }
  const declared = splitNumber(files[0]!.header, 'split.tensors.count');
  const total = files.reduce((n, f) => n + f.header.tensors.length, 0);
  if (declared !== undefined && declared !== total) invalid(`split.tensors.count is ${declared} but the splits hold ${total} tensors`, files[0]!.path);
  return part(files);
}

/** One part from one or more headers: metadata of the first file first, then keys only later files have. */
function part(files: readonly { path: string; header: GgufHeader; bytes: number }[]): CheckpointPart {
  const metadata: Record<string, string> = {};
  const tensors: TensorEntry[] = [];
  const seen = new Map<string, string>();
  for (const f of files) {
    addMissingMetadata(metadata, f.header.metadata);
    for (const t of f.header.tensors) {
      const other = seen.get(t.name);
      if (other !== undefined) throw new FormatError('DUPLICATE_TENSOR', `"${t.name}" is in both ${basename(other)} and ${basename(f.path)}`, f.path, t.name);
      seen.set(t.name, f.path);
      tensors.push(t);
    }
  }
  const checkpointFiles: CheckpointFile[] = files.map((f) => ({ path: f.path, bytes: f.bytes }));
  return { files: checkpointFiles, metadata, tensors };
}

export const ggufReader: FormatReader = {
  format: 'gguf',
  extensions: ['.gguf'],
  sniff: (head) => head.length >= 4 && MAGIC.every((b, i) => head[i] === b),
  open: openGguf,
  // Every file of a split set opens the whole set: a folder keeps one path per set.
  primaryFiles: (paths) => {
    const covered = new Set<string>();
    return paths.filter((p) => {
      if (covered.has(p)) return false;
      for (const sibling of splitSiblings(p) ?? [p]) covered.add(sibling);
      return true;
    });
  },
};
