/**
 * The GGUF reader on hand-built bytes: metadata rendering, shapes, offsets, alignment, split sets, big-endian files,
 * and one malformed file per error code (expecting the code quickly, without allocations sized by the lie).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FormatError } from '../../extension/formats/formatError';
import { ggufReader, readGgufHeader } from '../../extension/formats/gguf';
import { openCheckpoint } from '../../extension/formats/openCheckpoint';
import { buildGguf, gguf, GgufBytes, type GgufTensor, type GgufValue } from '../fixtures/ggufWriter';
import { MemoryFiles } from '../fixtures/memorySource';

const f32s = (...values: number[]): Uint8Array => new Uint8Array(Float32Array.from(values).buffer);

async function open(bytes: Uint8Array, path = '/m/model.gguf') {
  return openCheckpoint(path, new MemoryFiles({ [path]: bytes }));
}

async function expectCode(bytes: Uint8Array, code: string, pattern?: RegExp): Promise<void> {
  const started = Date.now();
  const error = await open(bytes).then(
    () => assert.fail(`expected ${code}`),
    (e: unknown) => e,
  );
  assert.ok(error instanceof FormatError, String(error));
  assert.equal(error.code, code, error.message);
  if (pattern) assert.match(error.message, pattern);
  assert.equal(error.file, '/m/model.gguf');
  assert.ok(Date.now() - started < 2000, 'fails fast');
}

/** Header with `kvs` written by `writeKvs` and `tensorCount` tensor infos by `writeInfos`. */
function handmade(kvCount: number, writeKvs: (b: GgufBytes) => void, tensorCount = 0, writeInfos: (b: GgufBytes) => void = () => {}, version = 3): Uint8Array {
  const b = new GgufBytes().raw([0x47, 0x47, 0x55, 0x46]).u32(version).u64(tensorCount).u64(kvCount);
  writeKvs(b);
  writeInfos(b);
  return b.pad(32).raw(new Uint8Array(64)).bytes();
}

const tiny: GgufTensor = { name: 'w', type: 'F32', shape: [2, 2], data: f32s(1, 2, 3, 4) };

test('metadata of all 13 value types renders plainly; large arrays are summarized, small ones whole', async () => {
  const values: [string, GgufValue][] = [
    ['a.u8', { type: 'u8', value: 200 }], ['a.i8', { type: 'i8', value: -5 }], ['a.u16', { type: 'u16', value: 65535 }],
    ['a.i16', { type: 'i16', value: -300 }], ['a.u32', gguf.u32(4096)], ['a.i32', { type: 'i32', value: -1 }],
    ['a.f32', gguf.f32(1e-5)], ['a.f32b', gguf.f32(0.1)], ['a.bool', { type: 'bool', value: true }], ['a.str', gguf.str('llama')],
    ['a.u64', { type: 'u64', value: 2n ** 64n - 1n }], ['a.i64', { type: 'i64', value: -(2n ** 63n) }], ['a.f64', { type: 'f64', value: 0.1 }],
    ['a.small', { type: 'array', items: [gguf.u32(1), gguf.u32(2), gguf.u32(3)] }],
    ['a.nested', { type: 'array', items: [{ type: 'array', items: [gguf.str('x'), gguf.str('y')] }, { type: 'array', itemType: 'string', items: [] }] }],
    ['tokenizer.ggml.tokens', gguf.strings(Array.from({ length: 32000 }, (_, i) => (i === 0 ? '<unk>' : i === 1 ? '<s>' : i === 2 ? '</s>' : `t${i}`)))],
    ['tokenizer.ggml.scores', { type: 'array', items: Array.from({ length: 100 }, (_, i) => gguf.f32(-i / 4)) }],
    ['a.empty', gguf.str('')],
  ];
  const checkpoint = await open(buildGguf(values, [tiny]));
  assert.equal(checkpoint.format, 'gguf');
  assert.deepEqual(checkpoint.metadata, {
    'a.u8': '200', 'a.i8': '-5', 'a.u16': '65535', 'a.i16': '-300', 'a.u32': '4096', 'a.i32': '-1', 'a.f32': '0.00001',
    'a.f32b': '0.1', 'a.bool': 'true', 'a.str': 'llama', 'a.u64': '18446744073709551615', 'a.i64': '-9223372036854775808',
    'a.f64': '0.1', 'a.small': '[1, 2, 3]', 'a.nested': '[["x", "y"], []]',
    'tokenizer.ggml.tokens': '[32000 × string: "<unk>", "<s>", "</s>", …]',
    'tokenizer.ggml.scores': '[100 × f32: 0, -0.25, -0.5, …]',
    'a.empty': '',
  });
});

test('shapes are reversed once into outer → inner order; offsets are absolute; bytes follow the block size', async () => {
  const q4 = new Uint8Array(18 * 4);
  const bytes = buildGguf([['general.architecture', gguf.str('llama')]], [
    tiny,
    { name: 'q', type: 'Q4_0', shape: [2, 64], data: q4 },
    { name: 'v', type: 'F16', shape: [3], data: new Uint8Array(6) },
    { name: 'scalar', type: 'F32', shape: [], data: f32s(7) },
  ], { alignment: 64 });
  const header = await readGgufHeader((await new MemoryFiles({ f: bytes }).open('f')));
  assert.equal(header.alignment, 64);
  assert.equal(header.dataStart % 64, 0);
  const [w, q, v, scalar] = header.tensors;
  assert.deepEqual([w!.shape, q!.shape, v!.shape, scalar!.shape], [[2, 2], [2, 64], [3], []]);
  assert.deepEqual([w!.dtype, q!.dtype, v!.dtype], ['F32', 'Q4_0', 'F16']);
  assert.deepEqual([w!.offset, q!.offset, v!.offset, scalar!.offset], [header.dataStart, header.dataStart + 64, header.dataStart + 192, header.dataStart + 256]);
  assert.deepEqual([w!.bytes, q!.bytes, v!.bytes, scalar!.bytes], [16, 72, 6, 4]);
  assert.deepEqual(Array.from(bytes.subarray(w!.offset, w!.offset + 16)), Array.from(f32s(1, 2, 3, 4)));
});

test('version 2 files and the default alignment of 32 are read', async () => {
  const checkpoint = await open(buildGguf([['general.name', gguf.str('v2')]], [tiny], { version: 2 }));
  assert.equal(checkpoint.tensors[0]!.offset % 32, 0);
  assert.equal(checkpoint.metadata['general.name'], 'v2');
});

test('big-endian files: plain tensors are marked big-endian, quantized ones get a problem', async () => {
  const bytes = buildGguf([['general.name', gguf.str('be')]], [
    { name: 'w', type: 'F32', shape: [2], data: new Uint8Array([0x3f, 0x80, 0, 0, 0x40, 0, 0, 0]) },
    { name: 'q', type: 'Q8_0', shape: [32], data: new Uint8Array(34) },
  ], { bigEndian: true });
  const checkpoint = await open(bytes);
  assert.equal(checkpoint.metadata['general.name'], 'be');
  const [w, q] = checkpoint.tensors;
  assert.equal(w!.bigEndian, true);
  assert.equal(w!.problem, undefined);
  assert.equal(q!.problem?.code, 'UNSUPPORTED_LAYOUT');
});

test('unknown, removed and truncated tensors get a problem; the others still open', async () => {
  const bytes = buildGguf([], [
    tiny,
    { name: 'future', type: 99, shape: [4], data: new Uint8Array(4) },
    { name: 'removed', type: 4, shape: [32], data: new Uint8Array(20) },
  ]);
  const checkpoint = await open(bytes);
  assert.deepEqual(checkpoint.tensors.map((t) => [t.name, t.dtype, t.problem?.code]), [
    ['w', 'F32', undefined], ['future', 'GGML_TYPE_99', 'UNSUPPORTED_DTYPE'], ['removed', 'GGML_TYPE_4', 'UNSUPPORTED_DTYPE'],
  ]);
  const cut = buildGguf([], [tiny, { name: 'big', type: 'F32', shape: [64], data: new Uint8Array(256) }]);
  const truncated = await open(cut.subarray(0, cut.length - 100));
  assert.equal(truncated.tensors[0]!.problem, undefined);
  assert.equal(truncated.tensors[1]!.problem?.code, 'TRUNCATED_FILE');
});

test('split files open as one checkpoint from any split; a folder opens the set once', async () => {
  const split = (no: number, tensors: GgufTensor[], extra: [string, GgufValue][] = []): Uint8Array =>
    buildGguf([...extra, ['split.no', { type: 'u16', value: no }], ['split.count', { type: 'u16', value: 3 }], ['split.tensors.count', { type: 'i32', value: 3 }]], tensors);
  const files = {
    '/d/m-00001-of-00003.gguf': split(0, [{ ...tiny, name: 'a' }], [['general.architecture', gguf.str('llama')]]),
    '/d/m-00002-of-00003.gguf': split(1, [{ ...tiny, name: 'b' }]),
    '/d/m-00003-of-00003.gguf': split(2, [{ ...tiny, name: 'c' }]),
  };
  for (const path of Object.keys(files)) {
    const checkpoint = await openCheckpoint(path, new MemoryFiles(files));
    assert.deepEqual(checkpoint.tensors.map((t) => t.name), ['a', 'b', 'c']);
    assert.deepEqual(checkpoint.files.map((f) => f.path), Object.keys(files));
    assert.equal(checkpoint.metadata['general.architecture'], 'llama');
    assert.equal(checkpoint.tensors[1]!.file, '/d/m-00002-of-00003.gguf');
  }
  const folder = await openCheckpoint('/d', new MemoryFiles(files));
  assert.deepEqual(folder.tensors.map((t) => t.name), ['a', 'b', 'c']);

  const { '/d/m-00002-of-00003.gguf': _, ...missing } = files;
  const error = await openCheckpoint('/d/m-00001-of-00003.gguf', new MemoryFiles(missing)).catch((e: FormatError) => e);
  assert.equal((error as FormatError).code, 'MISSING_SHARD');
  const wrongNumber = { ...files, '/d/m-00002-of-00003.gguf': split(2, [{ ...tiny, name: 'b' }]) };
  assert.equal(((await openCheckpoint('/d/m-00003-of-00003.gguf', new MemoryFiles(wrongNumber)).catch((e: FormatError) => e)) as FormatError).code, 'INVALID_SPLIT');
  const renamed = await openCheckpoint('/d/renamed.gguf', new MemoryFiles({ '/d/renamed.gguf': files['/d/m-00002-of-00003.gguf'] }));
  assert.equal(renamed.findings?.[0]?.code, 'PARTIAL_SPLIT');
  assert.deepEqual(renamed.tensors.map((t) => t.name), ['b']);
});

test('the reader sniffs the magic and claims .gguf', () => {
  assert.ok(ggufReader.sniff(new Uint8Array([0x47, 0x47, 0x55, 0x46, 3, 0, 0, 0])));
  assert.ok(!ggufReader.sniff(new Uint8Array([0x47, 0x47, 0x4a, 0x54])));
  assert.deepEqual(ggufReader.extensions, ['.gguf']);
});

// One malformed file per error code.

test('HEADER_TOO_SMALL: fewer bytes than the fixed header', () => expectCode(new Uint8Array([0x47, 0x47, 0x55, 0x46, 3, 0]), 'HEADER_TOO_SMALL'));

test('INVALID_MAGIC: not "GGUF"', () => expectCode(new GgufBytes().raw([0x47, 0x47, 0x4d, 0x4c]).u32(3).u64(0).u64(0).bytes(), 'INVALID_MAGIC', /GGUF/));

test('UNSUPPORTED_VERSION: v1 and unknown versions', async () => {
  await expectCode(handmade(0, () => {}, 0, () => {}, 1), 'UNSUPPORTED_VERSION', /v1/);
  await expectCode(handmade(0, () => {}, 0, () => {}, 7), 'UNSUPPORTED_VERSION');
});

test('COUNT_TOO_LARGE: tensor and key counts no file of this size can hold', async () => {
  await expectCode(new GgufBytes().raw([0x47, 0x47, 0x55, 0x46]).u32(3).u64(2n ** 60n).u64(0).bytes(), 'COUNT_TOO_LARGE', /tensors/);
  await expectCode(new GgufBytes().raw([0x47, 0x47, 0x55, 0x46]).u32(3).u64(0).u64(2n ** 40n).bytes(), 'COUNT_TOO_LARGE', /metadata/);
});

test('TRUNCATED_HEADER: lying string lengths and array counts, and a cut-off header', async () => {
  await expectCode(handmade(1, (b) => b.string('k').u32(8).u64(2n ** 62n)), 'TRUNCATED_HEADER', /"k"/);
  await expectCode(handmade(1, (b) => b.string('k').u32(9).u32(8).u64(2n ** 40n)), 'TRUNCATED_HEADER', /2\^?|1099511627776/);
  await expectCode(handmade(1, (b) => b.string('k').u32(9).u32(6).u64(2n ** 30n)), 'TRUNCATED_HEADER');
  const whole = buildGguf([['general.name', gguf.str('x'.repeat(100))]], [tiny]);
  await expectCode(whole.subarray(0, 60), 'TRUNCATED_HEADER');
});

test('INVALID_KEY: too long, empty, or not UTF-8', async () => {
  await expectCode(handmade(1, (b) => b.u64(70000)), 'INVALID_KEY', /65535/);
  await expectCode(handmade(1, (b) => b.string('').u32(4).u32(1)), 'INVALID_KEY', /empty/);
  await expectCode(handmade(1, (b) => b.u64(2).raw([0xc3, 0x28]).u32(4).u32(1)), 'INVALID_KEY', /UTF-8/);
});

test('DUPLICATE_KEY: the same key twice', () => expectCode(buildGguf([['a', gguf.u32(1)], ['a', gguf.u32(2)]], []), 'DUPLICATE_KEY', /"a"/));

test('UNKNOWN_VALUE_TYPE: a value type past 12, as a value and as an array element type', async () => {
  await expectCode(handmade(1, (b) => b.string('k').u32(13).u32(0)), 'UNKNOWN_VALUE_TYPE', /13/);
  await expectCode(handmade(1, (b) => b.string('k').u32(9).u32(99).u64(1)), 'UNKNOWN_VALUE_TYPE', /99/);
});

test('INVALID_METADATA: a bool that is not 0/1, arrays nested too deep', async () => {
  await expectCode(handmade(1, (b) => b.string('k').u32(7).u8(2)), 'INVALID_METADATA', /bool/);
  let deep: GgufValue = gguf.u32(1);
  for (let i = 0; i < 10; i++) deep = { type: 'array', items: [deep] };
  await expectCode(buildGguf([['deep', deep]], []), 'INVALID_METADATA', /nests/);
});

test('INVALID_ALIGNMENT: zero, not a power of two, or not a u32', async () => {
  await expectCode(buildGguf([['general.alignment', gguf.u32(0)]], []), 'INVALID_ALIGNMENT');
  await expectCode(buildGguf([['general.alignment', gguf.u32(24)]], []), 'INVALID_ALIGNMENT', /24/);
  await expectCode(buildGguf([['general.alignment', { type: 'u64', value: 32n }]], []), 'INVALID_ALIGNMENT', /u64/);
});

test('INVALID_TENSOR_INFO: a tensor name that is not UTF-8 or too long', async () => {
  await expectCode(handmade(0, () => {}, 1, (b) => b.u64(1).raw([0xff]).u32(1).u64(1).u32(0).u64(0)), 'INVALID_TENSOR_INFO', /UTF-8/);
  await expectCode(handmade(0, () => {}, 1, (b) => b.u64(1n << 40n)), 'INVALID_TENSOR_INFO', /65535/);
});

test('INVALID_SHAPE: too many dimensions, a block-misaligned row, a dimension past 2^53', async () => {
  await expectCode(handmade(0, () => {}, 1, (b) => b.string('t').u32(5)), 'INVALID_SHAPE', /5 dimensions/);
  await expectCode(buildGguf([], [{ name: 't', type: 'Q4_0', shape: [30], data: new Uint8Array(18) }]), 'INVALID_SHAPE', /multiple of Q4_0's block of 32/);
  await expectCode(handmade(0, () => {}, 1, (b) => b.string('t').u32(1).u64(2n ** 60n).u32(0).u64(0)), 'INVALID_SHAPE', /2\^53/);
});

test('SIZE_OVERFLOW: elements × element size past 2^53', () =>
  expectCode(handmade(0, () => {}, 1, (b) => b.string('t').u32(2).u64(2n ** 50n).u64(64).u32(0).u64(0)), 'SIZE_OVERFLOW'));

test('INVALID_OFFSETS: unaligned, past the end, overlapping', async () => {
  await expectCode(handmade(0, () => {}, 1, (b) => b.string('t').u32(1).u64(1).u32(0).u64(4)), 'INVALID_OFFSETS', /multiple of the alignment 32/);
  await expectCode(handmade(0, () => {}, 1, (b) => b.string('t').u32(1).u64(1).u32(0).u64(2n ** 40n)), 'INVALID_OFFSETS', /past the end/);
  await expectCode(handmade(0, () => {}, 2, (b) => {
    b.string('a').u32(1).u64(16).u32(0).u64(0);
    b.string('b').u32(1).u64(1).u32(0).u64(32);
  }), 'INVALID_OFFSETS', /inside "a"/);
});

test('DUPLICATE_TENSOR: the same tensor name twice', () =>
  expectCode(handmade(0, () => {}, 2, (b) => {
    b.string('a').u32(1).u64(1).u32(0).u64(0);
    b.string('a').u32(1).u64(1).u32(0).u64(32);
  }), 'DUPLICATE_TENSOR'));

test('hostile counts never allocate by the lie: a billion declared strings in a tiny file', async () => {
  const before = process.memoryUsage().heapUsed;
  await expectCode(handmade(1, (b) => b.string('k').u32(9).u32(8).u64(1_000_000_000)), 'TRUNCATED_HEADER');
  assert.ok(process.memoryUsage().heapUsed - before < 50 << 20);
});

test('metadata keys named like JavaScript object members are kept, and repeated ones refused', async () => {
  const checkpoint = await open(buildGguf([['__proto__', gguf.str('p')], ['constructor', gguf.u32(7)]], [tiny]));
  assert.equal(JSON.stringify(checkpoint.metadata), '{"__proto__":"p","constructor":"7"}');
  await expectCode(buildGguf([['__proto__', gguf.str('p')], ['__proto__', gguf.str('q')]], [tiny]), 'DUPLICATE_KEY');
});
