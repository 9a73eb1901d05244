import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ScanEngine, type TensorOutcome } from '../../extension/engine/scanEngine';
import { openCheckpoint } from '../../extension/formats/openCheckpoint';
import { nodeSourceOpener } from '../../extension/source/nodeFileSource';
import { buildSafetensors } from '../fixtures/safetensorsWriter';

const distDir = join(__dirname, '../../dist');
const dir = mkdtempSync(join(tmpdir(), 'weightscope-engine-'));

function bf16Bytes(count: number, seed: number): Uint8Array {
  const out = new Uint8Array(count * 2);
  let s = seed;
  for (let i = 0; i < count; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    // exponents around 2^-6 with random mantissas and signs
    const bits = ((s >>> 31) << 15) | ((120 + ((s >>> 24) & 7)) << 7) | ((s >>> 8) & 0x7f);
    out[2 * i] = bits & 0xff;
    out[2 * i + 1] = bits >>> 8;
  }
  return out;
}

const mixedPath = join(dir, 'mixed.safetensors');
writeFileSync(
  mixedPath,
  buildSafetensors([
    { name: 'big', dtype: 'BF16', shape: [300, 1000], data: bf16Bytes(300_000, 1) },
    { name: 'small', dtype: 'F32', shape: [3], data: new Uint8Array(Float32Array.from([1, -2, 3.5]).buffer) },
    { name: 'ids', dtype: 'I64', shape: [4], data: new Uint8Array(BigInt64Array.from([5n, -7n, 1n << 40n, 0n]).buffer) },
    { name: 'complex', dtype: 'C64', shape: [1], data: new Uint8Array(8) },
    { name: 'empty', dtype: 'F16', shape: [0, 5], data: new Uint8Array(0) },
  ]),
);

async function scanAll(path: string, workers: number, chunkBytes: number): Promise<Map<string, TensorOutcome>> {
  const checkpoint = await openCheckpoint(path, nodeSourceOpener);
  const engine = new ScanEngine({ distDir, workers, chunkBytes });
  const byName = new Map<string, TensorOutcome>();
  try {
    const end = await engine.scan(checkpoint.tensors, { onTensor: (o) => byName.set(checkpoint.tensors[o.index]!.name, o) });
    assert.equal(end, 'done');
  } finally {
    engine.dispose();
  }
  return byName;
}

test('every tensor gets an outcome; undecodable dtypes become per-tensor problems', async () => {
  const outcomes = await scanAll(mixedPath, 2, 1 << 20);
  assert.deepEqual([...outcomes.keys()].sort(), ['big', 'complex', 'empty', 'ids', 'small']);
  assert.equal(outcomes.get('complex')!.problem!.code, 'UNSUPPORTED_DTYPE');
  const small = outcomes.get('small')!.analysis!.stats;
  assert.equal(small.count, 3);
  assert.equal(small.min, -2);
  assert.equal(small.max, 3.5);
  assert.equal(small.quantiles['0.5'], 1);
  const ids = outcomes.get('ids')!.analysis!.stats;
  assert.equal(ids.max, 2 ** 40);
  assert.equal(ids.quantiles['0.25'], -7);
  const empty = outcomes.get('empty')!.analysis!.stats;
  assert.equal(empty.count, 0);
  assert.equal(empty.mean, null);
});

test('results do not depend on worker count or chunk size', async () => {
  const reference = await scanAll(mixedPath, 1, 1 << 20);
  for (const [workers, chunk] of [[2, 4096], [3, 6000], [1, 16 << 20]] as const) {
    const other = await scanAll(mixedPath, workers, chunk);
    for (const [name, outcome] of reference) {
      assert.deepEqual(other.get(name)!.analysis?.stats, outcome.analysis?.stats, `${name} with ${workers} workers, chunk ${chunk}`);
    }
  }
});

test('a scan can be cancelled between chunks and the engine stays usable', async () => {
  const path = join(dir, 'large.safetensors');
  writeFileSync(path, buildSafetensors([
    { name: 'a', dtype: 'BF16', shape: [8 << 20], data: bf16Bytes(8 << 20, 2) },
    { name: 'b', dtype: 'BF16', shape: [8 << 20], data: bf16Bytes(8 << 20, 3) },
  ]));
  const checkpoint = await openCheckpoint(path, nodeSourceOpener);
  const engine = new ScanEngine({ distDir, workers: 1, chunkBytes: 4096 });
  try {
    const abort = new AbortController();
    const seen: number[] = [];
    const end = await engine.scan(checkpoint.tensors, {
      onTensor: (o) => seen.push(o.index),
      onProgress: () => abort.abort(),
    }, abort.signal);
    assert.equal(end, 'cancelled');
    assert.ok(seen.length < 2, 'the cancelled scan did not finish every tensor');
    const again: number[] = [];
    assert.equal(await engine.scan(checkpoint.tensors, { onTensor: (o) => again.push(o.index) }), 'done');
    assert.deepEqual(again.sort(), [0, 1]);
  } finally {
    engine.dispose();
  }
});
