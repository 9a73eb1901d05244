/** The webview's pure tree helpers: grouping by module path, numbered layer runs, filtering and sorting. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildTree, expandedByDefault, nameFilter, sortIds, visibleRows, type GroupNode } from '../../webview/lib/tree';

const names = [
  'model.embed_tokens.weight',
  'model.layers.10.mlp.up_proj.weight',
  'model.layers.10.mlp.down_proj.weight',
  'model.layers.2.mlp.up_proj.weight',
  'model.layers.2.mlp.down_proj.weight',
  'model.norm.weight',
  'lm_head.weight',
  'a',
  'a.b',
];
const tree = buildTree(names.map((name, id) => ({ id, name })));

test('groups by dotted prefix, folds single-child chains, keeps a name that is also a prefix', () => {
  const model = tree.find((n) => n.key === 'model') as GroupNode;
  assert.equal(model.kind, 'group');
  assert.deepEqual(model.children.map((c) => c.label), ['embed_tokens.weight', 'layers', 'norm.weight']);
  assert.ok(tree.some((n) => n.key === 'lm_head.weight' && n.kind === 'tensor'));
  const a = tree.find((n) => n.key === 'a') as GroupNode;
  assert.deepEqual(a.tensorIds.sort(), [7, 8]);
});

test('numbered layers are grouped as a run, in numeric order, and start collapsed', () => {
  const layers = (tree.find((n) => n.key === 'model') as GroupNode).children.find((c) => c.key === 'model.layers') as GroupNode;
  assert.equal(layers.run, '2…10');
  assert.deepEqual(layers.children.map((c) => c.label), ['2.mlp', '10.mlp']);
  assert.equal(expandedByDefault(layers), true);
  assert.equal(expandedByDefault(layers.children[0] as GroupNode), false);
  const rows = visibleRows(tree, expandedByDefault).map((r) => r.key);
  assert.ok(rows.includes('model.layers.2.mlp') && !rows.includes('model.layers.2.mlp.up_proj.weight'));
});

test('filters by substring with * wildcards, case-insensitively', () => {
  const match = nameFilter('LAYERS.*.down');
  assert.deepEqual(names.filter(match), ['model.layers.10.mlp.down_proj.weight', 'model.layers.2.mlp.down_proj.weight']);
  assert.equal(names.filter(nameFilter('')).length, names.length);
});

test('sorting puts values not yet computed last in either direction', () => {
  const keys: Record<number, number | null> = { 0: 3, 1: null, 2: 1, 3: 2 };
  assert.deepEqual(sortIds([0, 1, 2, 3], (id) => keys[id]!, 'asc'), [2, 3, 0, 1]);
  assert.deepEqual(sortIds([0, 1, 2, 3], (id) => keys[id]!, 'desc'), [0, 3, 2, 1]);
});

test('slashed names (ONNX) group like dotted ones; names differing only in separators both stay', () => {
  const onnx = buildTree(['/encoder/conv1/Constant_output_0', '/encoder/conv2/Constant_output_0', 'x/y', 'x.y'].map((name, id) => ({ id, name })));
  const encoder = onnx.find((n) => n.key === 'encoder') as GroupNode;
  assert.deepEqual(encoder.children.map((c) => c.label), ['conv1.Constant_output_0', 'conv2.Constant_output_0']);
  const x = onnx.find((n) => n.key === 'x.y') as GroupNode;
  assert.deepEqual(x.tensorIds.sort(), [2, 3]);
});
