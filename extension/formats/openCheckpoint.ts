/**
 * Resolves what the user opened — a checkpoint file of any supported format, a Hugging Face `*.index.json`, or a
 * folder — into one Checkpoint, through the registered format readers. The index is a Hugging Face convention
 * shared by safetensors and `pytorch_model.bin` shards: only its `weight_map` (tensor → shard file) is
 * authoritative.
 */
import { basename, dirname, join } from 'node:path';
import type { ByteSource, SourceOpener } from '../source/byteSource';
import { addMissingMetadata, setMetadataEntry, type Checkpoint, type CheckpointFile, type CheckpointFormat, type Finding, type TensorEntry } from './checkpoint';
import { FormatError } from './formatError';
import type { CheckpointPart, FormatReader } from './formatReader';
import { ggufReader } from './gguf';
import { numpyReader } from './numpy';
import { onnxReader } from './onnx';
import { pytorchReader } from './pytorch';
import { safetensorsReader } from './safetensors';

/** Every format reader, in the order ties are resolved: formats with exact magic bytes before ONNX's heuristic. */
export const FORMAT_READERS: readonly FormatReader[] = [safetensorsReader, ggufReader, pytorchReader, numpyReader, onnxReader];

const MAX_INDEX_BYTES = 100_000_000;
const PARALLEL_SHARD_READS = 8;
const SNIFF_BYTES = 64;

export async function openCheckpoint(path: string, opener: SourceOpener): Promise<Checkpoint> {
  if (!(await opener.exists(path))) throw new FormatError('FILE_NOT_FOUND', 'no such file or folder', path);
  if (await opener.isDirectory(path)) return openDirectory(path, opener);
  if (path.toLowerCase().endsWith('.index.json')) return openIndex(path, opener);
  const reader = await readerFor(path, opener);
  if (!reader) throw new FormatError('UNSUPPORTED_FORMAT', 'not a checkpoint format Weightscope reads', path);
  return joinParts(reader.format, [await reader.open(path, opener)]);
}

/** The reader named by a dedicated file ending, else the one that recognizes the content, else a generic ending's. */
async function readerFor(path: string, opener: SourceOpener): Promise<FormatReader | undefined> {
  const named = readerByName(path);
  if (named && !named.generic) return named;
  return (await readerByContent(path, opener)) ?? named;
}

function readerByName(path: string): FormatReader | undefined {
  const name = path.toLowerCase();
  return FORMAT_READERS.find((r) => r.extensions.some((ext) => name.endsWith(ext)));
}

async function readerByContent(path: string, opener: SourceOpener): Promise<FormatReader | undefined> {
  const source = await opener.open(path);
  try {
    const head = new Uint8Array(Math.min(SNIFF_BYTES, source.size));
    await source.read(0, head);
    return FORMAT_READERS.find((r) => r.sniff(head));
  } finally {
    await source.close();
  }
}

/** A folder: its one index if it has one, else every checkpoint file of the single format it holds. */
async function openDirectory(path: string, opener: SourceOpener): Promise<Checkpoint> {
  const names = (await opener.listDirectory(path)).sort();
  const indexes = names.filter((n) => /\.(safetensors|bin)\.index\.json$/i.test(n));
  if (indexes.length === 1) return openIndex(join(path, indexes[0]!), opener);
  if (indexes.length > 1) {
    throw new FormatError('UNSUPPORTED_FORMAT', `the folder holds several indexes (${indexes.join(', ')}): open one of them`, path);
  }
  const byFormat = new Map<FormatReader, string[]>();
  for (const name of names) {
    const reader = readerByName(name);
    if (reader) byFormat.set(reader, [...(byFormat.get(reader) ?? []), join(path, name)]);
  }
  if (byFormat.size === 0) throw new FormatError('EMPTY_DIRECTORY', 'the folder holds no checkpoint file or index', path);
  if ([...byFormat.keys()].some((r) => !r.generic)) for (const reader of [...byFormat.keys()]) if (reader.generic) byFormat.delete(reader);
  if (byFormat.size > 1) {
    const formats = [...byFormat.keys()].map((r) => r.format).join(', ');
    throw new FormatError('UNSUPPORTED_FORMAT', `the folder mixes checkpoint formats (${formats}): open one file`, path);
  }
  const [reader, files] = [...byFormat][0]!;
  const toOpen = reader.primaryFiles?.(files) ?? files;
  return joinParts(reader.format, await openEach(toOpen, (file) => reader.open(file, opener)));
}

async function openIndex(indexPath: string, opener: SourceOpener): Promise<Checkpoint> {
  const invalid = (message: string): FormatError => new FormatError('INVALID_INDEX', message, indexPath);
  const text = await readText(indexPath, opener, MAX_INDEX_BYTES, invalid);
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
    if (typeof shard !== 'string' || shard === '' || shard.includes('/') || shard.includes('\\')) {
      throw invalid(`weight_map entry "${tensor}" is not the name of a file beside the index`);
    }
    needs.set(shard, [...(needs.get(shard) ?? []), tensor]);
  }
  if (needs.size === 0) throw invalid('"weight_map" is empty');
  const folder = dirname(indexPath);
  for (const [shard, tensors] of needs) {
    if (!(await opener.exists(join(folder, shard)))) {
      throw new FormatError('MISSING_SHARD', `shard "${shard}" (needed for "${tensors[0]}") does not exist`, indexPath, tensors[0]);
    }
  }
  const shardPaths = [...needs.keys()].map((shard) => join(folder, shard));
  const reader = await readerFor(shardPaths[0]!, opener);
  if (!reader) throw invalid(`its shards (such as "${basename(shardPaths[0]!)}") are not in a format Weightscope reads`);
  const indexMetadata = (index as { metadata?: unknown }).metadata;
  const extra: Record<string, string> = {};
  if (typeof indexMetadata === 'object' && indexMetadata !== null) {
    for (const [k, v] of Object.entries(indexMetadata)) setMetadataEntry(extra, k, typeof v === 'string' ? v : JSON.stringify(v));
  }
  const checkpoint = joinParts(reader.format, await openEach(shardPaths, (file) => reader.open(file, opener)), extra);
  const present = new Map(checkpoint.tensors.map((t) => [t.name, t.file]));
  for (const [shard, tensors] of needs) {
    for (const tensor of tensors) {
      if (present.get(tensor) !== join(folder, shard)) {
        throw new FormatError('MISSING_TENSOR', `the index places "${tensor}" in "${shard}", which does not hold it`, indexPath, tensor);
      }
    }
  }
  return { ...checkpoint, index: indexPath };
}

/** Opens every file, a bounded number at a time, keeping the given order. */
async function openEach(paths: readonly string[], open: (path: string) => Promise<CheckpointPart>): Promise<CheckpointPart[]> {
  const parts: CheckpointPart[] = new Array(paths.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < paths.length) {
      const i = next++;
      parts[i] = await open(paths[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(PARALLEL_SHARD_READS, paths.length) }, worker));
  return parts;
}

/** One checkpoint from parts; a tensor name found in two files is an error. */
export function joinParts(format: CheckpointFormat, parts: readonly CheckpointPart[], extraMetadata: Record<string, string> = {}): Checkpoint {
  const files: CheckpointFile[] = [];
  const tensors: TensorEntry[] = [];
  const findings: Finding[] = [];
  const metadata: Record<string, string> = {};
  const seen = new Map<string, string>();
  for (const part of parts) {
    files.push(...part.files);
    findings.push(...(part.findings ?? []));
    addMissingMetadata(metadata, part.metadata);
    for (const tensor of part.tensors) {
      const other = seen.get(tensor.name);
      if (other !== undefined) {
        throw new FormatError('DUPLICATE_TENSOR', `"${tensor.name}" is in both ${basename(other)} and ${basename(tensor.file)}`, tensor.file, tensor.name);
      }
      seen.set(tensor.name, tensor.file);
      tensors.push(tensor);
    }
  }
  addMissingMetadata(metadata, extraMetadata);
  return { format, files, metadata, tensors, ...(findings.length > 0 ? { findings } : {}) };
}

async function readText(path: string, opener: SourceOpener, limit: number, invalid: (message: string) => FormatError): Promise<string> {
  let source: ByteSource | undefined;
  try {
    source = await opener.open(path);
    if (source.size > limit) throw invalid(`the file has ${source.size} bytes, more than ${limit}`);
    const bytes = new Uint8Array(source.size);
    await source.read(0, bytes);
    return new TextDecoder().decode(bytes);
  } finally {
    await source?.close();
  }
}
