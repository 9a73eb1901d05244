/** The protobuf wire-format reader: varints at their limits, field walking across window moves, value cursors. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeVarint, ProtoReader, valueCursor, varintToBigInt, writeVarintBytes, type ProtoField } from '../../extension/formats/protobuf';
import { MemoryFiles } from '../fixtures/memorySource';
import { concat, pb, varint } from '../fixtures/onnxWriter';

const source = (bytes: Uint8Array) => new MemoryFiles({ m: bytes }).open('m');

test('varints decode at their limits; bits beyond 64 are dropped; an unfinished varint has length 0', () => {
  const cases: [bigint, number][] = [[0n, 1], [127n, 1], [128n, 2], [2n ** 32n, 5], [2n ** 63n, 10], [2n ** 64n - 1n, 10]];
  for (const [value, length] of cases) {
    const bytes = varint(value);
    const v = decodeVarint(bytes, 0, bytes.length);
    assert.deepEqual([varintToBigInt(v), v.length], [value, length], String(value));
  }
  // Ten bytes whose last carries more than bit 63.
  assert.equal(varintToBigInt(decodeVarint(Uint8Array.of(...new Array(9).fill(0xff), 0x7f), 0, 10)), 2n ** 64n - 1n);
  assert.equal(decodeVarint(Uint8Array.of(0x80, 0x80), 0, 2).length, 0);
  assert.equal(decodeVarint(new Uint8Array(11).fill(0x80), 0, 11).length, 0);
  const out = new Uint8Array(8);
  const minusTwo = varint(-2);
  writeVarintBytes(decodeVarint(minusTwo, 0, minusTwo.length), 4, out, 2);
  assert.deepEqual([...out], [0, 0, 0xfe, 0xff, 0xff, 0xff, 0, 0]);
});

test('fields are walked in order across window moves, a large bytes field located without being read', async () => {
  const big = new Uint8Array(200_000).fill(7);
  const bytes = concat(pb.varint(1, 300), pb.bytes(2, big), pb.fixed32(3, 1.5), pb.fixed64(4, -2), pb.bytes(5, 'end'));
  const files = new MemoryFiles({ m: bytes });
  const reader = new ProtoReader(await files.open('m'));
  const fields: ProtoField[] = [];
  await reader.forEachField(0, bytes.length, 0, (f) => void fields.push(f));
  assert.deepEqual(fields.map((f) => [f.number, f.wire, f.length]), [[1, 0, 2], [2, 2, 200_000], [3, 5, 4], [4, 1, 8], [5, 2, 3]]);
  assert.equal(fields[0]!.value, 300n);
  assert.equal(await reader.text(fields[4]!, 100), 'end');
  assert.ok(files.bytesRead < 3 * 65536, `read ${files.bytesRead} bytes of ${bytes.length}`);
});

test('a value cursor resumes where it stopped, through packed runs and single values alike', async () => {
  const message = concat(pb.varint(7, 1), pb.bytes(9, 'skip'), pb.packedVarints(7, [2, 3, 4]), pb.fixed32(7, 9), pb.varint(7, 5));
  const reader = new ProtoReader(await source(message));
  const cursor = valueCursor(0, message.length, 7, 'varint');
  const seen: bigint[] = [];
  const collect = (bytes: Uint8Array, at: number, length: number): void => void seen.push(varintToBigInt(decodeVarint(bytes, at, at + length)));
  assert.equal(await reader.nextValues(cursor, 2, collect), 2);
  assert.equal(await reader.nextValues(cursor, 2, collect), 2);
  // The fixed32 record of field 7 has the wrong wire type for varints: protobuf treats it as unknown.
  assert.equal(await reader.nextValues(cursor, 10, collect), 1);
  assert.deepEqual(seen, [1n, 2n, 3n, 4n, 5n]);
});
