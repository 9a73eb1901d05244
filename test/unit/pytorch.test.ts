import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateRawSync } from 'node:zlib';
import { FileTable, openTensorReader } from '../../extension/engine/tensorReader';
import type { TensorEntry } from '../../extension/formats/checkpoint';
import { openCheckpoint } from '../../extension/formats/openCheckpoint';
import { pytorchReader } from '../../extension/formats/pytorch';
import { buildSafetensors } from '../fixtures/safetensorsWriter';
import { buildTorchLegacy, buildTorchZip, f32, PickleBuilder, stateDictPickle, tensorPickle, type TorchTensor } from '../fixtures/torchWriter';
import { MemoryFiles } from '../fixtures/memorySource';
import { buildZip } from '../fixtures/zipWriter';
import { expectCode } from '../fixtures/formatErrors';

const weight: TorchTensor = { name: 'layer.weight', storage: 'FloatStorage', key: '0', data: f32([1, 2, 3, 4, 5, 6]), elementBytes: 4, shape: [2, 3] };
const transposed: TorchTensor = { ...weight, name: 'layer.weight_t', shape: [3, 2], stride: [1, 3] };
const bias: TorchTensor = { name: 'layer.bias', storage: 'HalfStorage', key: '1', data: new Uint8Array([0, 0x3c, 0, 0xc0, 0, 0x40]), elementBytes: 2, shape: [2], offset: 1 };

async function open(bytes: Uint8Array, name = 'model.pt') {
  return openCheckpoint(name, new MemoryFiles({ [name]: bytes }));
}

function byName(tensors: readonly TensorEntry[]): Record<string, TensorEntry> {
  return Object.fromEntries(tensors.map((t) => [t.name, t]));
}

test('a zip state dict: names, dtypes, 64-byte aligned offsets, storage offsets and strides of views', async () => {
  const built = buildTorchZip([weight, transposed, bias]);
  const checkpoint = await open(built.bytes);
  assert.equal(checkpoint.format, 'pytorch');
  const t = byName(checkpoint.tensors);
  assert.deepEqual(Object.keys(t), ['layer.weight', 'layer.weight_t', 'layer.bias']);
  const storage0 = built.entries.find((e) => e.name === 'archive/data/0')!.dataOffset;
  assert.equal(storage0 % 64, 0);
  assert.deepEqual([t['layer.weight']!.dtype, t['layer.weight']!.offset, t['layer.weight']!.bytes, t['layer.weight']!.strides], ['F32', storage0, 24, undefined]);
  assert.deepEqual([t['layer.weight_t']!.offset, t['layer.weight_t']!.strides], [storage0, [1, 3]]);
  const storage1 = built.entries.find((e) => e.name === 'archive/data/1')!.dataOffset;
  assert.deepEqual([t['layer.bias']!.dtype, t['layer.bias']!.offset, t['layer.bias']!.bytes], ['F16', storage1 + 2, 4]);
  assert.equal(checkpoint.findings, undefined);
});

test('deflated entries are located, not read: the tensor points into the compressed stream', async () => {
  const built = buildTorchZip([weight, bias], { deflate: true, byteorder: 'big', zip64: true });
  const t = byName((await open(built.bytes)).tensors);
  const entry = built.entries.find((e) => e.name === 'archive/data/1')!;
  assert.equal(t['layer.bias']!.offset, 2);
  assert.equal(t['layer.bias']!.deflate!.dataOffset, entry.dataOffset);
  assert.equal(t['layer.bias']!.bigEndian, true);
});

test('the tensor reader inflates deflated storages as a stream, strided and out of order', async () => {
  const values = Float32Array.from({ length: 6000 }, (_, i) => i);
  const storage = new Uint8Array(values.buffer);
  const compressed = new Uint8Array(deflateRawSync(storage));
  const file = join(mkdtempSync(join(tmpdir(), 'weightscope-deflate-')), 'entry.bin');
  writeFileSync(file, Buffer.concat([Buffer.from('junk'), compressed]));
  const files = new FileTable();
  const deflate = { dataOffset: 4, compressedBytes: compressed.length };
  // A transposed view [3000, 2] of the [2, 3000] storage.
  const reader = openTensorReader({ dtype: 'F32', shape: [3000, 2], file, offset: 0, bytes: 24000, strides: [1, 3000], deflate }, files);
  const out = new Uint8Array(16);
  await reader.read(8 * 2000, out);
  assert.deepEqual([...new Float32Array(out.buffer)], [2000, 5000, 2001, 5001]);
  await reader.read(0, out); // going back restarts the stream
  assert.deepEqual([...new Float32Array(out.buffer)], [0, 3000, 1, 3001]);
  reader.close();
  const plain = openTensorReader({ dtype: 'F32', shape: [10], file, offset: 4 * 5990, bytes: 40, deflate }, files);
  const tail = new Uint8Array(40);
  await plain.read(0, tail);
  assert.deepEqual([...new Float32Array(tail.buffer)], [5990, 5991, 5992, 5993, 5994, 5995, 5996, 5997, 5998, 5999]);
  plain.close();
  files.closeAll();
});

test('the legacy format: magic, protocol, sys_info, object, keys, then storages each with an element count', async () => {
  const bytes = buildTorchLegacy([weight, transposed, bias]);
  const checkpoint = await open(bytes, 'old.pth');
  const t = byName(checkpoint.tensors);
  const start = bytes.length - (8 + 24) - (8 + 6);
  assert.deepEqual([t['layer.weight']!.offset, t['layer.weight_t']!.strides, t['layer.bias']!.offset], [start + 8, [1, 3], start + 32 + 8 + 2]);
});

test('sniffing: zip archives with a top folder and legacy streams, whatever the file is called', () => {
  assert.equal(pytorchReader.sniff(buildTorchZip([weight]).bytes.subarray(0, 64)), true);
  assert.equal(pytorchReader.sniff(buildTorchLegacy([weight]).subarray(0, 64)), true);
  assert.equal(pytorchReader.sniff(buildZip([{ name: 'w.npy', data: new Uint8Array(4) }]).bytes.subarray(0, 64)), false);
  assert.equal(pytorchReader.sniff(new Uint8Array(64)), false);
});

test('globals that would run code are findings; the rest of the file still opens', async () => {
  const extra: [string, (p: PickleBuilder) => void][] = [['config', (p) => p.global('argparse', 'Namespace').op(0x29, 0x81).op(0x7d).str('lr').float(0.1).op(0x73, 0x62)]];
  const checkpoint = await open(buildTorchZip([weight], { extra }).bytes);
  assert.deepEqual(checkpoint.tensors.map((t) => t.name), ['layer.weight']);
  assert.equal(checkpoint.findings?.length, 1);
  assert.equal(checkpoint.findings![0]!.code, 'UNSAFE_GLOBAL');
  assert.match(checkpoint.findings![0]!.message, /argparse\.Namespace .*"config"/);
  assert.equal(checkpoint.metadata['config.lr'], '0.1');
});

test('metadata keys named like JavaScript object members are kept', async () => {
  const extra: [string, (p: PickleBuilder) => void][] = [['__proto__', (p) => p.int(3)], ['constructor', (p) => p.str('c')]];
  const checkpoint = await open(buildTorchZip([weight], { extra }).bytes);
  assert.equal(Object.hasOwn(checkpoint.metadata, '__proto__'), true);
  assert.deepEqual([checkpoint.metadata['__proto__'], checkpoint.metadata.constructor], ['3', 'c']);
});

test('a pickled nn.Module is named as its state_dict, and TorchScript classes are one finding', async () => {
  // Net(_parameters={'w': tensor}, _buffers={}, _modules={'fc': Linear(_parameters={'bias': tensor}, …)}, training=True)
  const p = new PickleBuilder().proto();
  const module = (cls: string, body: () => void): void => {
    p.global('__torch__.model', cls).op(0x29, 0x81).op(0x7d).mark();
    body();
    p.op(0x75, 0x62);
  };
  module('Net', () => {
    p.str('training').op(0x88).str('_parameters').op(0x7d);
    tensorPickle(p.str('w'), weight).op(0x73);
    p.str('_buffers').op(0x7d).str('_modules').op(0x7d).str('fc');
    module('Linear', () => {
      p.str('_parameters').op(0x7d);
      tensorPickle(p.str('bias'), bias).op(0x73);
      p.str('_modules').op(0x7d).str('in_features').int(3);
    });
    p.op(0x73);
  });
  const pickle = p.stop();
  const files = buildZip([
    { name: 'net/data.pkl', data: pickle },
    { name: 'net/code/__torch__/model.py', data: new TextEncoder().encode('class Net: ...') },
    { name: 'net/constants.pkl', data: new PickleBuilder().proto().op(0x29).stop() },
    { name: 'net/data/0', data: weight.data },
    { name: 'net/data/1', data: bias.data },
  ]);
  const checkpoint = await open(files.bytes, 'net.jit');
  assert.deepEqual(checkpoint.tensors.map((t) => t.name), ['w', 'fc.bias']);
  assert.deepEqual(checkpoint.findings?.map((f) => f.code), ['TORCHSCRIPT_CODE']);
  assert.match(checkpoint.findings![0]!.message, /2 classes such as __torch__\.model\.Net/);
  assert.equal(checkpoint.metadata['fc.in_features'], '3');
  assert.equal(checkpoint.metadata['training'], undefined, 'module bookkeeping is not metadata');
});

test('pytorch_model.bin shards open through their index', async () => {
  const shard1 = buildTorchZip([weight]).bytes;
  const shard2 = buildTorchZip([bias]).bytes;
  const index = new TextEncoder().encode(JSON.stringify({ weight_map: { 'layer.weight': 'pytorch_model-00001-of-00002.bin', 'layer.bias': 'pytorch_model-00002-of-00002.bin' } }));
  const opener = new MemoryFiles({
    'm/pytorch_model-00001-of-00002.bin': shard1,
    'm/pytorch_model-00002-of-00002.bin': shard2,
    'm/pytorch_model.bin.index.json': index,
  });
  for (const path of ['m/pytorch_model.bin.index.json', 'm']) {
    const checkpoint = await openCheckpoint(path, opener);
    assert.equal(checkpoint.format, 'pytorch');
    assert.deepEqual(checkpoint.tensors.map((t) => [t.name, t.file]), [['layer.weight', 'm/pytorch_model-00001-of-00002.bin'], ['layer.bias', 'm/pytorch_model-00002-of-00002.bin']]);
  }
});

test('generic endings defer to content and to dedicated formats in a folder', async () => {
  const safetensors = buildSafetensors([{ name: 'x', dtype: 'F32', shape: [1], data: f32([1]) }]);
  assert.equal((await open(safetensors, 'weights.bin')).format, 'safetensors');
  const opener = new MemoryFiles({ 'run/adapter.safetensors': safetensors, 'run/optimizer.pt': buildTorchZip([weight]).bytes });
  assert.equal((await openCheckpoint('run', opener)).format, 'safetensors');
});

// --- one malformed input per error code ---------------------------------------------------------------------------

test('TORCH_INVALID_ARCHIVE: no top folder, no data.pkl, a bad byteorder, neither zip nor legacy', async () => {
  await expectCode(async () => open(buildZip([{ name: 'data.pkl', data: stateDictPickle([]) }]).bytes), 'TORCH_INVALID_ARCHIVE', /top folder/);
  await expectCode(async () => open(buildZip([{ name: 'a/other.pkl', data: stateDictPickle([]) }]).bytes), 'TORCH_INVALID_ARCHIVE', /data\.pkl/);
  await expectCode(async () => open(buildTorchZip([weight], { byteorder: 'middle' as 'big' }).bytes), 'TORCH_INVALID_ARCHIVE', /byteorder/);
  await expectCode(async () => open(new TextEncoder().encode('just some text, not a checkpoint at all')), 'TORCH_INVALID_ARCHIVE');
});

test('TORCH_INVALID_STORAGE: persistent ids of unknown storage classes or impossible sizes', async () => {
  await expectCode(async () => open(buildTorchZip([{ ...weight, storage: 'EvilStorage' }]).bytes), 'TORCH_INVALID_STORAGE', /unknown storage type torch\.EvilStorage/);
  const pid = new PickleBuilder().proto().str('not a tuple').op(0x51).stop();
  await expectCode(async () => open(buildTorchZip([], { pickle: pid }).bytes), 'TORCH_INVALID_STORAGE', /not a tuple/);
  const negative = new PickleBuilder().proto().mark().str('storage').global('torch', 'FloatStorage').str('0').str('cpu').op(0x4a).u32(0xffffffff).tuple().op(0x51).stop();
  await expectCode(async () => open(buildTorchZip([], { pickle: negative }).bytes), 'TORCH_INVALID_STORAGE', /size/);
});

test('TORCH_LEGACY_INVALID: wrong protocol, element counts that disagree, truncated storages, unknown keys', async () => {
  const bytes = buildTorchLegacy([weight]);
  const wrongProtocol = bytes.slice();
  wrongProtocol.set([0xe8, 0x03], 18); // BININT2 1001 → 1000
  await expectCode(async () => open(wrongProtocol, 'old.pt'), 'TORCH_LEGACY_INVALID', /protocol version 1000/);
  await expectCode(async () => open(buildTorchLegacy([weight], { counts: { '0': 5 } }), 'old.pt'), 'TORCH_LEGACY_INVALID', /holds 5 elements/);
  await expectCode(async () => open(bytes.subarray(0, bytes.length - 4), 'old.pt'), 'TORCH_LEGACY_INVALID', /past the end/);
  await expectCode(async () => open(buildTorchLegacy([weight], { keys: ['0', 'ghost'] }), 'old.pt'), 'TORCH_LEGACY_INVALID', /ghost/);
});

test('per-tensor problems: missing or short storages, malformed views, views beyond the storage, complex dtypes', async () => {
  const bad = new PickleBuilder().proto().op(0x7d);
  bad.str('bad_size').global('torch._utils', '_rebuild_tensor_v2').mark();
  bad.mark().str('storage').global('torch', 'FloatStorage').str('0').str('cpu').int(6).tuple().op(0x51);
  bad.int(0).str('not a shape').ints([1]).op(0x89).op(0x4e).tuple().op(0x52).op(0x73);
  const checkpoint = await open(
    buildTorchZip(
      [
        weight,
        { ...weight, name: 'gone', key: 'gone' },
        { ...weight, name: 'beyond', shape: [2, 3], offset: 1 },
        { ...weight, name: 'strided_beyond', shape: [3, 3], stride: [2, 1] },
        { ...weight, name: 'short', key: 'short', data: f32([1, 2]), shape: [2] },
        { name: 'complex', storage: 'ComplexFloatStorage', key: 'c', data: new Uint8Array(16), elementBytes: 8, shape: [2] },
      ],
      { omit: ['gone'] },
    ).bytes,
  );
  const t = byName(checkpoint.tensors);
  assert.equal(t['layer.weight']!.problem, undefined);
  assert.equal(t['gone']!.problem?.code, 'TORCH_MISSING_STORAGE');
  assert.equal(t['beyond']!.problem?.code, 'VIEW_OUT_OF_RANGE');
  assert.equal(t['strided_beyond']!.problem?.code, 'VIEW_OUT_OF_RANGE');
  assert.equal(t['complex']!.problem?.code, 'UNSUPPORTED_DTYPE');
  assert.equal(t['complex']!.dtype, 'C64');
  // A storage entry shorter than its declared size: patch the declared size upwards.
  const shortPickle = stateDictPickle([{ ...weight, name: 'short', key: 's', data: f32(new Array(8).fill(0)) }]);
  const short = await open(buildZip([{ name: 'a/data.pkl', data: shortPickle }, { name: 'a/data/s', data: f32([1, 2]) }]).bytes);
  assert.equal(short.tensors[0]!.problem?.code, 'TORCH_STORAGE_SIZE');
  const invalid = await open(buildTorchZip([weight], { pickle: bad.stop() }).bytes);
  assert.equal(invalid.tensors[0]!.problem?.code, 'TORCH_INVALID_TENSOR');
});

test('VIEW_TOO_LARGE: a view repeating its storage elements may not address more bytes than the file holds', async () => {
  const built = buildTorchZip([
    // torch.arange(3).expand(1, -1) and a row broadcast to 4 rows: stride-0 views as checkpoints hold them.
    { ...weight, name: 'position_ids', shape: [1, 6], stride: [0, 1] },
    { ...weight, name: 'broadcast', shape: [4, 3], stride: [0, 1] },
    // A few bytes of pickle asking for 2^48 copies of one element: analysing it would never end.
    { ...weight, name: 'endless', shape: [1 << 24, 1 << 24], stride: [0, 0] },
  ]);
  const t = byName((await open(built.bytes)).tensors);
  assert.equal(t['position_ids']!.problem, undefined);
  assert.equal(t['broadcast']!.problem, undefined);
  assert.deepEqual(t['broadcast']!.strides, [0, 1]);
  assert.equal(t['endless']!.problem?.code, 'VIEW_TOO_LARGE');
  assert.match(t['endless']!.problem!.message, /1125899906842624 bytes/);
});

test('objects nested deeper than the walk allows are refused, not recursed into', async () => {
  const p = new PickleBuilder().proto();
  for (let i = 0; i < 1100; i++) p.op(0x5d);
  for (let i = 0; i < 1099; i++) p.op(0x61);
  await expectCode(async () => open(buildTorchZip([], { pickle: p.stop() }).bytes), 'PICKLE_LIMIT', /nested deeper/);
});

test('the CLI: findings are notes on stderr, the JSON keeps its documented keys, a malformed file exits 3', () => {
  const dir = mkdtempSync(join(tmpdir(), 'weightscope-torch-cli-'));
  const cli = join(__dirname, '../../dist/cli.js');
  const unsafe = join(dir, 'unsafe.pt');
  const extra: [string, (p: PickleBuilder) => void][] = [['hook', (p) => p.global('os', 'system').mark().str('echo hi').tuple().op(0x52)]];
  writeFileSync(unsafe, buildTorchZip([weight], { extra }).bytes);
  const run = spawnSync(process.execPath, [cli, 'stats', unsafe, '--json'], { encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  assert.deepEqual(Object.keys(JSON.parse(run.stdout)), ['format', 'files', 'metadata', 'tensors']);
  assert.match(run.stderr, /note: UNSAFE_GLOBAL: .*unsafe\.pt: data\.pkl references os\.system/);
  const table = spawnSync(process.execPath, [cli, 'stats', unsafe], { encoding: 'utf8' });
  assert.match(table.stdout, /layer\.weight/);
  assert.match(table.stderr, /UNSAFE_GLOBAL/);
  const broken = join(dir, 'broken.pth');
  writeFileSync(broken, buildTorchZip([weight]).bytes.subarray(0, 200));
  const failed = spawnSync(process.execPath, [cli, 'stats', broken], { encoding: 'utf8' });
  assert.equal(failed.status, 3);
  assert.match(failed.stderr, /ZIP_NO_END_RECORD: .*broken\.pth/);
});
