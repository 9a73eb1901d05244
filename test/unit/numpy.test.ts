import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FormatError } from '../../extension/formats/formatError';
import { numpyReader, parsePythonLiteral } from '../../extension/formats/numpy';
import { openCheckpoint } from '../../extension/formats/openCheckpoint';
import { f32 } from '../fixtures/torchWriter';
import { MemoryFiles } from '../fixtures/memorySource';
import { buildZip } from '../fixtures/zipWriter';
import { expectCode } from '../fixtures/formatErrors';

/** A .npy file: magic, version, little-endian header length, the header padded to 64 bytes, then `data`. */
function npy(header: string, data: Uint8Array, version = 1): Uint8Array {
  const prefix = version === 1 ? 10 : 12;
  const padded = header + ' '.repeat((64 - ((prefix + header.length + 1) % 64)) % 64) + '\n';
  const text = version === 3 ? new TextEncoder().encode(padded) : Uint8Array.from(padded, (c) => c.charCodeAt(0));
  const out = new Uint8Array(prefix + text.length + data.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, version, 0]);
  const view = new DataView(out.buffer);
  if (version === 1) view.setUint16(8, text.length, true);
  else view.setUint32(8, text.length, true);
  out.set(text, prefix);
  out.set(data, prefix + text.length);
  return out;
}

const header = (descr: string, shape: string, fortran = 'False'): string => `{'descr': '${descr}', 'fortran_order': ${fortran}, 'shape': ${shape}, }`;

async function open(bytes: Uint8Array, name = 'weights.npy') {
  return openCheckpoint(name, new MemoryFiles({ [name]: bytes }));
}

test('.npy versions 1–3: dtype, shape, data offset, Fortran order as strides, big-endian', async () => {
  const data = f32([1, 2, 3, 4, 5, 6]);
  const bytes = npy(header('<f4', '(2, 3)'), data);
  const plain = await open(bytes);
  assert.equal(plain.format, 'numpy');
  assert.equal((bytes.length - data.length) % 64, 0);
  assert.deepEqual(plain.tensors.map((t) => [t.name, t.dtype, t.shape, t.offset, t.bytes, t.strides]), [['weights', 'F32', [2, 3], bytes.length - 24, 24, undefined]]);
  const fortranBytes = npy(header('<f4', '(2, 3)', 'True'), data, 2);
  const fortran = (await open(fortranBytes)).tensors[0]!;
  assert.deepEqual([fortran.strides, fortran.offset], [[1, 2], fortranBytes.length - 24]);
  const big = (await open(npy(header('>f8', '(3,)'), new Uint8Array(24), 3))).tensors[0]!;
  assert.deepEqual([big.dtype, big.bigEndian], ['F64', true]);
  const mlx = (await open(npy("{'descr': '<f4', 'fortran_order': True, 'shape': (1, 1, 1, 32, )}", new Uint8Array(128)))).tensors[0]!;
  assert.deepEqual([mlx.shape, mlx.strides], [[1, 1, 1, 32], undefined]);
  const py2 = (await open(npy("{'descr': '|b1', 'fortran_order': False, 'shape': (3L,)}", new Uint8Array(3)))).tensors[0]!;
  assert.deepEqual([py2.dtype, py2.shape], ['BOOL', [3]]);
  const scalar = (await open(npy(header('<i8', '()'), new Uint8Array(8)))).tensors[0]!;
  assert.deepEqual([scalar.dtype, scalar.shape, scalar.bytes], ['I64', [], 8]);
});

test('unsupported NumPy dtypes are per-tensor problems: complex, objects, structured records', async () => {
  const complex = (await open(npy(header('<c8', '(2,)'), new Uint8Array(16)))).tensors[0]!;
  assert.deepEqual([complex.dtype, complex.problem?.code], ['C64', 'UNSUPPORTED_DTYPE']);
  const objects = (await open(npy(header('|O', '(2,)'), new Uint8Array(40)))).tensors[0]!;
  assert.equal(objects.problem?.code, 'UNSUPPORTED_DTYPE');
  const records = (await open(npy("{'descr': [('x', '<f4'), ('y', '<i4')], 'fortran_order': False, 'shape': (2,), }", new Uint8Array(16)))).tensors[0]!;
  assert.equal(records.problem?.code, 'UNSUPPORTED_DTYPE');
});

test('.npz: stored and deflated members, names without .npy, other members ignored', async () => {
  const a = npy(header('<f4', '(2, 3)'), f32([1, 2, 3, 4, 5, 6]));
  const b = npy(header('<u2', '(4,)'), new Uint8Array(8));
  const built = buildZip([
    { name: 'encoder.weight.npy', data: a },
    { name: 'encoder.bias.npy', data: b, deflate: true },
    { name: 'README.txt', data: new TextEncoder().encode('not an array') },
  ]);
  const checkpoint = await open(built.bytes, 'model.npz');
  const [weight, bias] = checkpoint.tensors;
  assert.equal(checkpoint.tensors.length, 2);
  assert.deepEqual([weight!.name, weight!.offset, weight!.deflate], ['encoder.weight', built.entries[0]!.dataOffset + a.length - 24, undefined]);
  assert.deepEqual([bias!.name, bias!.dtype, bias!.offset, bias!.deflate?.dataOffset], ['encoder.bias', 'U16', b.length - 8, built.entries[1]!.dataOffset]);
  assert.equal(numpyReader.sniff(built.bytes.subarray(0, 64)), true);
});

test('the header parser reads literals only: calls, names and expressions are rejected', () => {
  const parsed = parsePythonLiteral("{'a': (1, 2), 'b': [True, None], 'c': 'x', 'd': (7,), 'e': (7)}") as Map<string, unknown>;
  assert.deepEqual([...parsed.keys()], ['a', 'b', 'c', 'd', 'e']);
  assert.deepEqual((parsed.get('a') as { items: unknown }).items, [1n, 2n]);
  assert.deepEqual((parsed.get('d') as { items: unknown }).items, [7n]);
  assert.deepEqual([parsed.get('b'), parsed.get('c'), parsed.get('e')], [[true, null], 'x', 7n]);
  for (const text of ["__import__('os').system('x')", "{'a': 1 + 1}", "{'a': b}", "{1: 2}", "{'a': 1, 'a': 2}", '(((((((((((((((((((((((((((((((((1)))))))))))))))))))))))))))))))))']) {
    assert.throws(() => parsePythonLiteral(text), Error, text);
  }
});

// --- one malformed input per error code ---------------------------------------------------------------------------

test('NPY_INVALID_MAGIC: not a .npy at all', async () => {
  await expectCode(() => open(new TextEncoder().encode('NUMPY? no, just text.')), 'NPY_INVALID_MAGIC');
  await expectCode(() => open(new Uint8Array([0x93, 0x4e])), 'NPY_INVALID_MAGIC');
});

test('NPY_INVALID_HEADER: versions, lengths, keys, shapes and code in the header', async () => {
  const good = npy(header('<f4', '(2,)'), new Uint8Array(8));
  const version = good.slice();
  version[6] = 9;
  await expectCode(() => open(version), 'NPY_INVALID_HEADER', /version 9/);
  const huge = npy(header('<f4', '(2,)'), new Uint8Array(8), 2);
  new DataView(huge.buffer).setUint32(8, 0xfffffff0, true);
  await expectCode(() => open(huge), 'NPY_INVALID_HEADER', /more than the limit/);
  const long = good.slice();
  new DataView(long.buffer).setUint16(8, 60000, true);
  await expectCode(() => open(long), 'NPY_INVALID_HEADER', /past the end/);
  await expectCode(() => open(npy("{'descr': '<f4', 'shape': (2,)}", new Uint8Array(8))), 'NPY_INVALID_HEADER', /exactly/);
  await expectCode(() => open(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'extra': 1}", new Uint8Array(8))), 'NPY_INVALID_HEADER', /exactly/);
  await expectCode(() => open(npy(header('<f4', '(-2,)'), new Uint8Array(8))), 'NPY_INVALID_HEADER', /shape/);
  await expectCode(() => open(npy(header('<f4', '(2,)', "__import__('os')"), new Uint8Array(8))), 'NPY_INVALID_HEADER', /literal/);
  await expectCode(() => open(npy(header('<f4', '(9007199254740991, 9007199254740991)'), new Uint8Array(8))), 'NPY_INVALID_HEADER', /too large/);
});

test('NPY_TRUNCATED: fewer data bytes than the shape needs, in a file or an npz member', async () => {
  await expectCode(() => open(npy(header('<f4', '(1000, 1000)'), new Uint8Array(8))), 'NPY_TRUNCATED', /needs 4000000 bytes/);
  const member = buildZip([{ name: 'w.npy', data: npy(header('<f8', '(10,)'), new Uint8Array(8)), deflate: true }]);
  await assert.rejects(open(member.bytes, 'x.npz'), (error: unknown) => error instanceof FormatError && error.code === 'NPY_TRUNCATED' && error.tensor === 'w');
});
