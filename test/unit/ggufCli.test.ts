/** The CLI on generated GGUF files: `stats --json` in the contract's shape and `blocks` with its usage errors. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildGguf, gguf } from '../fixtures/ggufWriter';

const cli = join(__dirname, '../../dist/cli.js');
const dir = mkdtempSync(join(tmpdir(), 'weightscope-gguf-cli-'));

function weightscope(...args: string[]) {
  const result = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** One Q8_0 block: d = 0.5 and codes −64, −63, …, 63 (every fourth written), so values are −32 … 31.5. */
function q8Block(): Uint8Array {
  const b = new Uint8Array(34);
  b.set([0x00, 0x38]);
  for (let i = 0; i < 32; i++) b[2 + i] = (i * 4 - 64) & 0xff;
  return b;
}

const file = join(dir, 'model.gguf');
const bytes = buildGguf([['general.architecture', gguf.str('llama')], ['llama.attention.head_count', gguf.u32(2)]], [
  { name: 'token_embd.weight', type: 'F32', shape: [2, 3], data: new Uint8Array(Float32Array.from([1, 2, 3, 4, 5, 6]).buffer) },
  { name: 'blk.0.attn_q.weight', type: 'Q8_0', shape: [2, 32], data: new Uint8Array([...q8Block(), ...q8Block()]) },
  { name: 'blk.0.odd', type: 9, shape: [32], data: new Uint8Array(36) },
]);
writeFileSync(file, bytes);

test('stats --json of a GGUF file: format, GGUF dtype names, logical shapes, absolute offsets, stats of dequantized values', () => {
  const { status, stdout } = weightscope('stats', file, '--json');
  assert.equal(status, 0);
  const report = JSON.parse(stdout);
  assert.equal(report.format, 'gguf');
  assert.deepEqual(report.files, [{ path: file, bytes: bytes.length }]);
  assert.deepEqual(report.metadata, { 'general.architecture': 'llama', 'llama.attention.head_count': '2' });
  const [embd, q, odd] = report.tensors;
  assert.deepEqual([embd.dtype, embd.shape, embd.bytes], ['F32', [2, 3], 24]);
  assert.deepEqual([q.dtype, q.shape, q.bytes], ['Q8_0', [2, 32], 68]);
  assert.equal(q.offset, embd.offset + 32);
  assert.deepEqual(Array.from(bytes.subarray(q.offset, q.offset + 2)), [0x00, 0x38]);
  assert.equal(q.stats.count, 64);
  assert.equal(q.stats.min, -32);
  assert.equal(q.stats.max, 30);
  assert.equal(q.stats.mean, -1);
  assert.equal(embd.stats.mean, 3.5);
  assert.equal(odd.dtype, 'Q8_1');
  assert.equal(odd.stats, null);
  assert.equal(odd.error.code, 'UNSUPPORTED_DTYPE');
});

test('blocks --json lists the quantized tensors with their diagnostics; unsupported ones get an error', () => {
  const { status, stdout } = weightscope('blocks', file, '--json', '--grid', '4');
  assert.equal(status, 0);
  const report = JSON.parse(stdout);
  assert.deepEqual(report.tensors.map((t: { name: string }) => t.name), ['blk.0.attn_q.weight', 'blk.0.odd']);
  const [q, odd] = report.tensors;
  assert.deepEqual([q.analysis.blocks, q.analysis.rows, q.analysis.blocksPerRow, q.analysis.blockElements, q.analysis.blockBytes], [2, 2, 1, 32, 34]);
  assert.equal(q.analysis.scales.d.stats.min, 0.5);
  assert.equal(q.analysis.scales.dmin, null);
  assert.deepEqual(q.analysis.saturation, { lowestCode: -127, highestCode: 127, blocks: 0, blockFraction: 0, elements: 0, elementFraction: 0 });
  assert.deepEqual(q.analysis.grid.cells, [[0.5], [0.5]]);
  assert.equal(q.error, null);
  assert.equal(odd.analysis, null);
  assert.equal(odd.error.code, 'UNSUPPORTED_DTYPE');
});

test('blocks: a readable table, and usage errors for unknown or unquantized tensors and bad grids', () => {
  const table = weightscope('blocks', file);
  assert.equal(table.status, 0);
  assert.match(table.stdout, /blk\.0\.attn_q\.weight +Q8_0/);
  assert.equal(weightscope('blocks', file, '--tensor', 'nope').status, 2);
  const plain = weightscope('blocks', file, '--tensor', 'token_embd.weight');
  assert.equal(plain.status, 2);
  assert.match(plain.stderr, /not a block-quantized type/);
  assert.equal(weightscope('blocks', file, '--grid', '0').status, 2);
  const one = JSON.parse(weightscope('blocks', file, '--json', '--tensor', 'blk.0.attn_q.weight').stdout);
  assert.equal(one.tensors.length, 1);
});

test('a malformed GGUF file exits 3 with its code on stderr', () => {
  const bad = join(dir, 'bad.gguf');
  writeFileSync(bad, bytes.subarray(0, 150));
  for (const command of ['stats', 'blocks']) {
    const { status, stderr } = weightscope(command, bad);
    assert.equal(status, 3);
    assert.match(stderr, /TRUNCATED_HEADER: .*bad\.gguf/);
  }
});
