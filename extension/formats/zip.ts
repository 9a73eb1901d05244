/**
 * Zip archives as PyTorch and NumPy write them (PKWARE APPNOTE 6.3): the end of central directory record, found in
 * the last 64 KiB + 22 bytes; its ZIP64 locator and record; the central directory with ZIP64 extra fields; each
 * entry's data offset from its local header. Every count, size and offset is checked against the file before
 * anything is allocated. Small entries (pickles, npy headers) are read into memory; tensor data is only located.
 */
import { constants, inflateRawSync } from 'node:zlib';
import type { ByteSource } from '../source/byteSource';
import { FormatError, type ErrorCode } from './formatError';
import { latin1 } from './latin1';
import { lenientUtf8, strictUtf8 } from './utf8';

const END_RECORD = 0x06054b50;
const ZIP64_LOCATOR = 0x07064b50;
const ZIP64_END_RECORD = 0x06064b50;
const DIRECTORY_ENTRY = 0x02014b50;
const LOCAL_HEADER = 0x04034b50;
const END_RECORD_BYTES = 22;
const ZIP64_LOCATOR_BYTES = 20;
const ZIP64_END_RECORD_BYTES = 56;
const DIRECTORY_ENTRY_BYTES = 46;
const LOCAL_HEADER_BYTES = 30;
const MAX_COMMENT_BYTES = 0xffff;
/** A central directory larger than this is refused (a million entries take about 100 MB). */
export const MAX_DIRECTORY_BYTES = 256 << 20;
/** Deflate never expands honest data by more than a few bytes per 16 KiB block. */
const DEFLATE_SLACK = (bytes: number): number => bytes / 1000 + 1024;
/** The most bytes a deflate stream can inflate to per compressed byte. */
const DEFLATE_MAX_RATIO = 1032;
/** Local headers at most this far apart are read together (the bytes between them come along)… */
const HEADER_GAP = 64 << 10;
/** …in reads of at most this span. */
const HEADER_SPAN = 4 << 20;

export const STORED = 0;
export const DEFLATED = 8;

export interface ZipEntry {
  readonly name: string;
  readonly method: number;
  readonly encrypted: boolean;
  readonly compressedBytes: number;
  readonly uncompressedBytes: number;
  readonly localHeaderOffset: number;
}

/** Where an entry's bytes are: in place (stored) or as a deflate stream. */
export interface EntryData {
  readonly dataOffset: number;
  readonly deflated: boolean;
}

/** True when the bytes start with a local file header ("PK\x03\x04"). */
export function isZip(head: Uint8Array): boolean {
  return head.length >= 4 && head[0] === 0x50 && head[1] === 0x4b && head[2] === 0x03 && head[3] === 0x04;
}

/** The name of the first entry as far as `head` shows it (`complete` false when cut short), or undefined. */
export function firstEntryName(head: Uint8Array): { name: string; complete: boolean } | undefined {
  if (!isZip(head) || head.length < LOCAL_HEADER_BYTES) return undefined;
  const end = LOCAL_HEADER_BYTES + (head[26]! | (head[27]! << 8));
  return { name: latin1(head.subarray(LOCAL_HEADER_BYTES, Math.min(head.length, end))), complete: end <= head.length };
}

export class ZipArchive {
  private readonly byName = new Map<string, ZipEntry>();
  private readonly dataOffsets = new Map<ZipEntry, number>();

  private constructor(
    private readonly source: ByteSource,
    readonly entries: readonly ZipEntry[],
    /** Where the central directory starts: entry data must end before it. */
    private readonly directoryOffset: number,
  ) {
    for (const entry of entries) this.byName.set(entry.name, entry);
  }

  get name(): string {
    return this.source.name;
  }

  static async open(source: ByteSource): Promise<ZipArchive> {
    const fail = (code: ErrorCode, message: string): never => {
      throw new FormatError(code, message, source.name);
    };
    const end = await findEndRecord(source);
    const directory = await directoryBounds(source, end, fail);
    if (directory.bytes > MAX_DIRECTORY_BYTES) {
      fail('ZIP_INVALID_DIRECTORY', `the central directory has ${directory.bytes} bytes, more than the limit of ${MAX_DIRECTORY_BYTES}`);
    }
    if (directory.count * DIRECTORY_ENTRY_BYTES > directory.bytes) {
      fail('ZIP_INVALID_DIRECTORY', `${directory.count} entries cannot fit in a central directory of ${directory.bytes} bytes`);
    }
    const bytes = new Uint8Array(directory.bytes);
    await readExactly(source, directory.offset, bytes);
    const entries = parseDirectory(bytes, directory.count, directory.offset, fail);
    const seen = new Set<string>();
    for (const entry of entries) {
      if (seen.has(entry.name)) fail('ZIP_INVALID_DIRECTORY', `the archive names "${entry.name}" twice`);
      seen.add(entry.name);
    }
    return new ZipArchive(source, entries, directory.offset);
  }

  get(name: string): ZipEntry | undefined {
    return this.byName.get(name);
  }

  /**
   * Reads the local headers of all entries in few reads: headers close together in the file (small entries, as in
   * a state dict of many small tensors) come from one read of the span that holds them.
   */
  async loadDataOffsets(): Promise<void> {
    const pending = this.entries.filter((e) => !this.dataOffsets.has(e)).sort((a, b) => a.localHeaderOffset - b.localHeaderOffset);
    const groups: ZipEntry[][] = [];
    for (const entry of pending) {
      const group = groups[groups.length - 1];
      const first = group?.[0];
      if (group && first && entry.localHeaderOffset - group[group.length - 1]!.localHeaderOffset <= HEADER_GAP && entry.localHeaderOffset - first.localHeaderOffset <= HEADER_SPAN) group.push(entry);
      else groups.push([entry]);
    }
    for (const group of groups) {
      const start = group[0]!.localHeaderOffset;
      const span = new Uint8Array(Math.min(this.directoryOffset, group[group.length - 1]!.localHeaderOffset + LOCAL_HEADER_BYTES) - start);
      await readExactly(this.source, start, span);
      for (const entry of group) {
        try {
          this.dataOffsets.set(entry, this.parseLocalHeader(entry, span.subarray(entry.localHeaderOffset - start)));
        } catch (error) {
          // A bad entry fails when it is used (one tensor's problem), not here.
          if (!(error instanceof FormatError)) throw error;
        }
      }
    }
  }

  /** Offset of the entry's first data byte, from its local header (whose name and extra lengths may differ). */
  async dataOffset(entry: ZipEntry): Promise<number> {
    const known = this.dataOffsets.get(entry);
    if (known !== undefined) return known;
    const header = new Uint8Array(LOCAL_HEADER_BYTES);
    await readExactly(this.source, entry.localHeaderOffset, header);
    const offset = this.parseLocalHeader(entry, header);
    this.dataOffsets.set(entry, offset);
    return offset;
  }

  private parseLocalHeader(entry: ZipEntry, header: Uint8Array): number {
    const view = viewOf(header);
    if (header.length < LOCAL_HEADER_BYTES || view.getUint32(0, true) !== LOCAL_HEADER) {
      this.fail('ZIP_INVALID_ENTRY', `"${entry.name}" has no local header at byte ${entry.localHeaderOffset}`);
    }
    const offset = entry.localHeaderOffset + LOCAL_HEADER_BYTES + view.getUint16(26, true) + view.getUint16(28, true);
    if (offset + entry.compressedBytes > this.directoryOffset) {
      this.fail('ZIP_INVALID_ENTRY', `the ${entry.compressedBytes} bytes of "${entry.name}" from byte ${offset} run into the central directory at ${this.directoryOffset}`);
    }
    return offset;
  }

  /** Where the entry's bytes are; throws ZIP_UNSUPPORTED for encrypted entries or other compression methods. */
  async locate(entry: ZipEntry): Promise<EntryData> {
    checkReadable(entry, this.source.name);
    return { dataOffset: await this.dataOffset(entry), deflated: entry.method === DEFLATED };
  }

  /** The whole entry, inflated if need be; refused when it would exceed `maxBytes`. */
  async read(entry: ZipEntry, maxBytes: number): Promise<Uint8Array> {
    if (entry.uncompressedBytes > maxBytes) {
      this.fail('ZIP_ENTRY_TOO_LARGE', `"${entry.name}" has ${entry.uncompressedBytes} bytes, more than the limit of ${maxBytes}`);
    }
    const { dataOffset, deflated } = await this.locate(entry);
    const raw = new Uint8Array(entry.compressedBytes);
    await readExactly(this.source, dataOffset, raw);
    if (!deflated) return raw;
    let inflated: Buffer;
    try {
      inflated = inflateRawSync(raw, { maxOutputLength: entry.uncompressedBytes + 1 });
    } catch (error) {
      return this.fail('ZIP_INVALID_ENTRY', `"${entry.name}" does not inflate to its declared ${entry.uncompressedBytes} bytes: ${(error as Error).message}`);
    }
    if (inflated.length !== entry.uncompressedBytes) {
      this.fail('ZIP_INVALID_ENTRY', `"${entry.name}" inflates to ${inflated.length} bytes but declares ${entry.uncompressedBytes}`);
    }
    return new Uint8Array(inflated.buffer, inflated.byteOffset, inflated.length);
  }

  /** The first `count` bytes of the entry (fewer if it is shorter), inflating no more than needed. */
  async readPrefix(entry: ZipEntry, count: number): Promise<Uint8Array> {
    const want = Math.min(count, entry.uncompressedBytes);
    const { dataOffset, deflated } = await this.locate(entry);
    if (!deflated) {
      const bytes = new Uint8Array(want);
      await readExactly(this.source, dataOffset, bytes);
      return bytes;
    }
    // Inflate growing prefixes of the compressed stream until enough comes out; each output is bounded by the
    // deflate ratio limit of the prefix read.
    for (let compressed = Math.min(entry.compressedBytes, 16384); ; compressed = Math.min(entry.compressedBytes, compressed * 4)) {
      const raw = new Uint8Array(compressed);
      await readExactly(this.source, dataOffset, raw);
      let out: Buffer;
      try {
        out = inflateRawSync(raw, { finishFlush: constants.Z_SYNC_FLUSH, maxOutputLength: compressed * DEFLATE_MAX_RATIO + 1024 });
      } catch (error) {
        return this.fail('ZIP_INVALID_ENTRY', `"${entry.name}" is not a valid deflate stream: ${(error as Error).message}`);
      }
      if (out.length >= want) return new Uint8Array(out.buffer, out.byteOffset, want);
      if (compressed === entry.compressedBytes) {
        this.fail('ZIP_INVALID_ENTRY', `"${entry.name}" inflates to ${out.length} bytes but declares ${entry.uncompressedBytes}`);
      }
    }
  }

  private fail(code: ErrorCode, message: string): never {
    throw new FormatError(code, message, this.source.name);
  }
}

function checkReadable(entry: ZipEntry, file: string): void {
  if (entry.encrypted) throw new FormatError('ZIP_UNSUPPORTED', `"${entry.name}" is encrypted`, file);
  if (entry.method !== STORED && entry.method !== DEFLATED) {
    throw new FormatError('ZIP_UNSUPPORTED', `"${entry.name}" uses compression method ${entry.method}; only stored and deflated entries are read`, file);
  }
  if (entry.method === STORED && entry.compressedBytes !== entry.uncompressedBytes) {
    throw new FormatError('ZIP_INVALID_ENTRY', `stored entry "${entry.name}" declares ${entry.compressedBytes} bytes stored but ${entry.uncompressedBytes} uncompressed`, file);
  }
  if (entry.method === DEFLATED && entry.compressedBytes > entry.uncompressedBytes + DEFLATE_SLACK(entry.uncompressedBytes)) {
    throw new FormatError('ZIP_INVALID_ENTRY', `deflated entry "${entry.name}" declares ${entry.compressedBytes} compressed bytes for ${entry.uncompressedBytes} uncompressed`, file);
  }
}

interface EndRecord {
  /** Offset of the end of central directory record. */
  offset: number;
  bytes: DataView;
}

async function findEndRecord(source: ByteSource): Promise<EndRecord> {
  const tailBytes = Math.min(source.size, END_RECORD_BYTES + MAX_COMMENT_BYTES);
  if (tailBytes < END_RECORD_BYTES) {
    throw new FormatError('ZIP_NO_END_RECORD', `the file has ${source.size} bytes, fewer than a zip end record`, source.name);
  }
  const tail = new Uint8Array(tailBytes);
  const tailStart = source.size - tailBytes;
  await readExactly(source, tailStart, tail);
  const view = viewOf(tail);
  for (let at = tailBytes - END_RECORD_BYTES; at >= 0; at--) {
    if (view.getUint32(at, true) !== END_RECORD) continue;
    // The comment must fit in what follows; otherwise these four bytes are inside a comment or data.
    if (at + END_RECORD_BYTES + view.getUint16(at + 20, true) > tailBytes) continue;
    return { offset: tailStart + at, bytes: new DataView(tail.buffer, at, END_RECORD_BYTES) };
  }
  throw new FormatError('ZIP_NO_END_RECORD', 'no zip end of central directory record in the last 64 KiB', source.name);
}

interface DirectoryBounds {
  offset: number;
  bytes: number;
  count: number;
}

async function directoryBounds(source: ByteSource, end: EndRecord, fail: (code: ErrorCode, message: string) => never): Promise<DirectoryBounds> {
  const record = end.bytes;
  const disk = record.getUint16(4, true);
  const directoryDisk = record.getUint16(6, true);
  let countOnDisk: number | bigint = record.getUint16(8, true);
  let count: number | bigint = record.getUint16(10, true);
  let bytes: number | bigint = record.getUint32(12, true);
  let offset: number | bigint = record.getUint32(16, true);
  let limit = end.offset; // the directory ends before this
  if (end.offset >= ZIP64_LOCATOR_BYTES) {
    const locator = new Uint8Array(ZIP64_LOCATOR_BYTES);
    await readExactly(source, end.offset - ZIP64_LOCATOR_BYTES, locator);
    const lv = viewOf(locator);
    if (lv.getUint32(0, true) === ZIP64_LOCATOR) {
      const recordOffset = lv.getBigUint64(8, true);
      if (lv.getUint32(4, true) !== 0 || lv.getUint32(16, true) > 1) fail('ZIP_UNSUPPORTED', 'multi-disk (split) archives are not supported');
      if (recordOffset + BigInt(ZIP64_END_RECORD_BYTES) > BigInt(end.offset - ZIP64_LOCATOR_BYTES)) {
        fail('ZIP_INVALID_DIRECTORY', `the ZIP64 locator points at byte ${recordOffset}, beyond where its record can be`);
      }
      const zip64 = new Uint8Array(ZIP64_END_RECORD_BYTES);
      await readExactly(source, Number(recordOffset), zip64);
      const zv = viewOf(zip64);
      if (zv.getUint32(0, true) !== ZIP64_END_RECORD) fail('ZIP_INVALID_DIRECTORY', `no ZIP64 end record at byte ${recordOffset}`);
      if (zv.getUint32(16, true) !== 0 || zv.getUint32(20, true) !== 0) fail('ZIP_UNSUPPORTED', 'multi-disk (split) archives are not supported');
      countOnDisk = zv.getBigUint64(24, true);
      count = zv.getBigUint64(32, true);
      bytes = zv.getBigUint64(40, true);
      offset = zv.getBigUint64(48, true);
      limit = Number(recordOffset);
    }
  }
  if (disk !== 0 || directoryDisk !== 0) fail('ZIP_UNSUPPORTED', 'multi-disk (split) archives are not supported');
  if (BigInt(countOnDisk) !== BigInt(count)) fail('ZIP_UNSUPPORTED', 'multi-disk (split) archives are not supported');
  if (BigInt(offset) + BigInt(bytes) > BigInt(limit)) {
    fail('ZIP_INVALID_DIRECTORY', `the central directory (${bytes} bytes at ${offset}) runs past its end record at ${limit}`);
  }
  if (BigInt(count) > BigInt(bytes)) fail('ZIP_INVALID_DIRECTORY', `${count} entries cannot fit in a central directory of ${bytes} bytes`);
  return { offset: Number(offset), bytes: Number(bytes), count: Number(count) };
}

function parseDirectory(bytes: Uint8Array, count: number, directoryOffset: number, fail: (code: ErrorCode, message: string) => never): ZipEntry[] {
  const view = viewOf(bytes);
  const entries: ZipEntry[] = [];
  let at = 0;
  for (let i = 0; i < count; i++) {
    if (at + DIRECTORY_ENTRY_BYTES > bytes.length) fail('ZIP_INVALID_DIRECTORY', `entry ${i} of ${count} runs past the central directory`);
    if (view.getUint32(at, true) !== DIRECTORY_ENTRY) fail('ZIP_INVALID_DIRECTORY', `entry ${i} of the central directory has a bad signature`);
    const flags = view.getUint16(at + 8, true);
    const method = view.getUint16(at + 10, true);
    let compressedBytes = view.getUint32(at + 20, true);
    let uncompressedBytes = view.getUint32(at + 24, true);
    const nameLength = view.getUint16(at + 28, true);
    const extraLength = view.getUint16(at + 30, true);
    const commentLength = view.getUint16(at + 32, true);
    const startDisk = view.getUint16(at + 34, true);
    let localHeaderOffset = view.getUint32(at + 42, true);
    const nameStart = at + DIRECTORY_ENTRY_BYTES;
    const next = nameStart + nameLength + extraLength + commentLength;
    if (next > bytes.length) fail('ZIP_INVALID_DIRECTORY', `entry ${i} of the central directory runs past its end`);
    const name = decodeName(bytes.subarray(nameStart, nameStart + nameLength), (flags & 0x800) !== 0);
    const needs = { uncompressed: uncompressedBytes === 0xffffffff, compressed: compressedBytes === 0xffffffff, offset: localHeaderOffset === 0xffffffff, disk: startDisk === 0xffff };
    if (needs.uncompressed || needs.compressed || needs.offset || needs.disk) {
      const zip64 = zip64Extra(view, nameStart + nameLength, extraLength);
      if (!zip64) return fail('ZIP_INVALID_DIRECTORY', `"${name}" has 32-bit fields saturated but no ZIP64 extra field`);
      let field = 0;
      const take = (): number => {
        if (field + 8 > zip64.length) fail('ZIP_INVALID_DIRECTORY', `the ZIP64 extra field of "${name}" is too short`);
        const value = view.getBigUint64(zip64.start + field, true);
        field += 8;
        if (value > BigInt(Number.MAX_SAFE_INTEGER)) fail('ZIP_INVALID_ENTRY', `"${name}" has a ZIP64 size or offset of ${value}, beyond 2^53`);
        return Number(value);
      };
      if (needs.uncompressed) uncompressedBytes = take();
      if (needs.compressed) compressedBytes = take();
      if (needs.offset) localHeaderOffset = take();
    }
    if (startDisk !== 0 && !needs.disk) fail('ZIP_UNSUPPORTED', 'multi-disk (split) archives are not supported');
    if (localHeaderOffset + LOCAL_HEADER_BYTES + compressedBytes > directoryOffset) {
      fail('ZIP_INVALID_ENTRY', `"${name}" declares ${compressedBytes} bytes at ${localHeaderOffset}, past the start of the central directory at ${directoryOffset}`);
    }
    entries.push({ name, method, encrypted: (flags & 1) !== 0, compressedBytes, uncompressedBytes, localHeaderOffset });
    at = next;
  }
  return entries;
}

function zip64Extra(view: DataView, start: number, length: number): { start: number; length: number } | undefined {
  for (let at = start; at + 4 <= start + length; ) {
    const id = view.getUint16(at, true);
    const size = view.getUint16(at + 2, true);
    if (at + 4 + size > start + length) return undefined;
    if (id === 0x0001) return { start: at + 4, length: size };
    at += 4 + size;
  }
  return undefined;
}

function decodeName(bytes: Uint8Array, utf8: boolean): string {
  // Writers often store UTF-8 without setting the flag; try it first and fall back to single bytes.
  try {
    return strictUtf8(bytes);
  } catch {
    if (utf8) return lenientUtf8(bytes);
    return latin1(bytes);
  }
}

function viewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export async function readExactly(source: ByteSource, offset: number, target: Uint8Array): Promise<void> {
  const n = await source.read(offset, target);
  if (n !== target.length) throw new FormatError('READ_ERROR', `short read at byte ${offset}: ${n} of ${target.length}`, source.name);
}
