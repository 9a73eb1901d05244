/**
 * Activation statistics importers on hand-built bytes — the GGUF importance matrix, the legacy .dat, the safetensors
 * layout — with one malformed file per error code, and the matching of entry names to weights.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ActivationStats } from '../../extension/activations/activationStats';
import { matchActivations, weightNameCandidates } from '../../extension/activations/matchActivations';
import { openActivationStats } from '../../extension/activations/openActivations';
import type { Checkpoint } from '../../extension/formats/checkpoint';
import { FormatError } from '../../extension/formats/formatError';
import { buildGguf, gguf, type GgufTensor } from '../fixtures/ggufWriter';
import { MemoryFiles } from '../fixtures/memorySource';
import { buildSafetensors, type TensorData } from '../fixtures/safetensorsWriter';
import { buildTorchZip, f32 } from '../fixtures/torchWriter';
import { buildZip } from '../fixtures/zipWriter';
import { concat } from '../fixtures/onnxWriter';

const f32s = (...values: number[]): Uint8Array => new Uint8Array(Float32Array.from(values).buffer);
const i32s = (...values: number[]): Uint8Array => new Uint8Array(Int32Array.from(values).buffer);
const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);


async function open(path: string, bytes: Uint8Array): Promise<ActivationStats> {
  return openActivationStats(path, new MemoryFiles({ [path]: bytes }));
}

async function expectCode(path: string, bytes: Uint8Array, code: string, pattern?: RegExp): Promise<void> {
  const error = await open(path, bytes).then(
    () => assert.fail(`expected ${code}`),
    (e: unknown) => e,
  );
  assert.ok(error instanceof FormatError, String(error));
  assert.equal(error.code, code, error.message);
  assert.equal(error.file, path);
  if (pattern) assert.match(error.message, pattern);
}

// --- GGUF importance matrices ----------------------------------------------------------------------------------

const IMATRIX_META: [string, ReturnType<typeof gguf.str>][] = [
  ['general.type', gguf.str('imatrix')], ['imatrix.datasets', gguf.strings(['wiki.train.raw'])], ['imatrix.chunk_count', gguf.u32(10)],
  ['imatrix.chunk_size', gguf.u32(512)],
];

/** `<name>.in_sum2` [matrices, n] and `<name>.counts` [matrices, 1], as llama-imatrix writes them. */
function imatrixTensors(name: string, sums: number[], counts: number[]): GgufTensor[] {
  return [
    { name: `${name}.counts`, type: 'F32', shape: [counts.length, 1], data: f32s(...counts) },
    { name: `${name}.in_sum2`, type: 'F32', shape: [counts.length, sums.length / counts.length], data: f32s(...sums) },
  ];
}

test('a GGUF importance matrix: Σx² vectors in place, token counts, calibration metadata, MoE entries', async () => {
  const bytes = buildGguf(IMATRIX_META, [
    ...imatrixTensors('blk.0.attn_q.weight', [1, 2, 3, 4], [5120]),
    ...imatrixTensors('blk.1.ffn_up_exps.weight', [1, 2, 3, 4, 5, 6], [10, 0, 7]),
    { name: 'blk.0.attn_q.weight.in_sum', type: 'F32', shape: [1, 4], data: f32s(0, 0, 0, 0) },
  ]);
  const stats = await open('/a/imatrix.gguf', bytes);
  assert.equal(stats.format, 'imatrix');
  assert.deepEqual(stats.metadata, { 'general.type': 'imatrix', 'imatrix.datasets': '["wiki.train.raw"]', 'imatrix.chunk_count': '10', 'imatrix.chunk_size': '512' });
  assert.deepEqual(stats.entries.map((e) => [e.name, e.length, e.tokens]), [['blk.0.attn_q.weight', 4, [5120]], ['blk.1.ffn_up_exps.weight', 6, [10, 0, 7]]]);
  const vector = stats.entries[0]!.statistics.sumSquares!;
  assert.deepEqual(vector.location.shape, [4]);
  assert.deepEqual(Array.from(new Float32Array(bytes.slice(vector.location.offset, vector.location.offset + 16).buffer)), [1, 2, 3, 4]);
  assert.equal(vector.divisor, undefined);
  // Found by content whatever the name.
  assert.equal((await open('/a/calibration.bin', bytes)).entries.length, 2);
});

test('GGUF importance matrices: one malformed file per error code', async () => {
  const path = '/a/imatrix.gguf';
  await expectCode(path, buildGguf([['general.type', gguf.str('model')]], [{ name: 'w', type: 'F32', shape: [2], data: f32s(1, 2) }]), 'NOT_ACTIVATIONS', /general\.type is "model"/);
  await expectCode(path, buildGguf(IMATRIX_META, [imatrixTensors('w', [1, 2], [1])[1]!]), 'MISSING_COUNTS', /"w\.in_sum2" has no "w\.counts"/);
  await expectCode(path, buildGguf(IMATRIX_META, [...imatrixTensors('w', [1, 2], [1]), imatrixTensors('v', [1], [1])[0]!]), 'MISSING_COUNTS', /"v\.counts" has no matching/);
  await expectCode(path, buildGguf(IMATRIX_META, [
    imatrixTensors('w', [1, 2], [1])[0]!, { name: 'w.in_sum2', type: 'F16', shape: [1, 2], data: new Uint8Array(4) },
  ]), 'UNSUPPORTED_DTYPE', /F32, not F16/);
  await expectCode(path, buildGguf(IMATRIX_META, [
    { name: 'w.counts', type: 'F32', shape: [2, 1], data: f32s(1, 1) }, { name: 'w.in_sum2', type: 'F32', shape: [3], data: f32s(1, 2, 3) },
  ]), 'INVALID_SHAPE', /3 sums do not split into the 2 matrices/);
  await expectCode(path, buildGguf(IMATRIX_META, imatrixTensors('w', [1, 2], [-1])), 'INVALID_COUNTS', /token count 0 is -1/);
  await expectCode(path, buildGguf(IMATRIX_META, imatrixTensors('w', [1, 2], [Number.NaN])), 'INVALID_COUNTS');
  // The container is the model reader's: its codes come through.
  await expectCode(path, buildGguf(IMATRIX_META, imatrixTensors('w', [1, 2], [1])).slice(0, 40), 'COUNT_TOO_LARGE');
});

// --- legacy .dat ------------------------------------------------------------------------------------------------

function datEntry(name: string | Uint8Array, calls: number, values: number[], declared = values.length): Uint8Array {
  const bytes = typeof name === 'string' ? utf8(name) : name;
  return concat(i32s(bytes.length), bytes, i32s(calls, declared), f32s(...values));
}

function dat(entries: Uint8Array[], trailer: Uint8Array = concat(i32s(64), i32s(8), utf8('wiki.txt')), count = entries.length): Uint8Array {
  return concat(i32s(count), ...entries, trailer);
}

test('a legacy .dat importance matrix: values in place, divided by ncall; the trailer is optional', async () => {
  const bytes = dat([datEntry('blk.0.attn_q.weight', 4, [8, 12]), datEntry('output.weight', 2, [1, 2, 3])]);
  const stats = await open('/a/imatrix.dat', bytes);
  assert.equal(stats.format, 'imatrix-dat');
  assert.deepEqual(stats.metadata, { 'imatrix.chunk_count': '64', 'imatrix.datasets': 'wiki.txt' });
  assert.deepEqual(stats.entries.map((e) => [e.name, e.length, e.statistics.sumSquares?.divisor]), [['blk.0.attn_q.weight', 2, 4], ['output.weight', 3, 2]]);
  const { location } = stats.entries[1]!.statistics.sumSquares!;
  assert.deepEqual([location.dtype, location.shape, location.bytes], ['F32', [3], 12]);
  assert.deepEqual(Array.from(new Float32Array(bytes.slice(location.offset, location.offset + 12).buffer)), [1, 2, 3]);
  assert.deepEqual((await open('/a/imatrix.dat', dat([datEntry('w', 1, [1])], i32s(3)))).metadata, { 'imatrix.chunk_count': '3' });
  assert.deepEqual((await open('/a/imatrix.dat', dat([datEntry('w', 1, [1])], new Uint8Array(0)))).metadata, {});
  // Recognised by content under another name.
  assert.equal((await open('/a/imatrix-llama3', bytes)).format, 'imatrix-dat');
});

test('legacy .dat importance matrices: one malformed file per error code', async () => {
  const path = '/a/imatrix.dat';
  await expectCode(path, new Uint8Array(2), 'TRUNCATED_FILE', /inside the entry count/);
  await expectCode(path, dat([datEntry('w', 1, [1, 2, 3, 4])]).slice(0, 25), 'TRUNCATED_FILE', /the 4 values of "w"/);
  await expectCode(path, dat([], new Uint8Array(0)), 'NO_STATISTICS', /declares 0 entries/);
  await expectCode(path, dat([datEntry('w', 1, [1])], new Uint8Array(0), 1_000_000), 'COUNT_TOO_LARGE');
  await expectCode(path, dat([concat(i32s(0), i32s(1, 1), f32s(1))]), 'INVALID_NAME', /0 bytes/);
  await expectCode(path, dat([concat(i32s(2_000_000_000), utf8('w'))]), 'INVALID_NAME', /2000000000 bytes/);
  await expectCode(path, dat([datEntry(new Uint8Array([0xff, 0xfe]), 1, [1])]), 'INVALID_NAME', /not valid UTF-8/);
  await expectCode(path, dat([datEntry('w', 1, [1]), datEntry('w', 1, [2])]), 'DUPLICATE_TENSOR');
  await expectCode(path, dat([datEntry('w', 0, [1])]), 'INVALID_CALL_COUNT', /ncall is 0/);
  await expectCode(path, dat([datEntry('w', 1, [], 0)]), 'INVALID_VALUE_COUNT', /nval is 0/);
  await expectCode(path, dat([datEntry('w', 1, [1])], new Uint8Array(2)), 'TRAILING_DATA', /2 bytes after the last entry/);
  await expectCode(path, dat([datEntry('w', 1, [1])], concat(i32s(1), i32s(50), utf8('short'))), 'TRAILING_DATA', /declared 50 bytes long but 5/);
});

// --- safetensors layout -------------------------------------------------------------------------------------------

const vector = (name: string, values: number[], dtype = 'F32'): TensorData => ({
  name, dtype, shape: [values.length], data: dtype === 'F64' ? new Uint8Array(Float64Array.from(values).buffer) : f32s(...values),
});

test('safetensors statistics: suffixed vectors by weight name, bare vectors as max|X| (act_scales)', async () => {
  const stats = await open('/a/stats.safetensors', buildSafetensors([
    vector('model.layers.0.mlp.down_proj.weight.act_l2', [1, 2, 3]),
    vector('model.layers.0.self_attn.q_proj', [4, 5], 'F64'),
    vector('model.layers.0.mlp.down_proj.weight.act_mean_abs', [1, 1, 1]),
    vector('model.layers.0.mlp.down_proj.weight.act_max_abs', [7, 8, 9]),
  ], { calibration: 'pile-val, 128 samples' }));
  assert.equal(stats.format, 'safetensors');
  assert.deepEqual(stats.metadata, { calibration: 'pile-val, 128 samples' });
  assert.deepEqual(stats.entries.map((e) => [e.name, e.length, Object.keys(e.statistics)]), [
    ['model.layers.0.mlp.down_proj.weight', 3, ['l2', 'meanAbs', 'maxAbs']],
    ['model.layers.0.self_attn.q_proj', 2, ['maxAbs']],
  ]);
  assert.equal(stats.entries[1]!.statistics.maxAbs!.location.dtype, 'F64');
});

test('safetensors statistics: one malformed file per error code', async () => {
  const path = '/a/stats.safetensors';
  await expectCode(path, buildSafetensors([]), 'NO_STATISTICS');
  await expectCode(path, buildSafetensors([{ name: 'w.act_l2', dtype: 'I32', shape: [2], data: i32s(1, 2) }]), 'UNSUPPORTED_DTYPE', /not I32/);
  await expectCode(path, buildSafetensors([{ name: 'w.weight', dtype: 'F32', shape: [2, 2], data: f32s(1, 2, 3, 4) }]), 'INVALID_SHAPE', /is this a model/);
  await expectCode(path, buildSafetensors([{ name: 'w.act_l2', dtype: 'F32', shape: [0], data: new Uint8Array(0) }]), 'INVALID_SHAPE', /empty/);
  await expectCode(path, buildSafetensors([vector('w', [1, 2]), vector('w.act_max_abs', [1, 2])]), 'DUPLICATE_TENSOR', /a second max\|X\| vector for "w"/);
  await expectCode(path, buildSafetensors([vector('w.act_l2', [1, 2]), vector('w.act_mean_abs', [1, 2, 3])]), 'LENGTH_MISMATCH', /3 values, but other statistics of "w" have 2/);
  await expectCode(path, buildSafetensors([vector('w', [1])]).slice(0, 12), 'INVALID_HEADER_LENGTH');
});

// --- PyTorch act_scales and NumPy .npz ----------------------------------------------------------------------------

test('SmoothQuant act_scales saved by torch.save: module name → max|X|, read without running the pickle', async () => {
  const half = new Uint8Array(Uint16Array.from([0x3c00, 0x4000, 0x4200]).buffer); // 1, 2, 3 in f16
  const bytes = buildTorchZip([
    { name: 'model.layers.0.self_attn.q_proj', storage: 'HalfStorage', key: '0', data: half, elementBytes: 2, shape: [3] },
    { name: 'model.layers.0.mlp.down_proj.weight.act_l2', storage: 'FloatStorage', key: '1', data: f32([4, 5]), elementBytes: 4, shape: [2] },
  ], { folder: 'act_scales' }).bytes;
  for (const path of ['/a/act_scales.pt', '/a/act_scales.bin', '/a/scales']) {
    const stats = await open(path, bytes);
    assert.equal(stats.format, 'pytorch');
    assert.deepEqual(stats.entries.map((e) => [e.name, e.length, Object.keys(e.statistics)]), [
      ['model.layers.0.self_attn.q_proj', 3, ['maxAbs']], ['model.layers.0.mlp.down_proj.weight', 2, ['l2']],
    ]);
    assert.equal(stats.entries[0]!.statistics.maxAbs!.location.dtype, 'F16');
  }
  // A model state dict is not statistics; a broken archive keeps the PyTorch reader's code.
  await expectCode('/a/model.pt', buildTorchZip([{ name: 'w', storage: 'FloatStorage', key: '0', data: f32([1, 2, 3, 4]), elementBytes: 4, shape: [2, 2] }]).bytes, 'INVALID_SHAPE', /is this a model/);
  await expectCode('/a/act_scales.pt', bytes.slice(0, 100), 'ZIP_NO_END_RECORD');
});

test('a NumPy .npz in the documented layout', async () => {
  const npy = (values: number[]): Uint8Array => {
    const header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${values.length},), }`.padEnd(117) + '\n';
    return concat(new Uint8Array([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, header.length, 0]), utf8(header), f32s(...values));
  };
  const bytes = buildZip([
    { name: 'lm_head.weight.act_mean_abs.npy', data: npy([1, 2]) },
    { name: 'lm_head.weight.act_max_abs.npy', data: npy([3, 4]), deflate: true },
  ]).bytes;
  const stats = await open('/a/stats.npz', bytes);
  assert.equal(stats.format, 'numpy');
  assert.deepEqual(stats.entries.map((e) => [e.name, e.length, Object.keys(e.statistics)]), [['lm_head.weight', 2, ['meanAbs', 'maxAbs']]]);
  assert.ok(stats.entries[0]!.statistics.maxAbs!.location.deflate);
});

test('files of no known format, and missing files, are refused with a clear message', async () => {
  await expectCode('/a/notes.txt', utf8('hello, these are not statistics'), 'UNSUPPORTED_FORMAT', /GGUF or legacy \.dat importance matrix, safetensors, \.npz, PyTorch act_scales/);
  await assert.rejects(openActivationStats('/a/none.gguf', new MemoryFiles({})), (e: unknown) => e instanceof FormatError && e.code === 'FILE_NOT_FOUND');
});

// --- matching -----------------------------------------------------------------------------------------------------

function checkpointOf(names: string[]): Checkpoint {
  return {
    format: 'safetensors', files: [], metadata: {},
    tensors: names.map((name) => ({ name, dtype: 'F32', shape: [2, 2], file: '/m', offset: 0, bytes: 16 })),
  };
}

function statsOf(names: string[]): ActivationStats {
  return { format: 'safetensors', file: '/a', metadata: {}, entries: names.map((name) => ({ name, length: 2, statistics: {} })) };
}

test('entry names match weights directly, by module name, and across llama.cpp and Hugging Face names', () => {
  const hf = checkpointOf(['model.embed_tokens.weight', 'model.layers.0.self_attn.q_proj.weight', 'model.layers.0.mlp.down_proj.weight', 'lm_head.weight']);
  const match = matchActivations(hf, statsOf([
    'blk.0.attn_q.weight', // llama.cpp → HF
    'model.layers.0.mlp.down_proj', // module name
    'blk.3.ffn_up.weight', // no such layer
    'model.layers.0.self_attn.q_proj.weight', // already claimed by the first entry
    'output.weight', // llama.cpp → lm_head
  ]));
  assert.deepEqual([...match.byTensor], [[1, 0], [2, 1], [3, 4]]);
  assert.deepEqual(match.unmatched, ['blk.3.ffn_up.weight', 'model.layers.0.self_attn.q_proj.weight']);

  const gg = checkpointOf(['token_embd.weight', 'blk.0.attn_q.weight', 'blk.0.ffn_down.weight']);
  const reverse = matchActivations(gg, statsOf(['model.layers.0.self_attn.q_proj', 'layers.0.mlp.down_proj', 'model.embed_tokens']));
  assert.deepEqual([...reverse.byTensor], [[1, 0], [2, 1], [0, 2]]);
  // Checkpoints without the "model." prefix are found too.
  assert.ok(weightNameCandidates('blk.2.attn_v.weight').includes('layers.2.self_attn.v_proj.weight'));
});
