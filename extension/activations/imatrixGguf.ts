/**
 * llama.cpp importance matrices in GGUF (`llama-imatrix -o imatrix.gguf`, tools/imatrix/imatrix.cpp `save_imatrix`):
 * metadata `general.type` = "imatrix", `imatrix.datasets`, `imatrix.chunk_count`, `imatrix.chunk_size`; per weight
 * `<name>` an F32 tensor `<name>.in_sum2` of ggml shape [n, n_mat] — Σ x_j² over the tokens that reached each of
 * the n_mat matrices (experts; 1 for a dense weight) — and `<name>.counts`, F32 [1, n_mat], those token counts.
 * Newer files add `<name>.in_sum` (Σ x_j), which saliency does not use; llama.cpp ignores any other tensor, and so
 * does this importer. The GGUF container itself is validated by the model reader (extension/formats/gguf.ts).
 */
import type { ByteSource, SourceOpener } from '../source/byteSource';
import { elementCount, type TensorEntry } from '../formats/checkpoint';
import { FormatError, type ErrorCode } from '../formats/formatError';
import { ggufReader, readGgufHeader } from '../formats/gguf';
import type { ActivationEntry, ActivationImporter, ActivationStats } from './activationStats';

const SUM2 = '.in_sum2';
const COUNTS = '.counts';
/** Most matrices (experts) one entry may have; llama.cpp's largest MoE models have a few hundred. */
const MAX_MATRICES = 1 << 16;
const METADATA_KEYS = ['general.type', 'imatrix.datasets', 'imatrix.chunk_count', 'imatrix.chunk_size'];

async function openImatrix(path: string, opener: SourceOpener): Promise<ActivationStats> {
  const source = await opener.open(path);
  try {
    const header = await readGgufHeader(source);
    const fail = (code: ErrorCode, message: string, tensor?: string): never => {
      throw new FormatError(code, message, path, tensor);
    };
    const byName = new Map(header.tensors.map((t) => [t.name, t]));
    const bases = header.tensors.filter((t) => t.name.endsWith(SUM2)).map((t) => t.name.slice(0, -SUM2.length));
    if (bases.length === 0) {
      const type = header.metadata['general.type'];
      fail('NOT_ACTIVATIONS', `a GGUF file without any <weight>${SUM2} tensor is not an importance matrix${type ? ` (general.type is "${type}")` : ''}`);
    }
    for (const t of header.tensors) {
      if (t.name.endsWith(COUNTS) && !byName.has(t.name.slice(0, -COUNTS.length) + SUM2)) {
        fail('MISSING_COUNTS', `"${t.name}" has no matching ${SUM2} tensor`, t.name);
      }
    }
    const entries: ActivationEntry[] = [];
    for (const name of bases) {
      const sums = byName.get(name + SUM2)!;
      const counts = byName.get(name + COUNTS);
      if (!counts) return fail('MISSING_COUNTS', `"${name}${SUM2}" has no "${name}${COUNTS}" tensor (the token counts)`, sums.name);
      for (const t of [sums, counts]) {
        if (t.problem) fail(t.problem.code, t.problem.message, t.name);
        if (t.dtype !== 'F32') fail('UNSUPPORTED_DTYPE', `an importance matrix stores F32, not ${t.dtype}`, t.name);
      }
      const length = elementCount(sums.shape);
      const matrices = elementCount(counts.shape);
      if (matrices > MAX_MATRICES) fail('INVALID_SHAPE', `${matrices} token counts, more than the ${MAX_MATRICES} matrices an entry may have`, counts.name);
      if (matrices === 0 || length === 0 || length % matrices !== 0) {
        fail('INVALID_SHAPE', `${length} sums do not split into the ${matrices} matrices "${counts.name}" counts`, sums.name);
      }
      const tokens = await readCounts(source, counts, header.bigEndian, fail);
      entries.push({ name, length, statistics: { sumSquares: { location: { ...sums, shape: [length] } } }, tokens });
    }
    const metadata: Record<string, string> = {};
    for (const key of METADATA_KEYS) if (header.metadata[key] !== undefined) metadata[key] = header.metadata[key]!;
    return { format: 'imatrix', file: path, metadata, entries };
  } finally {
    await source.close();
  }
}

/** The token counts: whole numbers of at least 0 (llama.cpp rounds them), one per matrix. */
async function readCounts(source: ByteSource, counts: TensorEntry, bigEndian: boolean, fail: (code: ErrorCode, message: string, tensor?: string) => never): Promise<number[]> {
  const bytes = new Uint8Array(counts.bytes);
  const got = await source.read(counts.offset, bytes);
  if (got !== bytes.length) fail('READ_ERROR', `short read at byte ${counts.offset}: ${got} of ${bytes.length}`, counts.name);
  const view = new DataView(bytes.buffer);
  return Array.from({ length: bytes.length / 4 }, (_, i) => {
    const count = view.getFloat32(4 * i, !bigEndian);
    if (!Number.isFinite(count) || count < 0) fail('INVALID_COUNTS', `token count ${i} is ${count}, not a finite number of at least 0`, counts.name);
    return count;
  });
}

export const imatrixGgufImporter: ActivationImporter = {
  format: 'imatrix',
  extensions: ['.gguf'],
  sniff: (head) => ggufReader.sniff(head),
  open: openImatrix,
};
