import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { outputConflict } from '../../extension/engine/outputFile';
import { fnv1a64 } from '../../extension/engine/tasks/merge';
import { openCheckpoint } from '../../extension/formats/openCheckpoint';
import { planSafetensors } from '../../extension/formats/safetensorsLayout';
import { mergekitYaml, MergekitUnsupported } from '../../extension/merge/mergekitYaml';
import { ParamError, resolveParams } from '../../extension/merge/methods';
import { nodeSourceOpener } from '../../extension/source/nodeFileSource';

test('merge parameters: defaults, echo order, ranges, aliases and foreign flags', () => {
  assert.deepEqual(resolveParams('ties', {}, 2), { density: 0.2, lambda: 1 });
  assert.deepEqual(Object.keys(resolveParams('dare', {}, 2)), ['lambda', 'drop', 'seed']);
  assert.deepEqual(resolveParams('dare', { density: 0.3 }, 2), { lambda: 1, drop: 0.7, seed: 0 });
  assert.deepEqual(resolveParams('breadcrumbs', { density: 0.8, beta: 0.05 }, 2), { beta: 0.05, gamma: 1 - 0.8 - 0.05, lambda: 1 });
  assert.deepEqual(resolveParams('consensus', {}, 3), { lambda: 0.4, k: 2 });
  assert.deepEqual(resolveParams('tall', { lambda: 0.6 }, 3), { lambda: 0.6 });
  assert.deepEqual(resolveParams('task-arithmetic', { lambda: -0.5 }, 1), { lambda: -0.5 });
  for (const [method, given] of [['ties', { density: 1.5 }], ['dare', { drop: 1 }], ['dare', { seed: 1.5 }], ['consensus', { k: 4 }],
    ['task-arithmetic', { density: 0.5 }], ['breadcrumbs', { beta: 0.6, gamma: 0.6 }], ['dare', { drop: 0.5, density: 0.5 }]] as const) {
    assert.throws(() => resolveParams(method, given, 3), ParamError, `${method} ${JSON.stringify(given)}`);
  }
});

test('mergekit YAML for each method follows mergekit\'s schema', () => {
  const common = { base: 'org/base', models: ['a/ft1', 'b "quoted"'], dtype: 'BF16' };
  const ties = mergekitYaml({ ...common, method: 'ties', params: { density: 0.2, lambda: 1 } });
  assert.match(ties, /^merge_method: ties$/m);
  assert.match(ties, /^base_model: "org\/base"$/m);
  assert.match(ties, /^ {2}- model: "b \\"quoted\\""$/m);
  assert.match(ties, /^ {6}density: 0\.2\n {6}weight: 1\.0$/m);
  assert.match(ties, /^parameters:\n {2}lambda: 1\.0\n {2}normalize: true$/m);
  assert.match(ties, /^dtype: bfloat16$/m);
  const dare = mergekitYaml({ ...common, method: 'dare', params: { lambda: 1, drop: 0.9, seed: 3 } });
  assert.match(dare, /^merge_method: dare_linear$/m);
  assert.match(dare, /density: 0\.09999/);
  assert.match(dare, /rescale: true/);
  const bread = mergekitYaml({ ...common, method: 'breadcrumbs', params: { beta: 0.01, gamma: 0.09, lambda: 1 } });
  assert.match(bread, /density: 0\.9\n {6}gamma: 0\.01/);
  assert.match(mergekitYaml({ ...common, method: 'task-arithmetic', params: { lambda: 0.5 } }), /merge_method: task_arithmetic\n[\s\S]*lambda: 0\.5\n {2}normalize: false/);
  assert.match(mergekitYaml({ ...common, method: 'tall', params: { lambda: 0.4 } }), /^# TALL masks/m);
  assert.throws(() => mergekitYaml({ ...common, method: 'consensus', params: { lambda: 0.4, k: 2 } }), MergekitUnsupported);
});

test('the safetensors layout: header padded to 8 bytes, offsets after it, readable by our reader', async () => {
  const plan = planSafetensors(
    [{ name: 'a', dtype: 'F32', shape: [2, 3], bytes: 24 }, { name: 'b', dtype: 'F4', shape: [4], bytes: 2 }, { name: 'é', dtype: 'U8', shape: [], bytes: 1 }],
    { made: 'by test' },
  );
  const headerLength = Number(new DataView(plan.header.buffer).getBigUint64(0, true));
  assert.equal(headerLength % 8, 0);
  assert.equal(plan.header.length, 8 + headerLength);
  assert.deepEqual(plan.offsets, [plan.header.length, plan.header.length + 24, plan.header.length + 26]);
  assert.equal(plan.totalBytes, plan.header.length + 27);
  const file = join(mkdtempSync(join(tmpdir(), 'weightscope-layout-')), 'x.safetensors');
  const bytes = new Uint8Array(plan.totalBytes);
  bytes.set(plan.header);
  writeFileSync(file, bytes);
  const checkpoint = await openCheckpoint(file, nodeSourceOpener);
  assert.deepEqual(checkpoint.metadata, { made: 'by test' });
  assert.deepEqual(checkpoint.tensors.map((t) => [t.name, t.offset, t.bytes]), [['a', plan.offsets[0], 24], ['b', plan.offsets[1], 2], ['é', plan.offsets[2], 1]]);
  assert.throws(() => planSafetensors([{ name: '__metadata__', dtype: 'F32', shape: [1], bytes: 4 }], {}));
  assert.throws(() => planSafetensors([{ name: 'x', dtype: 'X9', shape: [1], bytes: 4 }], {}));
});

test('safetensors layout: the header keeps the given order and any name, integer-like or "__proto__"', async () => {
  const names = ['b', '10', '2', '__proto__', 'constructor'];
  const plan = planSafetensors(names.map((name) => ({ name, dtype: 'F32', shape: [1], bytes: 4 })), { made: 'by test' });
  const headerLength = Number(new DataView(plan.header.buffer).getBigUint64(0, true));
  const text = new TextDecoder().decode(plan.header.subarray(8, 8 + headerLength));
  assert.deepEqual([...text.matchAll(/"([^"]+)":\{"dtype"/g)].map((m) => m[1]), names, 'header keys in the given order');
  const file = join(mkdtempSync(join(tmpdir(), 'weightscope-layout-')), 'names.safetensors');
  const bytes = new Uint8Array(plan.totalBytes);
  bytes.set(plan.header);
  writeFileSync(file, bytes);
  const checkpoint = await openCheckpoint(file, nodeSourceOpener);
  assert.deepEqual(checkpoint.tensors.map((t) => [t.name, t.offset]), names.map((name, i) => [name, plan.offsets[i]]));
  assert.throws(() => planSafetensors([{ name: '__proto__', dtype: 'F32', shape: [1], bytes: 4 }, { name: '__proto__', dtype: 'F32', shape: [1], bytes: 4 }], {}));
});

test('outputs never overwrite an input, even through a link, and never each other', () => {
  const dir = mkdtempSync(join(tmpdir(), 'weightscope-out-'));
  const input = join(dir, 'base.safetensors');
  writeFileSync(input, 'x');
  symlinkSync(input, join(dir, 'link.safetensors'));
  assert.match(outputConflict([{ flag: '--out', path: input }], [input])!, /--out .* is an input/);
  assert.match(outputConflict([{ flag: '--out', path: join(dir, 'link.safetensors') }], [input])!, /is an input/);
  assert.match(outputConflict([{ flag: '--out', path: join(dir, 'm') }, { flag: '--masks', path: join(dir, '.', 'm') }], [input])!, /same file/);
  assert.equal(outputConflict([{ flag: '--out', path: join(dir, 'new.safetensors') }], [input]), undefined);
});

test('FNV-1a 64 of tensor names (the DARE stream key)', () => {
  assert.equal(fnv1a64(''), 0xcbf29ce484222325n);
  assert.equal(fnv1a64('a'), 0xaf63dc4c8601ec8cn);
});
