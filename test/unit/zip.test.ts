import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ZipArchive } from '../../extension/formats/zip';
import { MemoryFiles } from '../fixtures/memorySource';
import { buildZip, type BuiltZip } from '../fixtures/zipWriter';
import { expectCode } from '../fixtures/formatErrors';

const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const payload = text('tensor bytes '.repeat(400));

async function open(bytes: Uint8Array, files = new MemoryFiles({ 'a.zip': bytes })): Promise<ZipArchive> {
  return ZipArchive.open(await files.open('a.zip'));
}

function sample(options: Parameters<typeof buildZip>[1] = {}): BuiltZip {
  return buildZip(
    [
      { name: 'archive/data.pkl', data: text('pickle') },
      { name: 'archive/data/0', data: payload },
      { name: 'archive/data/1', data: payload, deflate: true },
    ],
    options,
  );
}

function patch(bytes: Uint8Array, at: number, write: (view: DataView) => void): Uint8Array {
  const copy = bytes.slice();
  write(new DataView(copy.buffer, at));
  return copy;
}

test('reads stored and deflated entries, 64-byte aligned data, ZIP64 records and extra fields, and a comment', async () => {
  for (const options of [{}, { align: 64 }, { zip64: true }, { zip64: true, align: 64, comment: 'PK\x05\x06 inside a comment' }]) {
    const built = sample(options);
    const archive = await open(built.bytes);
    assert.deepEqual(archive.entries.map((e) => e.name), ['archive/data.pkl', 'archive/data/0', 'archive/data/1']);
    const stored = archive.get('archive/data/0')!;
    const deflated = archive.get('archive/data/1')!;
    assert.equal(await archive.dataOffset(stored), built.entries[1]!.dataOffset);
    if ('align' in options) assert.equal((await archive.dataOffset(stored)) % 64, 0);
    assert.deepEqual(await archive.read(stored, 1 << 20), payload);
    assert.deepEqual(await archive.read(deflated, 1 << 20), payload);
    assert.deepEqual(await archive.readPrefix(deflated, 100), payload.subarray(0, 100));
    assert.deepEqual(await archive.locate(deflated), { dataOffset: built.entries[2]!.dataOffset, deflated: true });
  }
});

test('ZIP_NO_END_RECORD: a truncated archive or a tiny file', async () => {
  const { bytes } = sample();
  await expectCode(() => open(bytes.subarray(0, bytes.length - 10)), 'ZIP_NO_END_RECORD');
  await expectCode(() => open(bytes.subarray(0, 10)), 'ZIP_NO_END_RECORD', /fewer than/);
});

test('ZIP_INVALID_DIRECTORY: directory bounds, entry counts, signatures, duplicates, ZIP64 locator', async () => {
  const built = sample();
  const end = built.endOffset;
  // A directory claimed to be 4 GiB: refused before allocating, having read no more than the 64 KiB tail.
  const huge = new MemoryFiles({ 'a.zip': patch(built.bytes, end + 12, (v) => v.setUint32(0, 0xfffffff0, true)) });
  await expectCode(() => open(new Uint8Array(0), huge), 'ZIP_INVALID_DIRECTORY', /runs past/);
  assert.ok(huge.bytesRead < 1 << 17, `${huge.bytesRead} bytes read`);
  await expectCode(() => open(patch(built.bytes, end + 8, (v) => (v.setUint16(0, 60000, true), v.setUint16(2, 60000, true)))), 'ZIP_INVALID_DIRECTORY', /cannot fit/);
  await expectCode(() => open(patch(built.bytes, built.entries[1]!.directoryOffset, (v) => v.setUint32(0, 0x12345678, true))), 'ZIP_INVALID_DIRECTORY', /signature/);
  const twice = buildZip([{ name: 'x', data: payload }, { name: 'x', data: payload }]);
  await expectCode(() => open(twice.bytes), 'ZIP_INVALID_DIRECTORY', /twice/);
  const zip64 = sample({ zip64: true });
  const locator = zip64.endOffset - 20;
  await expectCode(() => open(patch(zip64.bytes, locator + 8, (v) => v.setBigUint64(0, 1n << 40n, true))), 'ZIP_INVALID_DIRECTORY', /ZIP64 locator/);
  await expectCode(() => open(patch(zip64.bytes, zip64.zip64EndOffset!, (v) => v.setUint32(0, 0, true))), 'ZIP_INVALID_DIRECTORY', /ZIP64 end record/);
  // Saturated 32-bit fields without the ZIP64 extra field that should hold the real values.
  const saturated = patch(built.bytes, built.entries[1]!.directoryOffset + 20, (v) => v.setUint32(0, 0xffffffff, true));
  await expectCode(() => open(saturated), 'ZIP_INVALID_DIRECTORY', /no ZIP64 extra/);
});

test('ZIP_INVALID_ENTRY: sizes that lie, missing local headers, ZIP64 values beyond 2^53, bad deflate data', async () => {
  const built = sample();
  const cd = (i: number) => built.entries[i]!.directoryOffset;
  await expectCode(() => open(patch(built.bytes, cd(1) + 20, (v) => v.setUint32(0, 0x7fffffff, true))), 'ZIP_INVALID_ENTRY', /past the start of the central directory/);
  const noLocal = await open(patch(built.bytes, built.entries[1]!.localOffset, (v) => v.setUint32(0, 0, true)));
  await noLocal.loadDataOffsets(); // one bad header does not stop the batch…
  assert.equal(await noLocal.dataOffset(noLocal.get('archive/data/1')!), built.entries[2]!.dataOffset);
  await expectCode(() => noLocal.dataOffset(noLocal.get('archive/data/0')!), 'ZIP_INVALID_ENTRY', /no local header/); // …it fails on use
  // Declared smaller than what the stream inflates to.
  const small = await open(patch(built.bytes, cd(2) + 24, (v) => v.setUint32(0, 100, true)));
  await expectCode(() => small.read(small.get('archive/data/1')!, 1 << 20), 'ZIP_INVALID_ENTRY', /inflate/);
  // A stored entry whose two sizes disagree.
  const stored = await open(patch(built.bytes, cd(1) + 24, (v) => v.setUint32(0, 10, true)));
  await expectCode(() => stored.read(stored.get('archive/data/0')!, 1 << 20), 'ZIP_INVALID_ENTRY', /declares/);
  // Garbage where deflate data should be.
  const garbage = sample();
  garbage.bytes.fill(0xff, garbage.entries[2]!.dataOffset, garbage.entries[2]!.dataOffset + 20);
  const broken = await open(garbage.bytes);
  await expectCode(() => broken.read(broken.get('archive/data/1')!, 1 << 20), 'ZIP_INVALID_ENTRY');
  const zip64 = sample({ zip64: true });
  await expectCode(() => open(patch(zip64.bytes, zip64.entries[1]!.directoryOffset + 46 + 'archive/data/0'.length + 4, (v) => v.setBigUint64(0, 1n << 60n, true))), 'ZIP_INVALID_ENTRY', /beyond 2\^53/);
});

test('ZIP_UNSUPPORTED: encryption, other compression methods, split archives', async () => {
  const built = sample();
  const encrypted = await open(patch(built.bytes, built.entries[1]!.directoryOffset + 8, (v) => v.setUint16(0, 1, true)));
  await expectCode(() => encrypted.locate(encrypted.get('archive/data/0')!), 'ZIP_UNSUPPORTED', /encrypted/);
  const bzip2 = await open(patch(built.bytes, built.entries[1]!.directoryOffset + 10, (v) => v.setUint16(0, 12, true)));
  await expectCode(() => bzip2.read(bzip2.get('archive/data/0')!, 1 << 20), 'ZIP_UNSUPPORTED', /method 12/);
  await expectCode(() => open(patch(built.bytes, built.endOffset + 4, (v) => v.setUint16(0, 1, true))), 'ZIP_UNSUPPORTED', /multi-disk/);
});

test('ZIP_ENTRY_TOO_LARGE: an entry above the caller\'s cap is not read', async () => {
  const archive = await open(sample().bytes);
  await expectCode(() => archive.read(archive.get('archive/data/0')!, 1000), 'ZIP_ENTRY_TOO_LARGE', /limit of 1000/);
});
