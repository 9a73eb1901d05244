/**
 * llama.cpp's legacy importance matrix (`imatrix.dat`, `--output-format dat`; tools/imatrix/imatrix.cpp
 * `save_imatrix_legacy`), all little-endian:
 *
 *     int32 n_entries
 *     n_entries × { int32 name_length, name bytes, int32 ncall, int32 nval, nval × float32 value }
 *     [int32 last_chunk [int32 dataset_length, dataset bytes]]   (optional trailer; older files stop earlier)
 *
 * Each value is (Σ_t x_j² / count_j) · ncall: the mean square over the count_j tokens seen, times ncall (the chunks
 * of calibration text). The token count itself is not stored, so value / ncall = mean_t x_j² is the one exact
 * quantity the file holds; that is what this importer exposes as the channel's Σx² (of one average token). For an
 * MoE weight nval is n_experts × n and the experts' counts were already folded in.
 */
import type { ByteSource, SourceOpener } from '../source/byteSource';
import { FormatError, type ErrorCode } from '../formats/formatError';
import type { ActivationEntry, ActivationImporter, ActivationStats } from './activationStats';
import { lenientUtf8, strictUtf8 } from '../formats/utf8';

/** Longest entry name accepted (llama.cpp tensor names are far shorter). */
const MAX_NAME_BYTES = 65535;
/** Smallest entry: a 1-byte name and one value. */
const MIN_ENTRY_BYTES = 4 + 1 + 4 + 4 + 4;
const WINDOW_BYTES = 1 << 16;

/** Little-endian reads at increasing positions through a small window; values are skipped, never read. */
class Reader {
  private window = new Uint8Array(0);
  private view = new DataView(this.window.buffer);
  private windowStart = 0;
  position = 0;

  constructor(
    private readonly source: ByteSource,
    private readonly fail: (code: ErrorCode, message: string, tensor?: string) => never,
  ) {}

  get remaining(): number {
    return this.source.size - this.position;
  }

  /** Fails with TRUNCATED_FILE unless `n` more bytes exist, naming what was being read. */
  need(n: number, what: string): void {
    if (n > this.remaining) this.fail('TRUNCATED_FILE', `the file ends at byte ${this.source.size}, inside ${what} (${n} bytes needed at byte ${this.position})`);
  }

  private async at(n: number, what: string): Promise<number> {
    this.need(n, what);
    if (this.position < this.windowStart || this.position + n > this.windowStart + this.window.length) {
      const length = Math.min(Math.max(WINDOW_BYTES, n), this.remaining);
      this.window = new Uint8Array(length);
      this.view = new DataView(this.window.buffer);
      const got = await this.source.read(this.position, this.window);
      if (got !== length) throw new FormatError('READ_ERROR', `short read at byte ${this.position}: ${got} of ${length}`, this.source.name);
      this.windowStart = this.position;
    }
    const index = this.position - this.windowStart;
    this.position += n;
    return index;
  }

  async i32(what: string): Promise<number> {
    const i = await this.at(4, what); // before reading `this.view`: `at` may replace it
    return this.view.getInt32(i, true);
  }

  async bytes(n: number, what: string): Promise<Uint8Array> {
    const i = await this.at(n, what);
    return this.window.slice(i, i + n);
  }

  skip(n: number, what: string): void {
    this.need(n, what);
    this.position += n;
  }
}


async function openDat(path: string, opener: SourceOpener): Promise<ActivationStats> {
  const source = await opener.open(path);
  const fail = (code: ErrorCode, message: string, tensor?: string): never => {
    throw new FormatError(code, message, path, tensor);
  };
  try {
    const reader = new Reader(source, fail);
    const count = await reader.i32('the entry count');
    if (count < 1) fail('NO_STATISTICS', `the file declares ${count} entries`);
    if (count * MIN_ENTRY_BYTES > reader.remaining) {
      fail('COUNT_TOO_LARGE', `the file declares ${count} entries, more than its ${source.size} bytes can hold`);
    }
    const entries: ActivationEntry[] = [];
    const names = new Set<string>();
    for (let i = 0; i < count; i++) {
      const nameLength = await reader.i32(`the name length of entry ${i}`);
      if (nameLength < 1 || nameLength > MAX_NAME_BYTES) fail('INVALID_NAME', `entry ${i} declares a name of ${nameLength} bytes (1 to ${MAX_NAME_BYTES})`);
      const bytes = await reader.bytes(nameLength, `the name of entry ${i}`);
      let name = '';
      try {
        name = strictUtf8(bytes);
      } catch {
        fail('INVALID_NAME', `the name of entry ${i} is not valid UTF-8`);
      }
      if (names.has(name)) fail('DUPLICATE_TENSOR', `the file names "${name}" twice`, name);
      names.add(name);
      const calls = await reader.i32(`the call count of "${name}"`);
      if (calls < 1) fail('INVALID_CALL_COUNT', `ncall is ${calls}: the values cannot be turned back into means`, name);
      const values = await reader.i32(`the value count of "${name}"`);
      if (values < 1) fail('INVALID_VALUE_COUNT', `nval is ${values}, not a positive number of values`, name);
      const offset = reader.position;
      reader.skip(values * 4, `the ${values} values of "${name}"`);
      entries.push({ name, length: values, statistics: { sumSquares: { location: { dtype: 'F32', shape: [values], file: path, offset, bytes: values * 4 }, divisor: calls } } });
    }
    return { format: 'imatrix-dat', file: path, metadata: await readTrailer(reader, fail), entries };
  } finally {
    await source.close();
  }
}

/** The optional trailer: the chunk count, then the dataset's name; anything else after the entries is refused. */
async function readTrailer(reader: Reader, fail: (code: ErrorCode, message: string) => never): Promise<Record<string, string>> {
  const metadata: Record<string, string> = {};
  const left = reader.remaining;
  if (left === 0) return metadata;
  if (left < 4) fail('TRAILING_DATA', `${left} bytes after the last entry, too few for the chunk count`);
  metadata['imatrix.chunk_count'] = String(await reader.i32('the chunk count'));
  if (reader.remaining === 0) return metadata;
  if (reader.remaining < 4) fail('TRAILING_DATA', `${reader.remaining} bytes after the chunk count, too few for the dataset name's length`);
  const length = await reader.i32('the dataset name length');
  if (length < 0 || length !== reader.remaining) {
    fail('TRAILING_DATA', `the dataset name is declared ${length} bytes long but ${reader.remaining} bytes follow`);
  }
  metadata['imatrix.datasets'] = lenientUtf8(await reader.bytes(length, 'the dataset name'));
  return metadata;
}

/**
 * No magic number: a plausible start (a positive entry count, a name length of 1 to 255 bytes, and the first bytes of
 * a printable name) is the claim.
 */
function sniffDat(head: Uint8Array): boolean {
  if (head.length < 9) return false;
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const count = view.getInt32(0, true);
  const nameLength = view.getInt32(4, true);
  if (count < 1 || nameLength < 1 || nameLength > 255) return false;
  const shown = head.subarray(8, Math.min(head.length, 8 + nameLength));
  return shown.every((b) => b >= 0x20 && b < 0x7f);
}

export const imatrixDatImporter: ActivationImporter = {
  format: 'imatrix-dat',
  extensions: ['.dat'],
  sniff: sniffDat,
  open: openDat,
};
