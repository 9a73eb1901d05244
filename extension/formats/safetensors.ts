/**
 * safetensors: 8-byte little-endian header length N, N bytes of UTF-8 JSON, then the byte buffer. Validated as the
 * reference implementation does (huggingface/safetensors `read_metadata` / `validate`): nothing sized by an
 * untrusted number is allocated before that number is checked.
 */
import type { ByteSource, SourceOpener } from '../source/byteSource';
import { setMetadataEntry, type TensorEntry } from './checkpoint';
import { bytesOf, lookupDType } from './dtypes';
import { FormatError, type ErrorCode } from './formatError';
import type { CheckpointPart, FormatReader } from './formatReader';
import { isJsonObject, JsonSyntaxError, parseStrictJson, type JsonValue } from './strictJson';

export const MAX_HEADER_BYTES = 100_000_000;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

export interface SafetensorsHeader {
  metadata: Record<string, string>;
  tensors: TensorEntry[];
}

interface RawEntry {
  name: string;
  dtype: string;
  shape: number[];
  begin: number;
  end: number;
  problem?: TensorEntry['problem'];
}

export async function readSafetensorsHeader(source: ByteSource): Promise<SafetensorsHeader> {
  const file = source.name;
  const fail = (code: ErrorCode, message: string, tensor?: string): never => {
    throw new FormatError(code, message, file, tensor);
  };

  if (source.size < 8) fail('HEADER_TOO_SMALL', `the file has ${source.size} bytes, fewer than the 8-byte header length`);
  const lengthBytes = new Uint8Array(8);
  await readExactly(source, 0, lengthBytes);
  const declared = new DataView(lengthBytes.buffer).getBigUint64(0, true);
  if (declared > BigInt(MAX_HEADER_BYTES)) {
    fail('HEADER_TOO_LARGE', `the header declares ${declared} bytes, more than the limit of ${MAX_HEADER_BYTES}`);
  }
  const headerLength = Number(declared);
  if (8 + headerLength > source.size) {
    fail('INVALID_HEADER_LENGTH', `the header declares ${headerLength} bytes but the file has only ${source.size - 8} after the length`);
  }
  const headerBytes = new Uint8Array(headerLength);
  await readExactly(source, 8, headerBytes);

  let text: string;
  try {
    // ignoreBOM keeps a byte-order mark in the text, so that it fails the "{" check as it does in the reference.
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(headerBytes);
  } catch {
    return fail('INVALID_UTF8', 'the header is not valid UTF-8');
  }
  if (!text.startsWith('{')) fail('INVALID_HEADER_START', 'the header does not start with "{"');

  let json: JsonValue;
  try {
    json = parseStrictJson(text.replace(/ +$/, ''));
  } catch (error) {
    if (error instanceof JsonSyntaxError && error.duplicateKey !== undefined) {
      return fail('DUPLICATE_TENSOR', `the header names "${error.duplicateKey}" twice`, error.duplicateKey);
    }
    return fail('BAD_JSON', `the header is not valid JSON: ${(error as Error).message}`);
  }
  if (!isJsonObject(json)) return fail('BAD_JSON', 'the header is not a JSON object');

  const metadata: Record<string, string> = {};
  const entries: RawEntry[] = [];
  for (const [name, value] of json) {
    if (name === '__metadata__') {
      if (value === null) continue; // some writers (MLX) store null, which the reference reads as "no metadata"
      if (!isJsonObject(value)) fail('INVALID_METADATA', '__metadata__ must be an object of strings');
      for (const [key, item] of value as Map<string, JsonValue>) {
        if (typeof item !== 'string') fail('INVALID_METADATA', `__metadata__ value "${key}" is not a string`);
        setMetadataEntry(metadata, key, item as string);
      }
      continue;
    }
    entries.push(parseEntry(name, value, fail));
  }

  const dataStart = 8 + headerLength;
  checkLayout(entries, source.size - dataStart, fail);
  return {
    metadata,
    tensors: entries.map((e) => ({
      name: e.name,
      dtype: e.dtype,
      shape: e.shape,
      file,
      offset: dataStart + e.begin,
      bytes: e.end - e.begin,
      ...(e.problem ? { problem: e.problem } : {}),
    })),
  };
}

type Fail = (code: ErrorCode, message: string, tensor?: string) => never;

function parseEntry(name: string, value: JsonValue, fail: Fail): RawEntry {
  if (!isJsonObject(value)) return fail('INVALID_TENSOR_ENTRY', 'the entry is not an object', name);
  const dtype = value.get('dtype');
  const shape = value.get('shape');
  const offsets = value.get('data_offsets');
  if (typeof dtype !== 'string') fail('INVALID_TENSOR_ENTRY', 'the entry has no string "dtype"', name);
  if (!Array.isArray(shape) || !shape.every((d) => typeof d === 'bigint' && d >= 0n)) {
    fail('INVALID_TENSOR_ENTRY', '"shape" must be an array of non-negative integers', name);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => typeof o === 'bigint' && o >= 0n)) {
    fail('INVALID_TENSOR_ENTRY', '"data_offsets" must be [begin, end] with non-negative integers', name);
  }
  const dims = shape as bigint[];
  const [begin, end] = offsets as [bigint, bigint];
  if (dims.some((d) => d > MAX_SAFE)) fail('INVALID_SHAPE', `a dimension exceeds 2^53 - 1`, name);
  if (begin > MAX_SAFE || end > MAX_SAFE) fail('INVALID_OFFSETS', 'an offset exceeds 2^53 - 1', name);
  if (begin > end) fail('INVALID_OFFSETS', `data_offsets begin ${begin} is after end ${end}`, name);

  const entry: RawEntry = { name, dtype: dtype as string, shape: dims.map(Number), begin: Number(begin), end: Number(end) };
  const info = lookupDType(dtype as string);
  if (!info) {
    entry.problem = { code: 'UNSUPPORTED_DTYPE', message: `unknown dtype "${dtype}"` };
    return entry;
  }
  entry.dtype = info.name;
  const elements = dims.reduce((n, d) => n * d, 1n);
  const bytes = bytesOf(info, elements);
  if (bytes === undefined) fail('MISALIGNED_SLICE', `${dims.join('x')} elements of ${info.name} do not fill whole bytes`, name);
  if (bytes! > MAX_SAFE) fail('SIZE_OVERFLOW', `shape [${dims.join(', ')}] of ${info.name} is too large to address`, name);
  if (end - begin !== bytes) {
    fail('SIZE_MISMATCH', `shape [${dims.join(', ')}] of ${info.name} needs ${bytes} bytes but data_offsets span ${end - begin}`, name);
  }
  return entry;
}

/** The buffer must be covered exactly: sorted by offsets, each tensor starts where the previous ended. */
function checkLayout(entries: readonly RawEntry[], bufferBytes: number, fail: Fail): void {
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let previous: RawEntry | undefined;
  let covered = 0;
  for (const entry of sorted) {
    if (entry.begin !== covered) {
      const kind = entry.begin > covered ? 'hole' : 'overlap';
      const after = previous ? `after "${previous.name}" (ends at ${covered})` : 'at the start of the buffer';
      fail('INVALID_OFFSETS', `${kind} ${after}: "${entry.name}" begins at ${entry.begin}`, entry.name);
    }
    covered = entry.end;
    previous = entry;
  }
  if (covered !== bufferBytes) {
    fail('INCOMPLETE_BUFFER', `the tensors cover ${covered} bytes of data but the file holds ${bufferBytes} after the header`);
  }
}

async function readExactly(source: ByteSource, offset: number, target: Uint8Array): Promise<void> {
  const n = await source.read(offset, target);
  if (n !== target.length) {
    throw new FormatError('READ_ERROR', `short read at byte ${offset}: ${n} of ${target.length}`, source.name);
  }
}

export const safetensorsReader: FormatReader = {
  format: 'safetensors',
  extensions: ['.safetensors'],
  // 8-byte little-endian header length, then the JSON object's "{".
  sniff: (head) => head.length >= 9 && head[8] === 0x7b && head[6] === 0 && head[7] === 0,
  async open(path: string, opener: SourceOpener): Promise<CheckpointPart> {
    const source = await opener.open(path);
    try {
      const header = await readSafetensorsHeader(source);
      return { files: [{ path, bytes: source.size }], metadata: header.metadata, tensors: header.tensors };
    } finally {
      await source.close();
    }
  },
};
