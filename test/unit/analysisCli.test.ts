/** `tile`, `outliers` and `quant` on the command line: exact JSON shapes, exports, and every malformed argument. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildSafetensors } from '../fixtures/safetensorsWriter';

const cli = join(__dirname, '../../dist/cli.js');
const dir = mkdtempSync(join(tmpdir(), 'weightscope-analysis-cli-'));

function weightscope(...args: string[]) {
  const result = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

const f32 = (values: number[]): Uint8Array => new Uint8Array(Float32Array.from(values).buffer);
// A 16 × 64 down projection with one extreme scalar, a norm, a 3-D tensor, a scalar, an integer tensor. (A z-score
// cannot exceed sqrt(n − 1): the super-weight rule needs a thousand-odd elements.)
const down = Array.from({ length: 1024 }, (_, i) => Math.sin(i * 0.37) * 0.02);
down[2 * 64 + 9] = -7;
const file = join(dir, 'model.safetensors');
writeFileSync(file, buildSafetensors([
  { name: 'model.layers.0.mlp.down_proj.weight', dtype: 'F32', shape: [16, 64], data: f32(down) },
  { name: 'model.norm.weight', dtype: 'F32', shape: [64], data: f32(Array.from({ length: 64 }, (_, i) => (i === 7 ? 9 : 1))) },
  { name: 'conv.weight', dtype: 'F32', shape: [2, 3, 5], data: f32(Array.from({ length: 30 }, (_, i) => i - 15)) },
  { name: 'scale', dtype: 'F32', shape: [], data: f32([0.5]) },
  { name: 'steps', dtype: 'I64', shape: [2], data: new Uint8Array(16) },
]));

test('tile --json has exactly the documented keys, and defaults to every row and column', () => {
  const { status, stdout } = weightscope('tile', file, '--tensor', 'conv.weight', '--size', '2x3', '--reduce', 'max', '--json');
  assert.equal(status, 0);
  const doc = JSON.parse(stdout);
  assert.deepEqual(Object.keys(doc), ['tensor', 'rows', 'cols', 'size', 'reduce', 'values']);
  // conv.weight [2, 3, 5] is the matrix [2, 15]; columns 0–4, 5–9, 10–14.
  assert.deepEqual(doc, { tensor: 'conv.weight', rows: [0, 2], cols: [0, 15], size: [2, 3], reduce: 'max', values: [[-11, -6, -1], [4, 9, 14]] });
});

test('tile cells follow floor(i·(B−A)/H); empty cells and absent finite values are null; absmax is non-negative', () => {
  const doc = JSON.parse(weightscope('tile', file, '--tensor', 'model.norm.weight', '--cols', '6:9', '--size', '2x4', '--reduce', 'absmax', '--json').stdout);
  // One source row into two output rows: output row 0 is empty. Three columns into four: column 0 is empty.
  assert.deepEqual(doc.values, [[null, null, null, null], [null, 1, 9, 1]]);
  const scalar = JSON.parse(weightscope('tile', file, '--tensor', 'scale', '--size', '1x1', '--reduce', 'mean', '--json').stdout);
  assert.deepEqual(scalar.values, [[0.5]]);
  const open = JSON.parse(weightscope('tile', file, '--tensor', 'conv.weight', '--rows', '1:', '--cols', ':5', '--size', '1x1', '--reduce', 'min', '--json').stdout);
  assert.deepEqual([open.rows, open.cols, open.values], [[1, 2], [0, 5], [[0]]]);
});

test('outliers --json lists matrices only, with the documented keys, sorted lists and the super-weight candidate', () => {
  const { status, stdout } = weightscope('outliers', file, '--top', '3', '--json');
  assert.equal(status, 0);
  const doc = JSON.parse(stdout);
  assert.deepEqual(Object.keys(doc), ['tensors', 'super_weight_candidates']);
  assert.deepEqual(doc.tensors.map((t: { name: string }) => t.name), ['model.layers.0.mlp.down_proj.weight', 'conv.weight']);
  const t = doc.tensors[0];
  assert.deepEqual(Object.keys(t), ['name', 'shape', 'row_outlier_ratio', 'col_outlier_ratio', 'top_rows', 'top_cols', 'top_scalars']);
  assert.deepEqual(Object.keys(t.top_rows[0]), ['index', 'absmax', 'rms']);
  assert.deepEqual(Object.keys(t.top_scalars[0]), ['row', 'col', 'value', 'z']);
  assert.equal(t.top_rows.length, 3);
  assert.deepEqual([t.top_scalars[0].row, t.top_scalars[0].col, t.top_scalars[0].value], [2, 9, -7]);
  for (const list of [t.top_rows, t.top_cols]) {
    for (let i = 1; i < list.length; i++) assert.ok(list[i - 1].absmax >= list[i].absmax);
  }
  assert.deepEqual(doc.super_weight_candidates, [{ tensor: 'model.layers.0.mlp.down_proj.weight', row: 2, col: 9, value: -7 }]);
  // conv.weight: 2 rows of 15; ratios are plain numbers.
  assert.equal(typeof doc.tensors[1].row_outlier_ratio, 'number');
});

test('quant --json has one entry per (tensor, scheme) in checkpoint then scheme order, with the documented keys', () => {
  const { status, stdout } = weightscope('quant', file, '--scheme', 'q8_0', '--scheme', 'int8-sym-row', '--json');
  assert.equal(status, 0);
  const doc = JSON.parse(stdout);
  assert.deepEqual(Object.keys(doc), ['tensors']);
  assert.deepEqual(doc.tensors.map((t: { name: string; scheme: string }) => `${t.name} ${t.scheme}`), [
    'model.layers.0.mlp.down_proj.weight q8_0', 'model.layers.0.mlp.down_proj.weight int8-sym-row',
    'model.norm.weight q8_0', 'model.norm.weight int8-sym-row',
    'conv.weight int8-sym-row', // last axis 5: no Q8_0
    'scale int8-sym-row', // 0-D: one element, no whole Q8_0 block
  ]);
  assert.deepEqual(Object.keys(doc.tensors[0]), ['name', 'scheme', 'mse', 'sqnr_db', 'max_abs_err']);
  // A 0-D tensor is exact under a per-row scale: SQNR undefined (null), errors 0.
  assert.deepEqual(doc.tensors[5], { name: 'scale', scheme: 'int8-sym-row', mse: 0, sqnr_db: null, max_abs_err: 0 });
});

test('quant --keep-outliers adds the kept fractions after the documented keys', () => {
  const doc = JSON.parse(weightscope('quant', file, '--scheme', 'int4-sym-g32', '--keep-outliers', '--json').stdout);
  const t = doc.tensors[0];
  assert.deepEqual(Object.keys(t), ['name', 'scheme', 'mse', 'sqnr_db', 'max_abs_err', 'kept']);
  assert.deepEqual(t.kept.map((k: { fraction: number }) => k.fraction), [0.001, 0.01]);
  assert.ok(t.kept[0].mse < t.mse, 'keeping the extreme scalar lowers the error');
});

test('quant exports an llm-compressor ignore list and llama-quantize overrides', () => {
  const ignore = join(dir, 'ignore.yaml');
  const ignoreJson = join(dir, 'ignore.json');
  const overrides = join(dir, 'overrides.txt');
  const { status } = weightscope('quant', file, '--scheme', 'int4-sym-g32', '--keep-below', '100', '--export-ignore', ignore, '--export-llama-quantize', overrides);
  assert.equal(status, 0);
  assert.match(readFileSync(ignore, 'utf8'), /^ignore:\n {2}- "model\.layers\.0\.mlp\.down_proj"\n {2}- "conv"\n$/m);
  // Llama-family HF names are written as their GGUF names; others as they are.
  assert.match(readFileSync(overrides, 'utf8'), /^--tensor-type '\^blk\\\.0\\\.ffn_down\\\.weight\$=q8_0'$/m);
  assert.match(readFileSync(overrides, 'utf8'), /^--tensor-type '\^conv\\\.weight\$=q8_0'$/m);
  weightscope('quant', file, '--scheme', 'int4-sym-g32', '--keep-below', '100', '--export-ignore', ignoreJson);
  assert.deepEqual(JSON.parse(readFileSync(ignoreJson, 'utf8')), { ignore: ['model.layers.0.mlp.down_proj', 'conv'] });
});

test('quant exports never overwrite the checkpoint, refuse folders, and create missing folders', () => {
  const before = readFileSync(file);
  for (const flag of ['--export-ignore', '--export-llama-quantize']) {
    const onInput = weightscope('quant', file, '--scheme', 'int4-sym-g32', flag, file);
    assert.equal(onInput.status, 2, onInput.stderr);
    assert.match(onInput.stderr, /is an input/);
    assert.equal(weightscope('quant', file, '--scheme', 'int4-sym-g32', flag, dir).status, 2, 'a folder is refused');
  }
  assert.ok(readFileSync(file).equals(before), 'the checkpoint is untouched');
  const index = join(dir, 'model.safetensors.index.json');
  const text = JSON.stringify({ metadata: {}, weight_map: { 'model.norm.weight': 'model.safetensors' } });
  writeFileSync(index, text);
  assert.equal(weightscope('quant', index, '--scheme', 'int4-sym-g32', '--export-ignore', index).status, 2);
  assert.equal(readFileSync(index, 'utf8'), text, 'the index is untouched');
  const same = join(dir, 'keep.txt');
  assert.equal(weightscope('quant', file, '--scheme', 'int4-sym-g32', '--export-ignore', same, '--export-llama-quantize', same).status, 2);
  const nested = join(dir, 'new', 'folder', 'ignore.yaml');
  const { status, stderr } = weightscope('quant', file, '--scheme', 'int4-sym-g32', '--keep-below', '100', '--export-ignore', nested);
  assert.equal(status, 0, stderr);
  assert.match(readFileSync(nested, 'utf8'), /^ignore:$/m);
  assert.deepEqual(readdirSync(join(dir, 'new', 'folder')), ['ignore.yaml'], 'no temporary file left behind');
});

test('malformed arguments are usage errors (exit 2) with one clear first line', () => {
  const cases: [string[], RegExp][] = [
    [['tile', file, '--tensor', 'nope', '--size', '1x1', '--reduce', 'mean'], /no tensor named "nope"/],
    [['tile', file, '--tensor', 'conv.weight', '--size', '0x3', '--reduce', 'mean'], /at least 1/],
    [['tile', file, '--tensor', 'conv.weight', '--size', '3', '--reduce', 'mean'], /HxW/],
    [['tile', file, '--tensor', 'conv.weight', '--size', '1.5x3', '--reduce', 'mean'], /HxW/],
    [['tile', file, '--tensor', 'conv.weight', '--rows', '0:3', '--size', '1x1', '--reduce', 'mean'], /rows 0:3/],
    [['tile', file, '--tensor', 'conv.weight', '--rows', '1:1', '--size', '1x1', '--reduce', 'mean'], /rows 1:1/],
    [['tile', file, '--tensor', 'conv.weight', '--cols', '5:2', '--size', '1x1', '--reduce', 'mean'], /columns 5:2/],
    [['tile', file, '--tensor', 'conv.weight', '--cols', '-1:2', '--size', '1x1', '--reduce', 'mean'], /A:B/],
    [['tile', file, '--tensor', 'conv.weight', '--cols', '0.5:2', '--size', '1x1', '--reduce', 'mean'], /A:B/],
    [['tile', file, '--tensor', 'conv.weight', '--size', '1x1', '--reduce', 'median'], /reducer/],
    [['tile', file, '--tensor', 'conv.weight', '--size', '1x1'], /--reduce/],
    [['tile', file, '--size', '1x1', '--reduce', 'mean'], /--tensor/],
    [['tile', file, '--tensor', 'conv.weight', '--reduce', 'mean'], /--size/],
    [['tile', file, '--tensor', 'conv.weight', '--size', '5000x5000', '--reduce', 'mean'], /at most/],
    [['outliers', file, '--top', '0'], /--top/],
    [['outliers', file, '--top', 'ten'], /--top/],
    [['outliers'], /PATH/],
    [['quant', file], /--scheme/],
    [['quant', file, '--scheme', 'int5'], /unknown scheme "int5"/],
    [['quant', file, '--scheme', 'q8_0', '--keep-below', 'lots'], /--keep-below/],
  ];
  for (const [args, message] of cases) {
    const { status, stderr, stdout } = weightscope(...args);
    assert.equal(status, 2, `weightscope ${args.join(' ')}: ${stderr}`);
    assert.equal(stdout, '');
    assert.match(stderr.split('\n')[0]!, message, args.join(' '));
  }
});

test('a tensor the engine cannot read is an input error naming the code and the file', () => {
  const odd = join(dir, 'odd.safetensors');
  writeFileSync(odd, buildSafetensors([{ name: 'm', dtype: 'X9', shape: [2], data: new Uint8Array(2) }]));
  const { status, stderr } = weightscope('tile', odd, '--tensor', 'm', '--size', '1x1', '--reduce', 'mean');
  assert.equal(status, 3);
  assert.match(stderr, /UNSUPPORTED_DTYPE/);
  assert.ok(stderr.includes(odd));
});

test('tensors left out are named on stderr with the code of why: no elements, a reader problem', () => {
  const mixed = join(dir, 'mixed.safetensors');
  writeFileSync(mixed, buildSafetensors([
    { name: 'w', dtype: 'F32', shape: [2, 2], data: f32([1, 2, 3, 4]) },
    { name: 'empty', dtype: 'F32', shape: [0, 4], data: new Uint8Array(0) },
  ]));
  for (const command of ['outliers', 'quant']) {
    const { status, stderr } = weightscope(command, mixed, ...(command === 'quant' ? ['--scheme', 'int8-sym-row'] : []), '--json');
    assert.equal(status, 0);
    assert.equal(stderr, 'weightscope: skipped empty: EMPTY_TENSOR: the tensor has no elements\n', command);
  }
});
