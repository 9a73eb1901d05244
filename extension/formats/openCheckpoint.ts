/**
 * Resolves what the user opened — a .safetensors file, a Hugging Face *.index.json, or a folder — into one
 * Checkpoint. The index is a Hugging Face convention: only its `weight_map` (tensor → shard file) is authoritative.
 */
import { basename, dirname, join } from 'node:path';
import type { ByteSource, SourceOpener } from '../source/byteSource';
import type { Checkpoint, CheckpointFile, TensorEntry } from './checkpoint';
import { FormatError } from './formatError';
import { readSafetensorsHeader, type SafetensorsHeader } from './safetensors';

const MAX_INDEX_BYTES = 100_000_000;
const PARALLEL_SHARD_READS = 8;

export async function openCheckpoint(path: string, opener: SourceOpener): Promise<Checkpoint> {
  if (!(await opener.exists(path))) throw new FormatError('FILE_NOT_FOUND', 'no such file or folder', path);
  if (await opener.isDirectory(path)) return openDirectory(path, opener);
  if (path.endsWith('.json')) return openIndex(path, opener);
  if (path.endsWith('.safetensors')) return openShards([path], opener);
  // Unknown extension: accept it when the bytes look like safetensors (the header starts "{" after 8 bytes).
  const source = await opener.open(path);
  try {
    const probe = new Uint8Array(9);
    if ((await source.read(0, probe)) === 9 && probe[8] === 0x7b) return await openShards([path], opener);
  } finally {
    await source.close();
  }
  throw new FormatError('UNSUPPORTED_FORMAT', 'not a safetensors file, index or folder', path);
}

async function openDirectory(path: string, opener: SourceOpener): Promise<Checkpoint> {
  const names = (await opener.listDirectory(path)).sort();
  const indexes = names.filter((n) => n.endsWith('.safetensors.index.json'));
  if (indexes.length === 1) return openIndex(join(path, indexes[0]!), opener);
  const files = names.filter((n) => n.endsWith('.safetensors'));
  if (files.length === 0) throw new FormatError('EMPTY_DIRECTORY', 'the folder holds no .safetensors file or index', path);
  return openShards(files.map((n) => join(path, n)), opener);
}

async function openIndex(indexPath: string, opener: SourceOpener): Promise<Checkpoint> {
  const invalid = (message: string): FormatError => new FormatError('INVALID_INDEX', message, indexPath);
  const source = await opener.open(indexPath);
  let text: string;
  try {
    if (source.size > MAX_INDEX_BYTES) throw invalid(`the index has ${source.size} bytes, more than ${MAX_INDEX_BYTES}`);
    const bytes = new Uint8Array(source.size);
    await source.read(0, bytes);
    text = new TextDecoder().decode(bytes);
  } finally {
    await source.close();
  }
  let index: unknown;
  try {
    index = JSON.parse(text);
  } catch (error) {
    throw invalid(`not valid JSON: ${(error as Error).message}`);
  }
  const weightMap = (index as { weight_map?: unknown } | null)?.weight_map;
  if (typeof index !== 'object' || index === null || typeof weightMap !== 'object' || weightMap === null || Array.isArray(weightMap)) {
    throw invalid('no "weight_map" object');
  }
  const needs = new Map<string, string[]>(); // shard → tensors the index places there
  for (const [tensor, shard] of Object.entries(weightMap)) {
    if (typeof shard !== 'string') throw invalid(`weight_map entry "${tensor}" is not a file name`);
    needs.set(shard, [...(needs.get(shard) ?? []), tensor]);
  }
  const folder = dirname(indexPath);
  for (const [shard, tensors] of needs) {
    if (!(await opener.exists(join(folder, shard)))) {
      throw new FormatError('MISSING_SHARD', `shard "${shard}" (needed for "${tensors[0]}") does not exist`, indexPath, tensors[0]);
    }
  }
  const shardPaths = [...needs.keys()].map((shard) => join(folder, shard));
  const indexMetadata = (index as { metadata?: unknown }).metadata;
  const extra: Record<string, string> = {};
  if (typeof indexMetadata === 'object' && indexMetadata !== null) {
    for (const [k, v] of Object.entries(indexMetadata)) extra[k] = typeof v === 'string' ? v : JSON.stringify(v);
  }
  const checkpoint = await openShards(shardPaths, opener, extra);
  const present = new Map(checkpoint.tensors.map((t) => [t.name, t.file]));
  for (const [shard, tensors] of needs) {
    for (const tensor of tensors) {
      if (present.get(tensor) !== join(folder, shard)) {
        throw new FormatError('MISSING_TENSOR', `the index places "${tensor}" in "${shard}", which does not hold it`, indexPath, tensor);
      }
    }
  }
  return checkpoint;
}

/** Reads every shard's header (a bounded number at a time) and joins them in the given order. */
async function openShards(paths: readonly string[], opener: SourceOpener, extraMetadata: Record<string, string> = {}): Promise<Checkpoint> {
  const headers: { header: SafetensorsHeader; bytes: number }[] = new Array(paths.length);
  let next = 0;
  const readNext = async (): Promise<void> => {
    while (next < paths.length) {
      const i = next++;
      let source: ByteSource | undefined;
      try {
        source = await opener.open(paths[i]!);
        headers[i] = { header: await readSafetensorsHeader(source), bytes: source.size };
      } finally {
        await source?.close();
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(PARALLEL_SHARD_READS, paths.length) }, readNext));

  const files: CheckpointFile[] = [];
  const tensors: TensorEntry[] = [];
  const metadata: Record<string, string> = {};
  const seen = new Map<string, string>();
  headers.forEach(({ header, bytes }, i) => {
    const path = paths[i]!;
    files.push({ path, bytes });
    for (const [k, v] of Object.entries(header.metadata)) if (!(k in metadata)) metadata[k] = v;
    for (const tensor of header.tensors) {
      const other = seen.get(tensor.name);
      if (other !== undefined) {
        throw new FormatError('DUPLICATE_TENSOR', `"${tensor.name}" is in both ${basename(other)} and ${basename(path)}`, path, tensor.name);
      }
      seen.set(tensor.name, path);
      tensors.push(tensor);
    }
  });
  for (const [k, v] of Object.entries(extraMetadata)) if (!(k in metadata)) metadata[k] = v;
  return { format: 'safetensors', files, metadata, tensors };
}
