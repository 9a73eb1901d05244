/**
 * PyTorch checkpoints (`torch.save`, `torch.jit.save`), read without running anything:
 * - the zip format (PyTorch ≥ 1.6): `<archive>/data.pkl`, one `<archive>/data/<key>` entry per storage, optional
 *   `<archive>/byteorder`; TorchScript archives add `constants.pkl` (storages in `constants/`) and `code/`;
 * - the legacy stream (before 1.6): pickled magic number, protocol 1001, sys_info, the object, the storage keys,
 *   then each storage as an 8-byte element count and its raw bytes.
 * Tensor names are the object's paths (a state_dict's keys; `state.0.exp_avg` in an optimizer state). Globals
 * outside the allowed set become findings; the file still opens as far as the allowed parts go.
 */
import { basename } from 'node:path';
import type { ByteSource, SourceOpener } from '../source/byteSource';
import { elementCount, isContiguous, setMetadataEntry, type Finding, type TensorEntry, type TensorProblem } from './checkpoint';
import { FormatError, type ErrorCode } from './formatError';
import type { CheckpointPart, FormatReader } from './formatReader';
import { OpaqueObject, PickleDict, PickleGlobal, PickleList, PickleTuple, unpickle, type PickleValue, type UnpickleResult } from './pickle';
import {
  dtypeOfStorageClass,
  NumpyArray,
  resolveTorchGlobal,
  StorageRef,
  TensorRef,
  walkTree,
  type TensorLike,
  type UnsupportedTensor,
} from './torchPickle';
import { firstEntryName, isZip, readExactly, ZipArchive } from './zip';

/** Largest pickle read into memory (data.pkl, constants.pkl, the legacy format's leading pickles). */
export const MAX_PICKLE_BYTES = 256 << 20;
const LEGACY_MAGIC = [0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19]; // 0x1950a86a20f9469cfc6c, little-endian
const LEGACY_MAGIC_NUMBER = 0x1950a86a20f9469cfc6cn;
const LEGACY_PROTOCOL_VERSION = 1001;
const LEGACY_FIRST_READ = 1 << 20;
const LEGACY_HEADER_WINDOW = 1 << 16;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** Where a storage's bytes are, or why they cannot be read. */
type StorageSite =
  | { file: string; start: number; bigEndian: boolean; deflate?: TensorEntry['deflate']; problem?: undefined }
  | { problem: TensorProblem };

/** One pickle of a checkpoint and how to reach what it refers to. */
interface PickleSource {
  /** "data.pkl", "constants.pkl", "the legacy object pickle". */
  what: string;
  result: UnpickleResult;
  /** Path parts every tensor name of this pickle starts with. */
  namePrefix: string[];
  /** Offset reported for arrays decoded from the pickle itself. */
  pickleOffset: number;
  locate(storage: StorageRef): Promise<StorageSite>;
}

export const pytorchReader: FormatReader = {
  format: 'pytorch',
  extensions: ['.pt', '.pth', '.bin', '.ckpt', '.jit'],
  generic: true,
  sniff(head) {
    if (isLegacy(head)) return true;
    const first = firstEntryName(head);
    return first !== undefined && first.name.includes('/') && !(first.complete && first.name.endsWith('.npy'));
  },
  async open(path: string, opener: SourceOpener): Promise<CheckpointPart> {
    const source = await opener.open(path);
    try {
      const head = new Uint8Array(Math.min(16, source.size));
      await readExactly(source, 0, head);
      const fallbackName = basename(path).replace(/\.[^.]*$/, '');
      let pickles: PickleSource[];
      let torchScript = false;
      if (isZip(head)) ({ pickles, torchScript } = await readZipArchive(source));
      else if (isLegacy(head)) pickles = await readLegacyFile(source);
      else throw new FormatError('TORCH_INVALID_ARCHIVE', 'neither a PyTorch zip archive nor a legacy (before 1.6) torch.save file', path);
      const { tensors, metadata, findings } = await collect(pickles, path, source.size, fallbackName, torchScript);
      return { files: [{ path, bytes: source.size }], metadata, tensors, ...(findings.length > 0 ? { findings } : {}) };
    } finally {
      await source.close();
    }
  },
};

function isLegacy(head: Uint8Array): boolean {
  return head.length >= 14 && head[0] === 0x80 && head[2] === 0x8a && head[3] === 0x0a && LEGACY_MAGIC.every((b, i) => head[4 + i] === b);
}

// --- zip archives ------------------------------------------------------------------------------------------------

async function readZipArchive(source: ByteSource): Promise<{ pickles: PickleSource[]; torchScript: boolean }> {
  const file = source.name;
  const fail = (code: ErrorCode, message: string): never => {
    throw new FormatError(code, message, file);
  };
  const archive = await ZipArchive.open(source);
  await archive.loadDataOffsets();
  const first = archive.entries[0]?.name;
  const slash = first?.indexOf('/') ?? -1;
  if (first === undefined || slash <= 0) return fail('TORCH_INVALID_ARCHIVE', 'the zip entries are not inside a top folder, as torch.save writes them');
  const prefix = first.slice(0, slash + 1);

  let bigEndian = false;
  const byteorder = archive.get(`${prefix}byteorder`);
  if (byteorder) {
    const text = new TextDecoder().decode(await archive.read(byteorder, 64)).trim();
    if (text !== 'little' && text !== 'big') fail('TORCH_INVALID_ARCHIVE', `byteorder says "${text.slice(0, 20)}", not "little" or "big"`);
    bigEndian = text === 'big';
  }
  const torchScript = archive.get(`${prefix}constants.pkl`) !== undefined || archive.entries.some((e) => e.name.startsWith(`${prefix}code/`));
  const layouts = [{ what: 'data.pkl', dirs: ['data/'], namePrefix: [] as string[] }];
  if (torchScript && archive.get(`${prefix}constants.pkl`)) layouts.push({ what: 'constants.pkl', dirs: ['constants/', 'tensors/'], namePrefix: ['constants'] });
  if (!archive.get(`${prefix}data.pkl`)) fail('TORCH_INVALID_ARCHIVE', `no ${prefix}data.pkl in the archive`);

  const pickles: PickleSource[] = [];
  for (const layout of layouts) {
    const entry = archive.get(`${prefix}${layout.what}`)!;
    const bytes = await archive.read(entry, MAX_PICKLE_BYTES);
    const { dataOffset } = await archive.locate(entry);
    const result = unpickle(bytes, 0, { what: layout.what, file, resolveGlobal: resolveTorchGlobal, persistentLoad: storageLoader(file, layout.what, false).load });
    const sites = new Map<string, Promise<StorageSite>>();
    const locate = async (storage: StorageRef): Promise<StorageSite> => {
      const candidates = layout.dirs.map((dir) => `${prefix}${dir}${storage.key}`);
      const storageEntry = candidates.map((name) => archive.get(name)).find((e) => e !== undefined);
      if (!storageEntry) return problem('TORCH_MISSING_STORAGE', `its storage "${candidates[0]}" is not in the archive`);
      const needed = storage.numel * storage.dtype.elementBytes;
      if (storageEntry.uncompressedBytes < needed) {
        return problem('TORCH_STORAGE_SIZE', `storage "${storageEntry.name}" holds ${storageEntry.uncompressedBytes} bytes but declares ${storage.numel} × ${storage.dtype.elementBytes}`);
      }
      try {
        const site = await archive.locate(storageEntry);
        return site.deflated
          ? { file, start: 0, bigEndian, deflate: { dataOffset: site.dataOffset, compressedBytes: storageEntry.compressedBytes } }
          : { file, start: site.dataOffset, bigEndian };
      } catch (error) {
        if (error instanceof FormatError) return problem(error.code, error.message);
        throw error;
      }
    };
    pickles.push({
      what: layout.what,
      result,
      namePrefix: layout.namePrefix,
      pickleOffset: dataOffset,
      locate: (storage) => {
        let site = sites.get(storage.key);
        if (!site) sites.set(storage.key, (site = locate(storage)));
        return site;
      },
    });
  }
  return { pickles, torchScript };
}

function problem(code: ErrorCode, message: string): StorageSite {
  return { problem: { code, message } };
}

/**
 * The persistent_load of torch.load: ('storage', storage_type, key, location, numel) in zip archives; the legacy
 * format adds view_metadata (view_key, offset, view_size) and pickles nn.Module classes as ('module', class, …).
 */
function storageLoader(file: string, what: string, legacy: boolean): { load: (pid: PickleValue) => PickleValue; roots: ReadonlyMap<string, StorageRef> } {
  const roots = new Map<string, StorageRef>();
  const invalid = (message: string): never => {
    throw new FormatError('TORCH_INVALID_STORAGE', `${what}: ${message}`, file);
  };
  const load = (pid: PickleValue): PickleValue => {
    if (!(pid instanceof PickleTuple)) return invalid('a persistent id that is not a tuple');
    const [kind, type, rawKey, , numel, view] = pid.items;
    if (legacy && kind === 'module') return pid.items[1] ?? null;
    if (kind !== 'storage' || pid.items.length < 5) return invalid('a persistent id that is not ("storage", type, key, location, size)');
    const dtype = dtypeOfStorageClass(type ?? null);
    if (!dtype) return invalid(`unknown storage type ${type instanceof PickleGlobal ? type.qualifiedName : String(type)}`);
    if (typeof rawKey !== 'string' && typeof rawKey !== 'number') return invalid('a storage key that is not a string');
    if (typeof numel !== 'number' || !Number.isSafeInteger(numel) || numel < 0) return invalid(`storage "${rawKey}" has a size that is not a non-negative integer`);
    const key = String(rawKey);
    if (BigInt(numel) * BigInt(dtype.elementBytes) > MAX_SAFE) invalid(`storage "${key}" is too large to address`);
    let root = roots.get(key);
    if (!root) roots.set(key, (root = new StorageRef(dtype, key, numel)));
    if (!legacy || view === null || view === undefined) return root;
    const [, offset, size] = view instanceof PickleTuple ? view.items : [];
    if (typeof offset !== 'number' || typeof size !== 'number' || !Number.isSafeInteger(offset) || !Number.isSafeInteger(size) || offset < 0 || size < 0 || offset + size > root.numel) {
      return invalid(`storage "${key}" has a view outside its ${root.numel} elements`);
    }
    return new StorageRef(root.dtype, key, size, offset);
  };
  return { load, roots };
}

// --- the legacy format -------------------------------------------------------------------------------------------

async function readLegacyFile(source: ByteSource): Promise<PickleSource[]> {
  const file = source.name;
  const fail = (message: string): never => {
    throw new FormatError('TORCH_LEGACY_INVALID', message, file);
  };
  // The five leading pickles have no length prefix: read a prefix of the file and grow it while a pickle runs off.
  for (let length = Math.min(source.size, LEGACY_FIRST_READ); ; length = Math.min(source.size, MAX_PICKLE_BYTES, length * 8)) {
    const bytes = new Uint8Array(length);
    await readExactly(source, 0, bytes);
    try {
      return await parseLegacy(source, bytes, fail);
    } catch (error) {
      const cutShort = error instanceof FormatError && error.code === 'PICKLE_TRUNCATED' && length < source.size;
      if (!cutShort) throw error;
      if (length >= MAX_PICKLE_BYTES) fail(`the leading pickles are longer than the limit of ${MAX_PICKLE_BYTES} bytes`);
    }
  }
}

async function parseLegacy(source: ByteSource, bytes: Uint8Array, fail: (message: string) => never): Promise<PickleSource[]> {
  const file = source.name;
  const plain = (what: string, start: number): UnpickleResult => unpickle(bytes, start, { what, file, resolveGlobal: resolveTorchGlobal });
  const magic = plain('the magic number pickle', 0);
  if (BigInt(typeof magic.value === 'number' || typeof magic.value === 'bigint' ? magic.value : -1) !== LEGACY_MAGIC_NUMBER) fail('the first pickle is not the torch.save magic number');
  const protocol = plain('the protocol version pickle', magic.end);
  if (protocol.value !== LEGACY_PROTOCOL_VERSION) fail(`protocol version ${String(protocol.value)}, not ${LEGACY_PROTOCOL_VERSION}`);
  const sysInfo = plain('the sys_info pickle', protocol.end);
  if (!(sysInfo.value instanceof PickleDict)) fail('sys_info is not a dict');
  const bigEndian = (sysInfo.value as PickleDict).get('little_endian') === false;
  const objectStart = sysInfo.end;
  const loader = storageLoader(file, 'the object pickle', true);
  const object = unpickle(bytes, objectStart, { what: 'the object pickle', file, resolveGlobal: resolveTorchGlobal, persistentLoad: loader.load });
  const keysPickle = plain('the storage keys pickle', object.end);
  const keyItems = keysPickle.value instanceof PickleList ? keysPickle.value.items : undefined;
  if (!keyItems || !keyItems.every((k) => typeof k === 'string' || typeof k === 'number')) return fail('the storage keys are not a list of strings');

  // Each listed storage's record, in key order: its size comes from the persistent ids that named it.
  const starts = new Map<string, number>();
  const headers = new HeaderWindow(source);
  let at = keysPickle.end;
  for (const rawKey of keyItems as (string | number)[]) {
    const key = String(rawKey);
    const storage = loader.roots.get(key);
    if (!storage) return fail(`storage "${key}" is listed but the object never names it, so its size is unknown`);
    if (at + 8 > source.size) fail(`the file ends before the record of storage "${key}"`);
    const count = await headers.count(at, !bigEndian);
    if (count !== BigInt(storage.numel)) fail(`the record of storage "${key}" holds ${count} elements but the object declares ${storage.numel}`);
    starts.set(key, at + 8);
    at += 8 + storage.numel * storage.dtype.elementBytes;
    if (at > source.size) fail(`storage "${key}" runs past the end of the file`);
  }
  return [
    {
      what: 'the object pickle',
      result: object,
      namePrefix: [],
      pickleOffset: objectStart,
      locate: async (storage) => {
        const start = starts.get(storage.key);
        if (start === undefined) return problem('TORCH_MISSING_STORAGE', `storage "${storage.key}" is not among the stored keys`);
        return { file, start, bigEndian };
      },
    },
  ];
}

/** Reads the legacy format's 8-byte storage counts through one buffered window, since they are often close. */
class HeaderWindow {
  private window = new Uint8Array(0);
  private windowStart = 0;

  constructor(private readonly source: ByteSource) {}

  async count(at: number, littleEndian: boolean): Promise<bigint> {
    if (at < this.windowStart || at + 8 > this.windowStart + this.window.length) {
      this.windowStart = at;
      this.window = new Uint8Array(Math.min(LEGACY_HEADER_WINDOW, this.source.size - at));
      await readExactly(this.source, at, this.window);
    }
    return new DataView(this.window.buffer).getBigInt64(at - this.windowStart, littleEndian);
  }
}

// --- from objects to tensors -------------------------------------------------------------------------------------

interface Collected {
  tensors: TensorEntry[];
  metadata: Record<string, string>;
  findings: Finding[];
}

async function collect(pickles: readonly PickleSource[], file: string, fileBytes: number, fallbackName: string, torchScript: boolean): Promise<Collected> {
  const tensors: TensorEntry[] = [];
  const metadata: Record<string, string> = {};
  const names = new Set<string>();
  const firstUse = new Map<string, string>();
  const unsupported = new Map<string, { count: number; first: string }>();
  const findings: Finding[] = [];
  for (const pickle of pickles) {
    const found: { name: string; value: TensorLike }[] = [];
    const nameOf = (path: readonly string[]): string => [...pickle.namePrefix, ...path].join('.');
    const walked = walkTree(pickle.result.value, {
      tensor: (path, value) => found.push({ name: uniqueName(nameOf(path) || fallbackName, names), value }),
      unsupported: (path, value: UnsupportedTensor) => {
        const seen = unsupported.get(value.kind);
        if (seen) seen.count++;
        else unsupported.set(value.kind, { count: 1, first: nameOf(path) });
      },
      opaque: (path, value: OpaqueObject) => {
        if (!firstUse.has(value.type.qualifiedName)) firstUse.set(value.type.qualifiedName, nameOf(path));
      },
    }, (message) => {
      throw new FormatError('PICKLE_LIMIT', `${pickle.what}: ${message}`, file);
    });
    for (const [key, value] of Object.entries(walked.metadata)) setMetadataEntry(metadata, [...pickle.namePrefix, key].join('.'), value);
    for (const { name, value } of found) tensors.push(await tensorEntry(name, value, pickle, file, fileBytes));
  }
  findings.push(...globalFindings(pickles, file, firstUse, torchScript));
  for (const [kind, { count, first }] of unsupported) {
    findings.push({
      code: 'UNSUPPORTED_TENSOR',
      message: `${count} tensor(s) rebuilt by ${kind} (first at "${first || 'the top level'}") are not listed: sparse, nested, meta and subclass tensors are not shown`,
      file,
    });
  }
  return { tensors, metadata, findings };
}

function uniqueName(name: string, names: Set<string>): string {
  let unique = name;
  for (let n = 2; names.has(unique); n++) unique = `${name}#${n}`;
  names.add(unique);
  return unique;
}

function globalFindings(pickles: readonly PickleSource[], file: string, firstUse: ReadonlyMap<string, string>, torchScript: boolean): Finding[] {
  const findings: Finding[] = [];
  const scriptClasses: string[] = [];
  for (const pickle of pickles) {
    for (const [qualifiedName, { global, offset }] of pickle.result.unsafeGlobals) {
      if (torchScript && global.module.startsWith('__torch__')) {
        if (!scriptClasses.includes(qualifiedName)) scriptClasses.push(qualifiedName);
        continue;
      }
      const used = firstUse.get(qualifiedName);
      const where = used === undefined ? '' : `, an object of it at ${used === '' ? 'the top level' : `"${used}"`}`;
      findings.push({
        code: 'UNSAFE_GLOBAL',
        message: `${pickle.what} references ${qualifiedName} (byte ${offset}${where}): torch.load(weights_only=False) would import and run it; Weightscope did not`,
        file,
      });
    }
  }
  if (scriptClasses.length > 0) {
    findings.push({
      code: 'TORCHSCRIPT_CODE',
      message: `a TorchScript archive: torch.jit.load compiles and runs its code/ (${scriptClasses.length} classes such as ${scriptClasses[0]}); Weightscope lists its tensors without running anything`,
      file,
    });
  }
  return findings;
}

async function tensorEntry(name: string, value: TensorLike, pickle: PickleSource, file: string, fileBytes: number): Promise<TensorEntry> {
  if (value instanceof NumpyArray) return numpyEntry(name, value, pickle, file);
  const ref = value instanceof StorageRef ? new TensorRef(value, value.dtype, 0, [value.numel], [1]) : value;
  const dtype = ref.dtype;
  const shape = ref.shape;
  const elementBytes = dtype?.elementBytes ?? 0;
  const count = shape.reduce((n, d) => n * BigInt(d), 1n);
  const base = { name, dtype: dtype?.dtype ?? dtype?.display ?? 'unknown', shape, file };
  const withProblem = (offset: number, code: ErrorCode, message: string): TensorEntry => ({
    ...base,
    offset,
    bytes: count * BigInt(elementBytes) <= MAX_SAFE ? Number(count * BigInt(elementBytes)) : 0,
    problem: { code, message },
  });
  if (ref.problem || !ref.storage || !dtype) return withProblem(0, ref.problem?.code ?? 'TORCH_INVALID_TENSOR', ref.problem?.message ?? 'the tensor has no storage');
  const site = await pickle.locate(ref.storage);
  if (site.problem) return withProblem(0, site.problem.code, site.problem.message);
  const storageStart = site.start + ref.storage.elementOffset * ref.storage.dtype.elementBytes;
  const offset = storageStart + ref.storageOffset * elementBytes;
  if (!dtype.dtype) return withProblem(offset, 'UNSUPPORTED_DTYPE', `torch dtype ${dtype.torchName} is not a type Weightscope decodes`);
  const bytes = count * BigInt(elementBytes);
  if (bytes > MAX_SAFE) return withProblem(offset, 'TORCH_INVALID_TENSOR', `shape [${shape.join(', ')}] is too large to address`);
  const capacity = BigInt(Math.floor((ref.storage.numel * ref.storage.dtype.elementBytes) / elementBytes));
  if (count > 0n) {
    const last = shape.reduce((sum, d, i) => sum + BigInt(d - 1) * BigInt(ref.strides[i]!), BigInt(ref.storageOffset));
    if (last >= capacity) {
      return withProblem(offset, 'VIEW_OUT_OF_RANGE', `the view (offset ${ref.storageOffset}, shape [${shape.join(', ')}], stride [${ref.strides.join(', ')}]) reaches element ${last} of a storage of ${capacity}`);
    }
  }
  // A view with more elements than its storage repeats some (stride 0, as expand makes): a few pickle bytes could ask
  // for years of work, so such a view may address no more bytes than the file holds, the bound of every other tensor.
  if (count > capacity && bytes > BigInt(fileBytes)) {
    return withProblem(offset, 'VIEW_TOO_LARGE', `the view (shape [${shape.join(', ')}], stride [${ref.strides.join(', ')}]) repeats the ${capacity} elements of its storage as ${bytes} bytes, more than the ${fileBytes} bytes of the file`);
  }
  return {
    ...base,
    dtype: dtype.dtype,
    offset,
    bytes: Number(bytes),
    ...(isContiguous(shape, ref.strides) ? {} : { strides: [...ref.strides] }),
    ...(site.bigEndian && elementBytes > 1 ? { bigEndian: true } : {}),
    ...(site.deflate ? { deflate: site.deflate } : {}),
  };
}

/** A NumPy array pickled inside the checkpoint: its bytes are decoded from the pickle and carried inline. */
function numpyEntry(name: string, array: NumpyArray, pickle: PickleSource, file: string): TensorEntry {
  const type = array.dtype?.elementType();
  const shape = array.shape;
  const count = elementCount(shape);
  const base = { name, dtype: type?.display ?? 'unknown', shape, file, offset: pickle.pickleOffset };
  const problemText = array.problem ?? type?.problem;
  if (problemText !== undefined || !type || type.elementBytes === undefined) {
    return { ...base, bytes: array.data?.length ?? 0, problem: { code: 'UNSUPPORTED_DTYPE', message: problemText ?? 'unknown NumPy dtype' } };
  }
  const bytes = count * type.elementBytes;
  if (!array.data || array.data.length !== bytes) {
    return { ...base, bytes, problem: { code: 'TORCH_INVALID_TENSOR', message: `a NumPy array of shape (${shape.join(', ')}) with ${array.data?.length ?? 0} bytes instead of ${bytes}` } };
  }
  let strides: number[] | undefined;
  if (array.fortran) {
    let stride = 1;
    strides = shape.map((d) => {
      const s = stride;
      stride *= d;
      return s;
    });
  }
  return {
    ...base,
    dtype: type.dtype!,
    bytes,
    inline: array.data,
    ...(strides && !isContiguous(shape, strides) ? { strides } : {}),
    ...(type.bigEndian ? { bigEndian: true } : {}),
  };
}
