/**
 * The ONNX reader on hand-written protobuf (test/fixtures/onnxWriter.ts): one malformed model per error code, every
 * place a tensor can live, the values the workers decode from varint and unpacked fields, and the real models in
 * ../shared/checkpoints (counts from its README). Values of realistic models are checked against the onnx package
 * in test/golden/onnx.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TensorEntry } from '../../extension/formats/checkpoint';
import { lookupDType } from '../../extension/formats/dtypes';
import { FormatError, type ErrorCode } from '../../extension/formats/formatError';
import type { CheckpointPart } from '../../extension/formats/formatReader';
import { onnxReader } from '../../extension/formats/onnx';
import { openCheckpoint } from '../../extension/formats/openCheckpoint';
import { FileTable, openTensorReader } from '../../extension/engine/tensorReader';
import { nodeSourceOpener } from '../../extension/source/nodeFileSource';
import { MemoryFiles } from '../fixtures/memorySource';
import { attribute, concat, external, f32Bytes, graph, model, modelOf, node, ONNX_TYPE, pb, tag, tensor, varint } from '../fixtures/onnxWriter';

const MODEL_PATH = '/models/model.onnx';
const dir = mkdtempSync(join(tmpdir(), 'weightscope-onnx-'));

function open(bytes: Uint8Array, siblings: Record<string, Uint8Array> = {}): Promise<CheckpointPart> {
  return onnxReader.open(MODEL_PATH, new MemoryFiles({ [MODEL_PATH]: bytes, ...siblings }));
}

async function rejects(bytes: Uint8Array, code: ErrorCode, message?: RegExp): Promise<void> {
  await assert.rejects(open(bytes), (error: unknown) => {
    assert.ok(error instanceof FormatError, String(error));
    assert.equal(error.code, code, error.message);
    assert.equal(error.file, MODEL_PATH);
    if (message) assert.match(error.message, message);
    return true;
  });
}

function only(part: CheckpointPart): TensorEntry {
  assert.equal(part.tensors.length, 1, part.tensors.map((t) => t.name).join(', '));
  return part.tensors[0]!;
}

async function problemOf(bytes: Uint8Array, siblings: Record<string, Uint8Array> = {}): Promise<{ code: ErrorCode; message: string } | undefined> {
  return only(await open(bytes, siblings)).problem;
}

const weight = (extra: Partial<Parameters<typeof tensor>[0]> = {}) =>
  tensor({ name: 'w', dataType: ONNX_TYPE.FLOAT, dims: [2, 2], raw: f32Bytes([1, 2, 3, 4]), ...extra });

// ---- the protobuf wire format: errors of the whole file ----

test('TRUNCATED_MESSAGE: a model cut short, a varint cut short, a length beyond its message', async () => {
  const good = modelOf(weight());
  await rejects(good.subarray(0, good.length - 5), 'TRUNCATED_MESSAGE');
  await rejects(concat(pb.varint(1, 8), tag(5, 0), Uint8Array.of(0x80, 0x80)), 'TRUNCATED_MESSAGE', /varint/);
  // The graph claims 1000 bytes but the file has 3 after the length.
  await rejects(concat(pb.varint(1, 8), tag(7, 2), varint(1000), Uint8Array.of(1, 2, 3)), 'TRUNCATED_MESSAGE', /needs 1000 bytes/);
  // An initializer longer than its graph, inside a graph that fits in the file.
  await rejects(model(concat(tag(5, 2), varint(50), new Uint8Array(10))), 'TRUNCATED_MESSAGE');
  await rejects(concat(pb.varint(1, 8), tag(9, 5), Uint8Array.of(1, 2)), 'TRUNCATED_MESSAGE');
});

test('INVALID_VARINT: a varint longer than 10 bytes', async () => {
  await rejects(concat(pb.varint(1, 8), tag(1, 0), new Uint8Array(11).fill(0xff), Uint8Array.of(1)), 'INVALID_VARINT', /longer than 10 bytes/);
});

test('INVALID_FIELD_TAG: deprecated group wire types, wire types 6 and 7, field number 0', async () => {
  for (const wire of [3, 4, 6, 7]) await rejects(concat(pb.varint(1, 8), tag(9, wire), Uint8Array.of(0)), 'INVALID_FIELD_TAG', /wire type/);
  await rejects(concat(pb.varint(1, 8), Uint8Array.of(0x00, 0x01)), 'INVALID_FIELD_TAG', /field number 0/);
});

test('NESTING_TOO_DEEP: subgraphs nested past the limit, without recursing the stack away', async () => {
  let body = graph({ initializers: [weight()] });
  for (let level = 0; level < 40; level++) {
    body = graph({ nodes: [node({ opType: 'If', name: `if${level}`, attributes: [attribute('then_branch', pb.message(6, body))] })] });
  }
  await rejects(model(body), 'NESTING_TOO_DEEP');
  // Ten levels are fine and name the tensor by its path.
  let shallow = graph({ initializers: [weight()] });
  for (let level = 0; level < 10; level++) {
    shallow = graph({ nodes: [node({ opType: 'If', name: `if${level}`, attributes: [attribute('then_branch', pb.message(6, shallow))] })] });
  }
  assert.equal(only(await open(model(shallow))).name, `${Array.from({ length: 10 }, (_, i) => `if${9 - i}/then_branch/`).join('')}w`);
});

test('unknown fields of every wire type are skipped', async () => {
  const unknown = concat(pb.varint(999, 5), pb.fixed32(998, 1.5), pb.fixed64(997, 2.5), pb.bytes(996, 'x'));
  const part = await open(concat(unknown, model(concat(graph({ initializers: [concat(weight(), unknown)] }), unknown))));
  assert.deepEqual(only(part).shape, [2, 2]);
});

// ---- the model ----

test('INVALID_MODEL: a protobuf without a graph is not an ONNX model', async () => {
  await rejects(concat(pb.varint(1, 8), pb.bytes(2, 'pytorch')), 'INVALID_MODEL', /no graph/);
  await rejects(new Uint8Array(0), 'INVALID_MODEL');
});

test('TOO_MANY_TENSORS: more than a million tensors are refused while reading (through the CLI: exit 3, one line)', () => {
  const empty = concat(tag(5, 2), varint(0)); // an initializer with no fields
  const initializers = new Uint8Array(empty.length * 1_000_001);
  for (let i = 0; i < 1_000_001; i++) initializers.set(empty, i * empty.length);
  const path = join(dir, 'many.onnx');
  writeFileSync(path, model(initializers));
  const result = spawnSync(process.execPath, [join(__dirname, '../../dist/cli.js'), 'stats', path, '--json'], { encoding: 'utf8' });
  assert.equal(result.status, 3);
  assert.equal(result.stdout, '');
  assert.equal(result.stderr, `weightscope: TOO_MANY_TENSORS: ${path}: the model holds more than 1000000 tensors\n`);
});

test('metadata: ir_version, opsets, producer, doc_string, graph name and metadata_props', async () => {
  const bytes = model(
    graph({ name: 'main', initializers: [weight()] }),
    pb.message(8, pb.bytes(1, 'ai.onnx.ml'), pb.varint(2, 3)),
    pb.bytes(6, 'A model.'),
    pb.varint(5, 42),
    pb.message(14, pb.bytes(1, 'author'), pb.bytes(2, 'me')),
    pb.message(14, pb.bytes(1, 'producer_name'), pb.bytes(2, 'shadowed')),
  );
  assert.deepEqual((await open(bytes)).metadata, {
    ir_version: '8',
    opset_import: 'ai.onnx:17, ai.onnx.ml:3',
    producer_name: 'weightscope-tests',
    model_version: '42',
    doc_string: 'A model.',
    graph_name: 'main',
    author: 'me',
    'metadata_props.producer_name': 'shadowed',
  });
});

test('sniff: real ONNX heads are claimed, other bytes are not', () => {
  assert.ok(onnxReader.sniff(modelOf(weight()).subarray(0, 64)));
  assert.ok(onnxReader.sniff(Uint8Array.of(0x08, 0x07, 0x12, 0x07, 0x70)));
  assert.ok(!onnxReader.sniff(Uint8Array.of(0x10, 0, 0, 0, 0, 0, 0, 0, 0x7b)));
  assert.ok(!onnxReader.sniff(Uint8Array.of(0x08, 0x07, 0x0a)));
  assert.ok(!onnxReader.sniff(new TextEncoder().encode('GGUF')));
});

// ---- where tensors live, and what they are called ----

test('raw_data is located in place, never read: offset and length point into the .onnx file', async () => {
  const bytes = modelOf(weight());
  const t = only(await open(bytes));
  assert.deepEqual({ name: t.name, dtype: t.dtype, shape: t.shape, bytes: t.bytes, file: t.file }, { name: 'w', dtype: 'F32', shape: [2, 2], bytes: 16, file: MODEL_PATH });
  assert.deepEqual([...new Float32Array(bytes.slice(t.offset, t.offset + 16).buffer)], [1, 2, 3, 4]);
  assert.equal(t.protobufField, undefined);
  // Ten 4 MiB tensors: opening reads one 64 KiB window per tensor header (and one for the model), not the data.
  const big = Array.from({ length: 10 }, (_, i) => weight({ name: `w${i}`, dims: [1 << 20], raw: new Uint8Array(4 << 20) }));
  const files = new MemoryFiles({ [MODEL_PATH]: modelOf(...big) });
  assert.equal((await onnxReader.open(MODEL_PATH, files)).tensors.length, 10);
  assert.ok(files.bytesRead <= 12 * 65536, `read ${files.bytesRead} bytes of 40 MiB`);
});

test('packed float_data and double_data are located in place; varint fields are left to the workers', async () => {
  const part = await open(modelOf(
    tensor({ name: 'f', dataType: ONNX_TYPE.FLOAT, dims: [3], extra: [pb.packedFloats(4, [1, 2, 3])] }),
    tensor({ name: 'd', dataType: ONNX_TYPE.DOUBLE, dims: [2], extra: [pb.packedDoubles(10, [0.5, -0.5])] }),
    tensor({ name: 'i', dataType: ONNX_TYPE.INT64, dims: [2], extra: [pb.packedVarints(7, [-1, 5])] }),
  ));
  const [f, d, i] = part.tensors;
  assert.deepEqual([f!.bytes, f!.protobufField, d!.bytes, d!.protobufField], [12, undefined, 16, undefined]);
  assert.deepEqual(i!.protobufField, { messageBytes: i!.protobufField!.messageBytes, field: 7, encoding: 'varint' });
  assert.equal(i!.bytes, 16);
});

test('dims may be packed or not; a scalar has none', async () => {
  const part = await open(modelOf(
    concat(pb.packedVarints(1, [2, 3]), pb.varint(2, ONNX_TYPE.FLOAT), pb.bytes(8, 'packed'), pb.bytes(9, f32Bytes([0, 0, 0, 0, 0, 0]))),
    tensor({ name: 'scalar', dataType: ONNX_TYPE.FLOAT, dims: [], raw: f32Bytes([7]) }),
  ));
  assert.deepEqual(part.tensors.map((t) => [t.name, t.shape]), [['packed', [2, 3]], ['scalar', []]]);
});

test('Constant nodes in every form, other nodes\' tensor attributes, functions and training graphs, named by the documented rules', async () => {
  const nodes = [
    node({ opType: 'Constant', outputs: ['c.value'], attributes: [attribute('value', pb.message(5, weight({ name: undefined })))] }),
    node({ opType: 'Constant', outputs: ['c.float'], attributes: [attribute('value_float', pb.fixed32(2, -1.5))] }),
    node({ opType: 'Constant', outputs: ['c.floats'], attributes: [attribute('value_floats', pb.fixed32(7, 1), pb.fixed32(7, 2))] }),
    node({ opType: 'Constant', outputs: ['c.int'], attributes: [attribute('value_int', pb.varint(3, -3))] }),
    node({ opType: 'Constant', outputs: ['c.ints'], attributes: [attribute('value_ints', pb.packedVarints(8, [1, 2, 3]))] }),
    node({ opType: 'Constant', outputs: ['c.string'], attributes: [attribute('value_string', pb.bytes(4, 'hi'))] }),
    node({ opType: 'ConstantOfShape', name: 'fill', outputs: ['x'], attributes: [attribute('value', pb.message(5, weight({ name: undefined })))] }),
    node({ opType: 'Custom', outputs: ['y'], attributes: [attribute('tables', pb.message(10, weight()), pb.message(10, weight()))] }),
    node({ opType: 'Custom', attributes: [attribute('bodies', pb.message(11, graph({ initializers: [weight()] })), pb.message(11, graph({ initializers: [weight()] })))] }),
    node({ opType: 'Constant', outputs: ['w'], attributes: [attribute('value', pb.message(5, weight({ name: undefined })))] }),
  ];
  const fn = concat(pb.bytes(1, 'Scale'), pb.bytes(10, 'my.ops'), pb.message(7, node({ opType: 'Constant', outputs: ['k'], attributes: [attribute('value_float', pb.fixed32(2, 2))] })));
  const training = pb.message(2, graph({ initializers: [weight({ name: 'lr' })] }));
  const part = await open(model(graph({ nodes, initializers: [weight()] }), pb.message(20, training), pb.message(25, fn)));
  assert.deepEqual(part.tensors.map((t) => [t.name, t.dtype, t.shape, t.problem?.code]), [
    ['w', 'F32', [2, 2], undefined],
    ['c.value', 'F32', [2, 2], undefined],
    ['c.float', 'F32', [], undefined],
    ['c.floats', 'F32', [2], undefined],
    ['c.int', 'I64', [], undefined],
    ['c.ints', 'I64', [3], undefined],
    ['c.string', 'STRING', [], 'UNSUPPORTED_DTYPE'],
    ['fill/value', 'F32', [2, 2], undefined],
    ['y/tables.0', 'F32', [2, 2], undefined],
    ['y/tables.1', 'F32', [2, 2], undefined],
    ['Custom#8/bodies.0/w', 'F32', [2, 2], undefined],
    ['Custom#8/bodies.1/w', 'F32', [2, 2], undefined],
    ['w#2', 'F32', [2, 2], undefined],
    ['my.ops:Scale/k', 'F32', [], undefined],
    ['training_info.0/algorithm/lr', 'F32', [2, 2], undefined],
  ]);
  // A single float is read in place; an unpacked list and varints are decoded by the workers.
  const byName = new Map(part.tensors.map((t) => [t.name, t]));
  assert.equal(byName.get('c.float')!.protobufField, undefined);
  assert.equal(byName.get('c.floats')!.protobufField?.encoding, 'fixed32');
  assert.equal(byName.get('c.ints')!.protobufField?.encoding, 'varint');
});

test('duplicate names get the first free suffix, in order', async () => {
  const part = await open(modelOf(weight(), weight(), weight({ name: 'w#2' }), weight()));
  assert.deepEqual(part.tensors.map((t) => t.name), ['w', 'w#2', 'w#2#2', 'w#3']);
});

// ---- problems confined to one tensor ----

test('INVALID_SHAPE: a negative dimension, more than 64 dimensions', async () => {
  assert.deepEqual(await problemOf(modelOf(weight({ dims: [-1, 4] }))), { code: 'INVALID_SHAPE', message: 'dimension -1 is negative' });
  assert.equal((await problemOf(modelOf(weight({ dims: new Array(65).fill(1) }))))?.code, 'INVALID_SHAPE');
});

test('SIZE_OVERFLOW: dimensions whose product cannot be addressed', async () => {
  assert.equal((await problemOf(modelOf(weight({ dims: [2n ** 40n, 2n ** 40n] }))))?.code, 'SIZE_OVERFLOW');
});

test('SIZE_MISMATCH: raw_data, packed floats and varint values that do not fit the shape', async () => {
  assert.match((await problemOf(modelOf(weight({ raw: f32Bytes([1, 2, 3]) }))))!.message, /needs 16 bytes but raw_data holds 12/);
  const floats = tensor({ name: 'f', dataType: ONNX_TYPE.FLOAT, dims: [4], extra: [pb.packedFloats(4, [1, 2, 3])] });
  assert.match((await problemOf(modelOf(floats)))!.message, /needs 4 values but float_data holds 3/);
  const ints = tensor({ name: 'i', dataType: ONNX_TYPE.INT64, dims: [2], extra: [pb.packedVarints(7, [1, 2, 3])] });
  assert.match((await problemOf(modelOf(ints)))!.message, /needs 2 values but int64_data holds 3/);
  const nothing = tensor({ name: 'n', dataType: ONNX_TYPE.FLOAT, dims: [2] });
  assert.equal((await problemOf(modelOf(nothing)))?.code, 'SIZE_MISMATCH');
});

test('a malformed packed run inside one tensor is that tensor\'s problem, not the model\'s', async () => {
  const badVarint = tensor({ name: 'i', dataType: ONNX_TYPE.INT64, dims: [1], extra: [pb.bytes(7, Uint8Array.of(0x80))] });
  assert.equal((await problemOf(modelOf(badVarint)))?.code, 'TRUNCATED_MESSAGE');
  const partialFloat = tensor({ name: 'f', dataType: ONNX_TYPE.FLOAT, dims: [2], extra: [pb.fixed32(4, 1), pb.bytes(4, Uint8Array.of(1, 2, 3))] });
  assert.match((await problemOf(modelOf(partialFloat)))!.message, /float_data: packed field 4 .* not whole 4-byte values/);
});

test('UNSUPPORTED_DTYPE: strings, complex, 4-bit integers and unknown types keep their ONNX names', async () => {
  for (const [dataType, name] of [[ONNX_TYPE.STRING, 'STRING'], [ONNX_TYPE.COMPLEX64, 'COMPLEX64'], [ONNX_TYPE.INT4, 'INT4'], [99, 'data_type 99']] as const) {
    const t = only(await open(modelOf(tensor({ name: 't', dataType, dims: [2] }))));
    assert.deepEqual([t.dtype, t.problem?.code], [name, 'UNSUPPORTED_DTYPE']);
  }
});

test('UNSUPPORTED_LAYOUT: segments, sparse tensors, odd counts of 4-bit floats, 6-bit floats outside raw_data', async () => {
  assert.equal((await problemOf(modelOf(weight({ extra: [pb.message(3, pb.varint(1, 0), pb.varint(2, 4))] }))))?.code, 'UNSUPPORTED_LAYOUT');
  const sparse = concat(pb.message(1, tensor({ name: 'sp', dataType: ONNX_TYPE.FLOAT, dims: [1], raw: f32Bytes([1]) })), pb.message(2, tensor({ dataType: ONNX_TYPE.INT64, dims: [1], raw: new Uint8Array(8) })), pb.varint(3, 3), pb.varint(3, 4));
  const sparsePart = await open(model(concat(graph({}), pb.message(15, sparse))));
  assert.deepEqual([only(sparsePart).name, only(sparsePart).shape, only(sparsePart).problem?.code], ['sp', [3, 4], 'UNSUPPORTED_LAYOUT']);
  assert.match((await problemOf(modelOf(tensor({ name: 'f4', dataType: ONNX_TYPE.FLOAT4E2M1, dims: [3], raw: Uint8Array.of(0x21, 0x03) }))))!.message, /whole 1-byte groups/);
  assert.equal((await problemOf(modelOf(tensor({ name: 'f6', dataType: ONNX_TYPE.FLOAT6E2M3, dims: [4], extra: [pb.packedVarints(5, [1, 2, 3, 4])] }))))?.code, 'UNSUPPORTED_LAYOUT');
});

// ---- external data ----

const DATA_PATH = '/models/weights.bin';
const externalData = f32Bytes([0, 0, 1, 2, 3, 4]); // the tensor starts 8 bytes in
const externalWeight = (entries: Record<string, string>) => modelOf(weight({ raw: undefined, extra: external(entries) }));

test('external data: the location points into the side file, which joins the checkpoint\'s files', async () => {
  const part = await open(externalWeight({ location: 'weights.bin', offset: '8', length: '16' }), { [DATA_PATH]: externalData });
  const t = only(part);
  assert.deepEqual([t.file, t.offset, t.bytes, t.problem], [DATA_PATH, 8, 16, undefined]);
  assert.deepEqual(part.files.map((f) => f.path), [MODEL_PATH, DATA_PATH]);
  // Without a length, the data runs to the end of the file.
  assert.equal(only(await open(externalWeight({ location: 'weights.bin', offset: '8' }), { [DATA_PATH]: externalData })).bytes, 16);
  // A subfolder is fine.
  assert.equal(only(await open(externalWeight({ location: 'sub/w.bin' }), { '/models/sub/w.bin': f32Bytes([1, 2, 3, 4]) })).file, '/models/sub/w.bin');
});

test('INVALID_EXTERNAL_DATA: no location, an offset or length that is not a byte count', async () => {
  assert.match((await problemOf(externalWeight({ offset: '0' })))!.message, /no "location"/);
  assert.equal((await problemOf(externalWeight({ location: 'weights.bin', offset: '-8' }), { [DATA_PATH]: externalData }))?.code, 'INVALID_EXTERNAL_DATA');
  assert.equal((await problemOf(externalWeight({ location: 'weights.bin', length: '1e3' }), { [DATA_PATH]: externalData }))?.code, 'INVALID_EXTERNAL_DATA');
});

test('UNSAFE_EXTERNAL_PATH: absolute paths and ".." never leave the model\'s folder, even when the file exists', async () => {
  const everywhere = { [DATA_PATH]: externalData, '/etc/passwd': externalData, '/weights.bin': externalData };
  for (const location of ['/etc/passwd', '../weights.bin', 'sub/../../weights.bin', 'C:\\weights.bin', '..\\weights.bin', 'a\\b.bin', 'a\0b']) {
    assert.equal((await problemOf(externalWeight({ location }), everywhere))?.code, 'UNSAFE_EXTERNAL_PATH', location);
  }
});

test('MISSING_EXTERNAL_DATA: the side file does not exist', async () => {
  assert.match((await problemOf(externalWeight({ location: 'gone.bin' })))!.message, /"gone\.bin" does not exist/);
});

test('EXTERNAL_DATA_OUT_OF_RANGE: offset or length beyond the side file', async () => {
  assert.equal((await problemOf(externalWeight({ location: 'weights.bin', offset: '100' }), { [DATA_PATH]: externalData }))?.code, 'EXTERNAL_DATA_OUT_OF_RANGE');
  assert.equal((await problemOf(externalWeight({ location: 'weights.bin', offset: '16', length: '16' }), { [DATA_PATH]: externalData }))?.code, 'EXTERNAL_DATA_OUT_OF_RANGE');
  assert.match((await problemOf(externalWeight({ location: 'weights.bin', offset: '0', length: '8' }), { [DATA_PATH]: externalData }))!.message, /needs 16 bytes but its external data .* spans 8/);
});

// ---- values the workers decode ----


/** Every tensor's bytes as the workers read them, `valuesPerRead` element groups at a time. */
async function decoded(bytes: Uint8Array, valuesPerRead: number): Promise<Map<string, Uint8Array>> {
  const path = join(dir, `m${Math.random().toString(36).slice(2)}.onnx`);
  writeFileSync(path, bytes);
  const part = await onnxReader.open(path, nodeSourceOpener);
  const files = new FileTable();
  try {
    const out = new Map<string, Uint8Array>();
    for (const t of part.tensors) {
      assert.equal(t.problem, undefined, `${t.name}: ${t.problem?.message}`);
      const reader = openTensorReader(t, files);
      const data = new Uint8Array(t.bytes);
      const chunk = valuesPerRead * lookupDType(t.dtype)!.groupBytes;
      for (let at = 0; at < t.bytes; at += chunk) await reader.read(at, data.subarray(at, Math.min(t.bytes, at + chunk)));
      out.set(t.name, data);
    }
    return out;
  } finally {
    files.closeAll();
  }
}

const i64 = (values: readonly bigint[]) => new Uint8Array(BigInt64Array.from(values).buffer);

test('varint and unpacked values decode to their fixed-width little-endian bytes, in any chunking', async () => {
  const bytes = modelOf(
    tensor({ name: 'int64', dataType: ONNX_TYPE.INT64, dims: [5], extra: [pb.packedVarints(7, [0, -1, 2n ** 62n, -(2n ** 63n), 300])] }),
    tensor({ name: 'uint64', dataType: ONNX_TYPE.UINT64, dims: [2], extra: [pb.packedVarints(11, [2n ** 64n - 1n, 7])] }),
    tensor({ name: 'int32', dataType: ONNX_TYPE.INT32, dims: [3], extra: [pb.packedVarints(5, [-2, 2 ** 31 - 1, -(2 ** 31)])] }),
    tensor({ name: 'f16', dataType: ONNX_TYPE.FLOAT16, dims: [2], extra: [pb.packedVarints(5, [0x3c00, 0xc000])] }),
    tensor({ name: 'int8', dataType: ONNX_TYPE.INT8, dims: [2], extra: [pb.packedVarints(5, [-128, 127])] }),
    tensor({ name: 'f4', dataType: ONNX_TYPE.FLOAT4E2M1, dims: [4], extra: [pb.packedVarints(5, [0x21, 0xf7])] }),
    // Unpacked float_data, and int64_data split into single values and two packed runs, around other fields.
    tensor({ name: 'unpacked', dataType: ONNX_TYPE.FLOAT, dims: [3], extra: [pb.fixed32(4, 1.5), pb.bytes(12, 'doc'), pb.fixed32(4, -2), pb.fixed32(4, 8)] }),
    tensor({ name: 'split', dataType: ONNX_TYPE.INT64, dims: [5], extra: [pb.varint(7, 1), pb.packedVarints(7, [2, 3]), pb.bytes(12, 'doc'), pb.varint(7, 4), pb.packedVarints(7, [5])] }),
  );
  const expected = new Map<string, Uint8Array>([
    ['int64', i64([0n, -1n, 2n ** 62n, -(2n ** 63n), 300n])],
    ['uint64', i64([-1n, 7n])],
    ['int32', new Uint8Array(Int32Array.of(-2, 2 ** 31 - 1, -(2 ** 31)).buffer)],
    ['f16', Uint8Array.of(0x00, 0x3c, 0x00, 0xc0)],
    ['int8', Uint8Array.of(0x80, 0x7f)],
    ['f4', Uint8Array.of(0x21, 0xf7)],
    ['unpacked', f32Bytes([1.5, -2, 8])],
    ['split', i64([1n, 2n, 3n, 4n, 5n])],
  ]);
  for (const valuesPerRead of [1 << 20, 2, 1]) {
    const got = await decoded(bytes, valuesPerRead);
    for (const [name, want] of expected) assert.deepEqual([...got.get(name)!], [...want], `${name}, ${valuesPerRead} values per read`);
  }
});

test('the workers restart on a backward read and stop on a field that has fewer or more values than the shape', async () => {
  const path = join(dir, 'restart.onnx');
  writeFileSync(path, modelOf(tensor({ name: 'v', dataType: ONNX_TYPE.INT64, dims: [3], extra: [pb.packedVarints(7, [10, 20, 30])] })));
  const t = only(await onnxReader.open(path, nodeSourceOpener));
  const files = new FileTable();
  try {
    const reader = openTensorReader(t, files);
    const part = new Uint8Array(8);
    await reader.read(16, part);
    assert.deepEqual(part, i64([30n]));
    await reader.read(0, part);
    assert.deepEqual(part, i64([10n]));
    await assert.rejects(async () => reader.read(3, part), /whole values/);
    // The same field described as shorter or longer than it is.
    await assert.rejects(async () => openTensorReader({ ...t, bytes: 16 }, files).read(0, new Uint8Array(16)), /more values than the shape needs/);
    await assert.rejects(async () => openTensorReader({ ...t, bytes: 32 }, files).read(0, new Uint8Array(32)), /holds 3 values, fewer than the shape needs \(4\)/);
  } finally {
    files.closeAll();
  }
});

// ---- the real models ----

const sharedCheckpoints = [join(__dirname, '../../../shared/checkpoints')].find((d) => existsSync(d));

test('the real ONNX models hold the tensors their README counts, with subgraph tensors under their If node', async (t) => {
  if (!sharedCheckpoints) return t.skip('no ../shared/checkpoints folder beside the project');
  // Top-level initializers + subgraph initializers + tensors held in nodes (Constant values, ConstantOfShape values).
  const expected: Record<string, { total: number; nested: number }> = {
    'onnx_capp_gpt2_model.onnx': { total: 52 + 418, nested: 0 },
    'onnx_openwakeword_hello_deepa.onnx': { total: 10 + 4, nested: 0 },
    'onnx_ppocr_mobile_v2_cls_paddle2onnx.onnx': { total: 250, nested: 0 },
    'onnx_silero_vad_legacy_subgraph_initializers.onnx': { total: 69 + 190 + 4, nested: 190 + 4 },
    'onnx_silero_vad_op18_ifless_initializers.onnx': { total: 45, nested: 0 },
    'onnx_silero_vad_v5_constant_nodes.onnx': { total: 345, nested: 344 },
    'onnx_silero_vad_v6_constant_nodes.onnx': { total: 345, nested: 344 },
  };
  for (const [name, want] of Object.entries(expected)) {
    const file = join(sharedCheckpoints, name);
    if (!existsSync(file)) continue;
    const checkpoint = await openCheckpoint(file, nodeSourceOpener);
    assert.equal(checkpoint.format, 'onnx');
    assert.equal(checkpoint.tensors.length, want.total, name);
    assert.equal(checkpoint.tensors.filter((x) => /^If_\d+\//.test(x.name)).length, want.nested, name);
    assert.deepEqual(checkpoint.tensors.filter((x) => x.problem), [], name);
    assert.ok(onnxReader.sniff(readFileSync(file).subarray(0, 64)), `${name} sniffs as ONNX`);
  }
});
