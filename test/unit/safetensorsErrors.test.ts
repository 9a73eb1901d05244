/**
 * One hand-built malformed input per error code of the safetensors reader and of the index/folder resolution. Each
 * must fail with its code, naming the file (and the tensor when one is at fault), without reading or allocating
 * anything sized by an unchecked number.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FormatError, type ErrorCode } from '../../extension/formats/formatError';
import { openCheckpoint } from '../../extension/formats/openCheckpoint';
import type { SourceOpener } from '../../extension/source/byteSource';
import { MemoryFiles } from '../fixtures/memorySource';
import { buildSafetensors, rawSafetensors } from '../fixtures/safetensorsWriter';

const f32 = (values: number[]): Uint8Array<ArrayBuffer> => new Uint8Array(Float32Array.from(values).buffer);
const entry = (dtype: string, shape: unknown, offsets: unknown[]): string => JSON.stringify({ dtype, shape, data_offsets: offsets });

async function expectCode(code: ErrorCode, files: MemoryFiles | SourceOpener, path: string, tensor?: string): Promise<FormatError> {
  try {
    await openCheckpoint(path, files);
  } catch (error) {
    assert.ok(error instanceof FormatError, `expected a FormatError, got ${String(error)}`);
    assert.equal(error.code, code, error.describe());
    assert.ok(error.describe().includes(error.file) && error.file !== '', 'the error names the file');
    if (tensor !== undefined) assert.equal(error.tensor, tensor);
    return error;
  }
  assert.fail(`expected ${code}`);
}

/** A single-file checkpoint from a header text and data bytes. */
function single(header: string, data = new Uint8Array(0), declared?: bigint): MemoryFiles {
  return new MemoryFiles({ '/m/model.safetensors': rawSafetensors(header, data, declared) });
}

test('FILE_NOT_FOUND: the path does not exist', async () => {
  await expectCode('FILE_NOT_FOUND', new MemoryFiles(), '/nowhere/model.safetensors');
});

test('UNSUPPORTED_FORMAT: a file of no known format', async () => {
  await expectCode('UNSUPPORTED_FORMAT', new MemoryFiles({ '/m/notes.txt': 'hello, not a checkpoint' }), '/m/notes.txt');
});

test('EMPTY_DIRECTORY: a folder without checkpoints', async () => {
  await expectCode('EMPTY_DIRECTORY', new MemoryFiles({ '/m/README.md': '# nothing here' }), '/m');
});

test('HEADER_TOO_SMALL: fewer than the 8 bytes of the header length', async () => {
  await expectCode('HEADER_TOO_SMALL', new MemoryFiles({ '/m/model.safetensors': new Uint8Array(5) }), '/m/model.safetensors');
});

test('HEADER_TOO_LARGE: a declared header beyond 100,000,000 bytes is refused before reading it', async () => {
  const files = single('{}', new Uint8Array(0), 100_000_001n);
  await expectCode('HEADER_TOO_LARGE', files, '/m/model.safetensors');
  assert.ok(files.bytesRead <= 64, `read ${files.bytesRead} bytes`);
  await expectCode('HEADER_TOO_LARGE', single('{}', new Uint8Array(0), 2n ** 64n - 1n), '/m/model.safetensors');
});

test('INVALID_HEADER_LENGTH: the header runs past the end of the file', async () => {
  const files = single('{}', new Uint8Array(0), 50_000_000n);
  await expectCode('INVALID_HEADER_LENGTH', files, '/m/model.safetensors');
  assert.ok(files.bytesRead <= 64, 'nothing was read for the lying length');
});

test('INVALID_HEADER_START: the JSON does not start with "{"', async () => {
  await expectCode('INVALID_HEADER_START', single(' {}'), '/m/model.safetensors');
  await expectCode('INVALID_HEADER_START', single('[]'), '/m/model.safetensors');
  // The reference checks the first byte: a UTF-8 byte-order mark is not "{".
  await expectCode('INVALID_HEADER_START', single('\ufeff{}'), '/m/model.safetensors');
});

test('INVALID_UTF8: the header is not UTF-8', async () => {
  const header = new Uint8Array([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d]);
  const bytes = new Uint8Array(8 + header.length);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(header.length), true);
  bytes.set(header, 8);
  await expectCode('INVALID_UTF8', new MemoryFiles({ '/m/model.safetensors': bytes }), '/m/model.safetensors');
});

test('BAD_JSON: malformed JSON, trailing text, or nesting too deep', async () => {
  await expectCode('BAD_JSON', single('{"a": }'), '/m/model.safetensors');
  await expectCode('BAD_JSON', single('{} trailing'), '/m/model.safetensors');
  await expectCode('BAD_JSON', single(`{"x":${'['.repeat(1000)}${']'.repeat(1000)}}`), '/m/model.safetensors');
});

test('DUPLICATE_TENSOR: a name twice in one header, or in two shards', async () => {
  const twice = `{"a":${entry('F32', [1], [0, 4])},"a":${entry('F32', [1], [4, 8])}}`;
  await expectCode('DUPLICATE_TENSOR', single(twice, f32([1, 2])), '/m/model.safetensors', 'a');
  const shard = buildSafetensors([{ name: 'a', dtype: 'F32', shape: [1], data: f32([1]) }]);
  const folder = new MemoryFiles({ '/m/one.safetensors': shard, '/m/two.safetensors': shard });
  await expectCode('DUPLICATE_TENSOR', folder, '/m', 'a');
});

test('INVALID_TENSOR_ENTRY: an entry that is not {dtype, shape, data_offsets}', async () => {
  for (const bad of ['3', '{"shape":[1],"data_offsets":[0,4]}', entry('F32', [-1], [0, 4]), entry('F32', [1.5], [0, 4]),
    entry('F32', [1], [0]), entry('F32', [1], [4, '8']), entry('F32', '1', [0, 4])]) {
    await expectCode('INVALID_TENSOR_ENTRY', single(`{"w":${bad}}`, f32([1])), '/m/model.safetensors', 'w');
  }
});

test('INVALID_METADATA: __metadata__ must map strings to strings', async () => {
  await expectCode('INVALID_METADATA', single('{"__metadata__":{"epoch":3}}'), '/m/model.safetensors');
  await expectCode('INVALID_METADATA', single('{"__metadata__":["x"]}'), '/m/model.safetensors');
});

test('INVALID_SHAPE: a dimension beyond 2^53 - 1', async () => {
  await expectCode('INVALID_SHAPE', single(`{"w":${entry('U8', [2 ** 53 + 2], [0, 1])}}`, new Uint8Array(1)), '/m/model.safetensors', 'w');
});

test('SIZE_OVERFLOW: the byte length of the shape cannot be addressed (checked arithmetic)', async () => {
  await expectCode('SIZE_OVERFLOW', single(`{"w":${entry('F32', [2 ** 40, 2 ** 20], [0, 4])}}`, f32([1])), '/m/model.safetensors', 'w');
});

test('SIZE_MISMATCH: data_offsets do not span shape × dtype size', async () => {
  await expectCode('SIZE_MISMATCH', single(`{"w":${entry('F32', [2], [0, 4])}}`, f32([1])), '/m/model.safetensors', 'w');
});

test('MISALIGNED_SLICE: sub-byte elements that do not fill whole bytes', async () => {
  await expectCode('MISALIGNED_SLICE', single(`{"w":${entry('F4', [3], [0, 2])}}`, new Uint8Array(2)), '/m/model.safetensors', 'w');
});

test('INVALID_OFFSETS: holes, overlaps, reversed or huge offsets', async () => {
  const hole = `{"a":${entry('F32', [1], [0, 4])},"b":${entry('F32', [1], [8, 12])}}`;
  await expectCode('INVALID_OFFSETS', single(hole, f32([1, 2, 3])), '/m/model.safetensors', 'b');
  const overlap = `{"a":${entry('F32', [2], [0, 8])},"b":${entry('F32', [1], [4, 8])}}`;
  await expectCode('INVALID_OFFSETS', single(overlap, f32([1, 2])), '/m/model.safetensors');
  await expectCode('INVALID_OFFSETS', single(`{"a":${entry('F32', [0], [4, 0])}}`, f32([1])), '/m/model.safetensors', 'a');
  await expectCode('INVALID_OFFSETS', single(`{"a":${entry('U8', [1], [2 ** 60, 2 ** 60 + 1])}}`), '/m/model.safetensors', 'a');
});

test('INCOMPLETE_BUFFER: bytes after the last tensor, or a truncated buffer', async () => {
  await expectCode('INCOMPLETE_BUFFER', single(`{"a":${entry('F32', [1], [0, 4])}}`, f32([1, 2])), '/m/model.safetensors');
  await expectCode('INCOMPLETE_BUFFER', single(`{"a":${entry('F32', [2], [0, 8])}}`, f32([1])), '/m/model.safetensors');
});

test('UNSUPPORTED_DTYPE: an unknown dtype is a problem of that tensor only', async () => {
  const header = `{"a":${entry('X9', [3], [0, 3])},"b":${entry('F32', [1], [3, 7])}}`;
  const checkpoint = await openCheckpoint('/m/model.safetensors', single(header, new Uint8Array([1, 2, 3, ...f32([5])])));
  const [a, b] = checkpoint.tensors;
  assert.equal(a!.problem?.code, 'UNSUPPORTED_DTYPE');
  assert.equal(b!.problem, undefined);
  assert.equal(b!.offset, 8 + header.length + 3, 'an unaligned offset is legal');
});

test('aliases resolve: E8M0, UE8 and FP4', async () => {
  const header = `{"a":${entry('E8M0', [1], [0, 1])},"b":${entry('UE8', [1], [1, 2])},"c":${entry('FP4', [2], [2, 3])}}`;
  const checkpoint = await openCheckpoint('/m/model.safetensors', single(header, new Uint8Array(3)));
  assert.deepEqual(checkpoint.tensors.map((t) => t.dtype), ['F8_E8M0', 'F8_E8M0', 'F4']);
});

function sharded(weightMap: unknown, extra: Record<string, Uint8Array> = {}): MemoryFiles {
  return new MemoryFiles({ '/m/model.safetensors.index.json': JSON.stringify({ weight_map: weightMap }), ...extra });
}

test('INVALID_INDEX: an index that is not JSON, lacks weight_map, or points outside its folder', async () => {
  await expectCode('INVALID_INDEX', new MemoryFiles({ '/m/model.safetensors.index.json': '{"weight_map": ' }), '/m/model.safetensors.index.json');
  await expectCode('INVALID_INDEX', new MemoryFiles({ '/m/model.safetensors.index.json': '{"metadata": {}}' }), '/m/model.safetensors.index.json');
  await expectCode('INVALID_INDEX', sharded({ a: 7 }), '/m/model.safetensors.index.json');
  await expectCode('INVALID_INDEX', sharded({ a: '../elsewhere.safetensors' }), '/m/model.safetensors.index.json');
  await expectCode('INVALID_INDEX', sharded({}), '/m/model.safetensors.index.json');
});

test('MISSING_SHARD: the index names a shard that does not exist', async () => {
  await expectCode('MISSING_SHARD', sharded({ a: 'model-00001-of-00002.safetensors' }), '/m/model.safetensors.index.json', 'a');
});

test('MISSING_TENSOR: the index places a tensor in a shard that does not hold it', async () => {
  const shard = buildSafetensors([{ name: 'a', dtype: 'F32', shape: [1], data: f32([1]) }]);
  const files = sharded({ a: 's.safetensors', b: 's.safetensors' }, { '/m/s.safetensors': shard });
  await expectCode('MISSING_TENSOR', files, '/m/model.safetensors.index.json', 'b');
});

test('metadata keys named like JavaScript object members are kept, from headers and from an index', async () => {
  // fromEntries makes "__proto__" an own key, as JSON.parse does.
  const fromHeader = Object.fromEntries([['__proto__', 'p'], ['constructor', 'c'], ['toString', 's'], ['hasOwnProperty', 'h']]);
  const shard = buildSafetensors([{ name: 'a', dtype: 'F32', shape: [1], data: f32([1]) }], fromHeader);
  const single = await openCheckpoint('/m/s.safetensors', new MemoryFiles({ '/m/s.safetensors': shard }));
  assert.equal(JSON.stringify(single.metadata), JSON.stringify(fromHeader));
  const index = JSON.stringify({ metadata: { valueOf: 'v' }, weight_map: { a: 's.safetensors' } });
  const indexed = await openCheckpoint('/m', new MemoryFiles({ '/m/model.safetensors.index.json': index, '/m/s.safetensors': shard }));
  assert.deepEqual(Object.keys(indexed.metadata).sort(), ['__proto__', 'constructor', 'hasOwnProperty', 'toString', 'valueOf']);
  assert.equal(indexed.metadata.constructor, 'c');
});

test('READ_ERROR: a file that reads short', async () => {
  const bytes = buildSafetensors([{ name: 'a', dtype: 'F32', shape: [1], data: f32([1]) }]);
  const shortReads: SourceOpener = {
    ...new MemoryFiles(),
    exists: async () => true,
    isDirectory: async () => false,
    listDirectory: async () => [],
    open: async (path) => ({ name: path, size: bytes.length, read: async () => 0, close: async () => {} }),
  };
  await expectCode('READ_ERROR', shortReads, '/m/model.safetensors');
});

test('a folder opens its index, else all its safetensors files in name order', async () => {
  const a = buildSafetensors([{ name: 'a', dtype: 'F32', shape: [1], data: f32([1]) }]);
  const b = buildSafetensors([{ name: 'b', dtype: 'F32', shape: [1], data: f32([2]) }]);
  const plain = await openCheckpoint('/m', new MemoryFiles({ '/m/2.safetensors': b, '/m/1.safetensors': a }));
  assert.deepEqual(plain.tensors.map((t) => t.name), ['a', 'b']);
  const indexed = await openCheckpoint('/m', sharded({ b: '2.safetensors' }, { '/m/2.safetensors': b, '/m/1.safetensors': a }));
  assert.deepEqual(indexed.tensors.map((t) => t.name), ['b']);
});
