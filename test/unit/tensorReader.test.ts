/** The worker-side reader of a tensor's logical bytes, for every layout readers can describe. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateRawSync } from 'node:zlib';
import type { TensorLocation } from '../../extension/formats/checkpoint';
import { FileTable, isContiguous, isPermutation, openTensorReader, storageIndices, TensorReadError } from '../../extension/engine/tensorReader';

const dir = mkdtempSync(join(tmpdir(), 'weightscope-reader-'));
const files = new FileTable();

/** Storage of 24 F32 values 0..23 after a 5-byte prefix (so offsets are unaligned too). */
const storage = Float32Array.from({ length: 24 }, (_, i) => i);
const storagePath = join(dir, 'storage.bin');
writeFileSync(storagePath, Buffer.concat([Buffer.from('hello'), Buffer.from(storage.buffer)]));

async function readAll(location: TensorLocation, options = {}, chunk = 4): Promise<number[]> {
  const reader = openTensorReader(location, files, options);
  const out = new Uint8Array(location.bytes);
  for (let at = 0; at < out.length; at += chunk * 4) await reader.read(at, out.subarray(at, Math.min(out.length, at + chunk * 4)));
  reader.close();
  return Array.from(new Float32Array(out.buffer));
}

const base = { dtype: 'F32', file: storagePath, offset: 5 };

test('contiguous bytes are read as stored', async () => {
  assert.deepEqual(await readAll({ ...base, shape: [2, 3], bytes: 24 }), [0, 1, 2, 3, 4, 5]);
});

test('a transposed view is gathered in logical order, or read straight through when order does not matter', async () => {
  // Storage is a 4x6 row-major matrix; the view is its transpose, 6x4 with strides [1, 6].
  const transposed = { ...base, shape: [6, 4], strides: [1, 6], bytes: 96 };
  const logical = await readAll(transposed, {}, 3);
  assert.deepEqual(logical.slice(0, 8), [0, 6, 12, 18, 1, 7, 13, 19]);
  assert.deepEqual(logical.length, 24);
  const anyOrder = await readAll(transposed, { anyOrder: true });
  assert.deepEqual(anyOrder, Array.from(storage));
});

test('a view permuting whole rows is gathered row by row, whatever the read boundaries, near or far apart in storage', async () => {
  // The rows of the 4x6 storage in the order 0, 2, 1, 3: logical row 2i + j is storage row i + 2j, runs of 6 elements.
  const permuted = { ...base, shape: [2, 2, 6], strides: [6, 12, 1], bytes: 96 };
  const want = [0, 2, 1, 3].flatMap((r) => Array.from(storage.subarray(6 * r, 6 * r + 6)));
  for (const chunk of [1, 4, 5, 7, 24]) assert.deepEqual(await readAll(permuted, {}, chunk), want, `chunks of ${chunk}`);
  // Rows 40 000 elements (160 kB) long: the runs of one read are further apart than one read is worth spanning.
  const path = join(dir, 'wide.bin');
  const wide = Float32Array.from({ length: 4 * 40_000 }, (_, i) => i);
  writeFileSync(path, Buffer.from(wide.buffer));
  const wideView = { dtype: 'F32', file: path, offset: 0, shape: [2, 2, 40_000], strides: [40_000, 80_000, 1], bytes: wide.byteLength };
  const wideWant = [0, 2, 1, 3].flatMap((r) => Array.from(wide.subarray(40_000 * r, 40_000 * r + 40_000)));
  assert.deepEqual(await readAll(wideView, {}, 50_001), wideWant);
});

test('a view with a storage offset and a step reads only its elements', async () => {
  // Every other element of row 1 of the 4x6 storage: offset 6 elements, shape [3], stride [2].
  assert.deepEqual(await readAll({ ...base, offset: 5 + 6 * 4, shape: [3], strides: [2], bytes: 12 }, { anyOrder: true }), [6, 8, 10]);
});

test('big-endian elements are swapped', async () => {
  const path = join(dir, 'be.bin');
  const be = Buffer.alloc(12);
  [1.5, -2, 3e10].forEach((v, i) => be.writeFloatBE(v, 4 * i));
  writeFileSync(path, be);
  assert.deepEqual(await readAll({ dtype: 'F32', file: path, offset: 0, shape: [3], bytes: 12, bigEndian: true }), [1.5, -2, Math.fround(3e10)]);
});

test('a deflated entry is inflated as a stream, from any position', async () => {
  const path = join(dir, 'deflated.bin');
  const compressed = deflateRawSync(Buffer.from(storage.buffer));
  writeFileSync(path, Buffer.concat([Buffer.alloc(7), compressed]));
  const location: TensorLocation = { dtype: 'F32', file: path, offset: 8, shape: [20], bytes: 80, deflate: { dataOffset: 7, compressedBytes: compressed.length } };
  assert.deepEqual(await readAll(location), Array.from(storage.subarray(2, 22)));
  const reader = openTensorReader(location, files);
  const back = new Uint8Array(8);
  await reader.read(40, back);
  await reader.read(0, back); // going back restarts the stream
  assert.deepEqual(Array.from(new Float32Array(back.buffer)), [2, 3]);
  reader.close();
});

test('sub-byte data cannot be strided: UNSUPPORTED_LAYOUT', () => {
  assert.throws(
    () => openTensorReader({ dtype: 'F4', file: storagePath, offset: 0, shape: [4], strides: [2], bytes: 2 }, files),
    (error: unknown) => error instanceof TensorReadError && error.code === 'UNSUPPORTED_LAYOUT',
  );
});

test('a file shorter than its tensor is a READ_ERROR', async () => {
  const reader = openTensorReader({ ...base, shape: [100], bytes: 400 }, files);
  await assert.rejects(async () => reader.read(0, new Uint8Array(400)), (e: unknown) => e instanceof TensorReadError && e.code === 'READ_ERROR');
});

test('layout predicates and storage indices', () => {
  assert.ok(isContiguous([2, 3], [3, 1]));
  assert.ok(isContiguous([1, 3], [99, 1]));
  assert.ok(!isContiguous([3, 2], [1, 3]));
  assert.ok(isPermutation([3, 2], [1, 3]));
  assert.ok(!isPermutation([3], [2]));
  assert.deepEqual(Array.from(storageIndices([2, 3], [1, 2], 1, 4)), [2, 4, 1, 3]);
});
