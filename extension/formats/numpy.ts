/**
 * NumPy `.npy` (format versions 1–3: magic "\x93NUMPY", a little-endian header length, a Python dict literal with
 * descr / fortran_order / shape, then the raw elements) and `.npz` (a zip of `.npy` members, stored or deflated;
 * each member is one tensor named after it without ".npy"). The header is read by a small strict literal parser,
 * never evaluated.
 */
import { basename } from 'node:path';
import type { ByteSource, SourceOpener } from '../source/byteSource';
import { isContiguous, type TensorEntry } from './checkpoint';
import { FormatError, type ErrorCode } from './formatError';
import type { CheckpointPart, FormatReader } from './formatReader';
import { latin1 } from './latin1';
import { firstEntryName, isZip, readExactly, ZipArchive, type ZipEntry } from './zip';
import { strictUtf8 } from './utf8';

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
/** Longest header accepted (NumPy itself refuses more than 10 000 bytes unless asked). */
export const MAX_NPY_HEADER_BYTES = 1 << 20;
const PREAMBLE_BYTES = 12;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** An element type as NumPy spells it, in our terms; `problem` when Weightscope cannot decode it. */
export interface NumpyElementType {
  readonly dtype?: string;
  readonly elementBytes?: number;
  readonly bigEndian?: boolean;
  readonly problem?: string;
  /** The dtype to show: ours, or NumPy's spelling for an unsupported type. */
  readonly display: string;
}

const KIND_SIZE: Readonly<Record<string, string>> = {
  f2: 'F16', f4: 'F32', f8: 'F64', i1: 'I8', i2: 'I16', i4: 'I32', i8: 'I64', u1: 'U8', u2: 'U16', u4: 'U32', u8: 'U64', b1: 'BOOL',
};
/** One-character type codes (`numpy.dtype('e')`), as kind and size. */
const CHAR_CODES: Readonly<Record<string, string>> = {
  '?': 'b1', e: 'f2', f: 'f4', d: 'f8', g: 'f16', b: 'i1', B: 'u1', h: 'i2', H: 'u2', i: 'i4', I: 'u4', l: 'i8', q: 'i8',
  L: 'u8', Q: 'u8', F: 'c8', D: 'c16', G: 'c32', O: 'O8',
};

/** Maps a NumPy type string (`<f4`, `|b1`, `u4` with a separate byte order) to our element type. */
export function numpyElementType(descr: string, byteOrder = '='): NumpyElementType {
  const order = '<>|='.includes(descr[0] ?? '') ? descr[0]! : byteOrder;
  const rest = '<>|='.includes(descr[0] ?? '') ? descr.slice(1) : descr;
  const code = rest.length === 1 ? (CHAR_CODES[rest] ?? rest) : rest;
  const dtype = KIND_SIZE[code];
  if (!dtype) {
    const display = code === 'c8' ? 'C64' : code === 'c16' ? 'C128' : descr;
    return { display, problem: `NumPy dtype "${descr}" is not a type Weightscope decodes` };
  }
  const elementBytes = Number(code.slice(1));
  return { dtype, display: dtype, elementBytes, bigEndian: order === '>' && elementBytes > 1 };
}

export interface NpyHeader {
  /** Bytes before the first element: magic, version, length and header text. */
  readonly dataStart: number;
  readonly type: NumpyElementType;
  readonly shape: readonly number[];
  readonly fortranOrder: boolean;
}

type Fail = (code: ErrorCode, message: string) => never;

/** Total bytes of the preamble and header, from the first 12 bytes of a `.npy`. */
export function npyHeaderEnd(head: Uint8Array, fail: Fail): number {
  if (head.length < 10 || !MAGIC.every((b, i) => head[i] === b)) fail('NPY_INVALID_MAGIC', 'does not start with the .npy magic "\\x93NUMPY"');
  const major = head[6]!;
  if (major === 1) return 10 + (head[8]! | (head[9]! << 8));
  if (major !== 2 && major !== 3) fail('NPY_INVALID_HEADER', `unknown .npy format version ${major}.${head[7]}`);
  if (head.length < PREAMBLE_BYTES) fail('NPY_INVALID_HEADER', 'the header length is cut short');
  const length = new DataView(head.buffer, head.byteOffset, head.byteLength).getUint32(8, true);
  if (length > MAX_NPY_HEADER_BYTES) fail('NPY_INVALID_HEADER', `the header declares ${length} bytes, more than the limit of ${MAX_NPY_HEADER_BYTES}`);
  return PREAMBLE_BYTES + length;
}

/** Parses the whole preamble and header (`npyHeaderEnd` bytes). */
export function parseNpyHeader(bytes: Uint8Array, fail: Fail): NpyHeader {
  const dataStart = npyHeaderEnd(bytes, fail);
  const textStart = bytes[6] === 1 ? 10 : PREAMBLE_BYTES;
  const raw = bytes.subarray(textStart, dataStart);
  let text: string;
  if (bytes[6] === 3) {
    try {
      text = strictUtf8(raw);
    } catch {
      return fail('NPY_INVALID_HEADER', 'the header is not valid UTF-8');
    }
  } else text = latin1(raw);
  let dict: PyLiteral;
  try {
    dict = parsePythonLiteral(text);
  } catch (error) {
    return fail('NPY_INVALID_HEADER', `the header is not a Python dict literal: ${(error as Error).message}`);
  }
  if (!(dict instanceof Map)) return fail('NPY_INVALID_HEADER', 'the header is not a dict');
  const keys = [...dict.keys()].sort().join(',');
  if (keys !== 'descr,fortran_order,shape') fail('NPY_INVALID_HEADER', `the header must have exactly descr, fortran_order and shape, not ${keys || 'nothing'}`);
  const descr = dict.get('descr');
  const fortran = dict.get('fortran_order');
  const shape = dict.get('shape');
  if (typeof fortran !== 'boolean') fail('NPY_INVALID_HEADER', 'fortran_order is not True or False');
  if (!(shape instanceof PyTuple) || !shape.items.every((d) => typeof d === 'bigint' && d >= 0n && d <= MAX_SAFE)) {
    fail('NPY_INVALID_HEADER', 'shape is not a tuple of non-negative integers');
  }
  let type: NumpyElementType;
  if (typeof descr === 'string') type = numpyElementType(descr);
  else if (Array.isArray(descr) || descr instanceof PyTuple) type = { display: 'structured', problem: 'a structured NumPy dtype (record fields)' };
  else return fail('NPY_INVALID_HEADER', 'descr is not a type string');
  return { dataStart, type, shape: (shape as PyTuple).items.map(Number), fortranOrder: fortran as boolean };
}

/** The tensor entry of one array whose data starts at `dataOffset` (within the inflated member if deflated). */
function arrayEntry(name: string, file: string, header: NpyHeader, dataOffset: number, available: number, fail: Fail, deflate?: TensorEntry['deflate']): TensorEntry {
  const { type, shape } = header;
  const elements = shape.reduce((n, d) => n * BigInt(d), 1n);
  let bytes: number;
  if (type.elementBytes !== undefined) {
    const needed = elements * BigInt(type.elementBytes);
    if (needed > MAX_SAFE) fail('NPY_INVALID_HEADER', `shape (${shape.join(', ')}) is too large to address`);
    if (needed > BigInt(available)) fail('NPY_TRUNCATED', `shape (${shape.join(', ')}) of ${type.display} needs ${needed} bytes but only ${available} follow the header`);
    bytes = Number(needed);
  } else bytes = available;
  const strides = header.fortranOrder ? fortranStrides(shape) : undefined;
  return {
    name,
    dtype: type.display,
    shape,
    file,
    offset: dataOffset,
    bytes,
    ...(strides && !isContiguous(shape, strides) ? { strides } : {}),
    ...(type.bigEndian ? { bigEndian: true } : {}),
    ...(deflate ? { deflate } : {}),
    ...(type.problem ? { problem: { code: 'UNSUPPORTED_DTYPE' as const, message: type.problem } } : {}),
  };
}

function fortranStrides(shape: readonly number[]): number[] {
  let stride = 1;
  return shape.map((d) => {
    const s = stride;
    stride *= d;
    return s;
  });
}

async function readNpy(source: ByteSource, path: string): Promise<TensorEntry> {
  const fail: Fail = (code, message) => {
    throw new FormatError(code, message, path);
  };
  const head = new Uint8Array(Math.min(source.size, PREAMBLE_BYTES));
  await readExactly(source, 0, head);
  const end = npyHeaderEnd(head, fail);
  if (end > source.size) fail('NPY_INVALID_HEADER', `the header runs to byte ${end}, past the end of the file (${source.size})`);
  const headerBytes = new Uint8Array(end);
  await readExactly(source, 0, headerBytes);
  const header = parseNpyHeader(headerBytes, fail);
  return arrayEntry(basename(path).replace(/\.npy$/i, ''), path, header, header.dataStart, source.size - header.dataStart, fail);
}

async function readNpzMember(archive: ZipArchive, entry: ZipEntry, path: string): Promise<TensorEntry> {
  const name = entry.name.replace(/\.npy$/i, '');
  const fail: Fail = (code, message) => {
    throw new FormatError(code, message, path, name);
  };
  const end = npyHeaderEnd(await archive.readPrefix(entry, PREAMBLE_BYTES), fail);
  if (end > entry.uncompressedBytes) fail('NPY_INVALID_HEADER', `the header runs to byte ${end}, past the end of the member (${entry.uncompressedBytes})`);
  const header = parseNpyHeader(await archive.readPrefix(entry, end), fail);
  const { dataOffset, deflated } = await archive.locate(entry);
  const available = entry.uncompressedBytes - header.dataStart;
  return deflated
    ? arrayEntry(name, path, header, header.dataStart, available, fail, { dataOffset, compressedBytes: entry.compressedBytes })
    : arrayEntry(name, path, header, dataOffset + header.dataStart, available, fail);
}

export const numpyReader: FormatReader = {
  format: 'numpy',
  extensions: ['.npy', '.npz'],
  generic: true,
  sniff(head) {
    if (MAGIC.every((b, i) => head[i] === b)) return true;
    const first = firstEntryName(head);
    return first !== undefined && (first.complete ? first.name.endsWith('.npy') : !first.name.includes('/'));
  },
  async open(path: string, opener: SourceOpener): Promise<CheckpointPart> {
    const source = await opener.open(path);
    try {
      const head = new Uint8Array(Math.min(4, source.size));
      await readExactly(source, 0, head);
      let tensors: TensorEntry[];
      if (isZip(head)) {
        const archive = await ZipArchive.open(source);
        await archive.loadDataOffsets();
        tensors = [];
        for (const entry of archive.entries) if (entry.name.toLowerCase().endsWith('.npy')) tensors.push(await readNpzMember(archive, entry, path));
      } else tensors = [await readNpy(source, path)];
      return { files: [{ path, bytes: source.size }], metadata: {}, tensors };
    } finally {
      await source.close();
    }
  },
};

// --- a strict reader of the Python literals .npy headers use ------------------------------------------------------

class PyTuple {
  constructor(readonly items: PyLiteral[]) {}
}
type PyLiteral = string | bigint | boolean | null | PyLiteral[] | PyTuple | Map<string, PyLiteral>;

const MAX_LITERAL_DEPTH = 32;

/** Dicts with string keys, tuples, lists, strings, integers, True/False/None. */
export function parsePythonLiteral(text: string): PyLiteral {
  let at = 0;
  const skip = (): void => {
    while (at < text.length && ' \t\r\n'.includes(text[at]!)) at++;
  };
  const expect = (c: string): void => {
    skip();
    if (text[at] !== c) throw new Error(`expected "${c}" at ${at}`);
    at++;
  };
  const value = (depth: number): PyLiteral => {
    if (depth > MAX_LITERAL_DEPTH) throw new Error('nested too deeply');
    skip();
    const c = text[at];
    if (c === '{') {
      at++;
      const dict = new Map<string, PyLiteral>();
      for (skip(); text[at] !== '}'; skip()) {
        const key = value(depth + 1);
        if (typeof key !== 'string') throw new Error('a dict key that is not a string');
        if (dict.has(key)) throw new Error(`the key "${key}" twice`);
        expect(':');
        dict.set(key, value(depth + 1));
        skip();
        if (text[at] === ',') at++;
        else if (text[at] !== '}') throw new Error(`expected "," or "}" at ${at}`);
      }
      at++;
      return dict;
    }
    if (c === '(' || c === '[') {
      const close = c === '(' ? ')' : ']';
      at++;
      const items: PyLiteral[] = [];
      let comma = false;
      for (skip(); text[at] !== close; skip()) {
        items.push(value(depth + 1));
        skip();
        comma = text[at] === ',';
        if (comma) at++;
        else if (text[at] !== close) throw new Error(`expected "," or "${close}" at ${at}`);
      }
      at++;
      if (c === '(' && items.length === 1 && !comma) return items[0]!; // (x) is x, not a tuple
      return c === '(' ? new PyTuple(items) : items;
    }
    if (c === "'" || c === '"') {
      const end = text.indexOf(c, at + 1);
      if (end < 0) throw new Error('an unterminated string');
      const body = text.slice(at + 1, end);
      if (body.includes('\\')) throw new Error('escapes in a string');
      at = end + 1;
      return body;
    }
    const word = /^(True|False|None|-?\d+L?)/.exec(text.slice(at, at + 40));
    if (!word) throw new Error(`unexpected "${text.slice(at, at + 10)}" at ${at}`);
    at += word[0].length;
    if (word[0] === 'True') return true;
    if (word[0] === 'False') return false;
    if (word[0] === 'None') return null;
    return BigInt(word[0].replace(/L$/, ''));
  };
  const result = value(0);
  skip();
  if (at !== text.length) throw new Error(`unexpected text after the literal at ${at}`);
  return result;
}
