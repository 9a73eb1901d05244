import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildGguf } from '../fixtures/ggufWriter';
import { buildSafetensors } from '../fixtures/safetensorsWriter';
import { buildTorchZip, PickleBuilder } from '../fixtures/torchWriter';

const cli = join(__dirname, '../../dist/cli.js');
const dir = mkdtempSync(join(tmpdir(), 'weightscope-cli-'));

function weightscope(...args: string[]) {
  const result = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

const good = join(dir, 'good.safetensors');
const goodBytes = buildSafetensors(
  [
    { name: 'model.layers.0.mlp.down_proj.weight', dtype: 'F32', shape: [2, 2], data: new Uint8Array(Float32Array.from([1, 2, 3, 4]).buffer) },
    { name: 'model.layers.0.input_layernorm.weight', dtype: 'F16', shape: [2], data: new Uint8Array([0x00, 0x3c, 0x00, 0xc0]) },
    { name: 'strange', dtype: 'X9', shape: [3], data: new Uint8Array(3) },
  ],
  { format: 'pt' },
);
writeFileSync(good, goodBytes);

test('stats --json prints exactly one document in the documented shape', () => {
  const { status, stdout } = weightscope('stats', good, '--json');
  assert.equal(status, 0);
  const report = JSON.parse(stdout);
  assert.equal(report.format, 'safetensors');
  assert.deepEqual(report.files, [{ path: good, bytes: goodBytes.length }]);
  assert.deepEqual(report.metadata, { format: 'pt' });
  const [down, norm, strange] = report.tensors;
  assert.deepEqual(down.shape, [2, 2]);
  const headerLength = Number(new DataView(goodBytes.buffer).getBigUint64(0, true));
  assert.equal(down.offset, 8 + headerLength);
  assert.equal(down.bytes, 16);
  assert.equal(down.stats.mean, 2.5);
  assert.equal(down.stats.l2, Math.sqrt(30));
  assert.equal(down.error, null);
  assert.equal(norm.stats.min, -2);
  assert.equal(norm.stats.max, 1);
  assert.equal(strange.stats, null);
  assert.equal(strange.error.code, 'UNSUPPORTED_DTYPE');
});

test('--filter keeps matching tensors only', () => {
  const report = JSON.parse(weightscope('stats', good, '--json', '--filter', '*.mlp.*').stdout);
  assert.deepEqual(report.tensors.map((t: { name: string }) => t.name), ['model.layers.0.mlp.down_proj.weight']);
});

test('the table lists every tensor', () => {
  const { status, stdout } = weightscope('stats', good);
  assert.equal(status, 0);
  assert.match(stdout, /model\.layers\.0\.mlp\.down_proj\.weight +F32 +\[2, 2\]/);
  assert.match(stdout, /UNSUPPORTED_DTYPE/);
});

test('bad usage exits 2', () => {
  for (const args of [[], ['frobnicate'], ['stats'], ['stats', good, '--workers', '0'], ['stats', good, '--bogus']]) {
    const { status, stderr } = weightscope(...args);
    assert.equal(status, 2, `weightscope ${args.join(' ')}`);
    assert.match(stderr + weightscope(...args).stdout, /usage/);
  }
});

test('invalid input exits 3 with one line naming the code and the file', () => {
  const truncated = join(dir, 'truncated.safetensors');
  writeFileSync(truncated, goodBytes.subarray(0, goodBytes.length - 1));
  for (const [path, code] of [[truncated, 'INCOMPLETE_BUFFER'], [join(dir, 'missing.safetensors'), 'FILE_NOT_FOUND']] as const) {
    const { status, stdout, stderr } = weightscope('stats', path, '--json');
    assert.equal(status, 3);
    assert.equal(stdout, '');
    assert.equal(stderr.trimEnd().split('\n').length, 1);
    assert.ok(stderr.includes(code) && stderr.includes(path), stderr);
  }
});

/** Any character that ends a line or drives a terminal (C0, DEL, C1, Unicode line and paragraph separators). */
const CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u2028\u2029]/;

test('text from a hostile file reaches stderr with its control characters escaped, one line per message', () => {
  const hostile = 'x\n\r\u001b[31m\u0007\u000b\u2028y';
  // An error message quoting the file: a .npy header whose shape is terminal escape codes.
  const header = `{'descr': '<f4', 'fortran_order': False, 'shape': ${hostile}}`;
  const npy = join(dir, 'escapes.npy');
  writeFileSync(npy, Buffer.concat([Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, header.length, 0]), Buffer.from(header, 'latin1')]));
  // The tensor of an error: two GGUF tensors with the same name.
  const gguf = join(dir, 'escapes.gguf');
  const tensor = { name: hostile, type: 'F32', shape: [1], data: new Uint8Array(4) };
  writeFileSync(gguf, buildGguf([], [tensor, tensor]));
  for (const [path, code] of [[npy, 'NPY_INVALID_HEADER'], [gguf, 'DUPLICATE_TENSOR']] as const) {
    const { status, stderr } = weightscope('stats', path, '--json');
    assert.equal(status, 3);
    assert.ok(stderr.endsWith('\n') && !CONTROL.test(stderr.slice(0, -1)) && !stderr.slice(0, -1).includes('\n'), JSON.stringify(stderr));
    assert.ok(stderr.includes(code) && stderr.includes(path) && stderr.includes('x\\n\\r\\u001b[31m'), stderr);
  }
  // A note: an unsafe global whose name is escape codes (STACK_GLOBAL takes any strings).
  const pickle = new PickleBuilder().proto(4).str('os').str(hostile).op(0x93).op(0x29, 0x52).stop();
  const pt = join(dir, 'escapes.pt');
  writeFileSync(pt, buildTorchZip([], { pickle }).bytes);
  const { status, stderr } = weightscope('stats', pt, '--json');
  assert.equal(status, 0);
  assert.match(stderr, /UNSAFE_GLOBAL/);
  assert.ok(!CONTROL.test(stderr) && stderr.trimEnd().split('\n').length === 1, JSON.stringify(stderr));
});

test('a tensor name with line breaks stays on its row of the table', () => {
  const path = join(dir, 'name-escapes.safetensors');
  writeFileSync(path, buildSafetensors([{ name: 'a\nb\u001b[2J', dtype: 'F32', shape: [1], data: new Uint8Array(4) }]));
  const { status, stdout } = weightscope('stats', path);
  assert.equal(status, 0);
  assert.ok(!CONTROL.test(stdout), JSON.stringify(stdout));
  assert.match(stdout, /^a\\nb\\u001b\[2J +F32/m);
});
