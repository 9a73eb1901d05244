import { test } from 'node:test';
import assert from 'node:assert/strict';
import { globToRegExp, integerFlag, parseArgs, UsageError } from '../../extension/cli/args';

const SPEC = { json: {}, workers: { value: true }, scheme: { value: true, repeat: true } } as const;

test('parses positionals, switches and valued flags in both spellings', () => {
  const args = parseArgs(['a.safetensors', '--json', '--workers', '2', '--scheme=q8_0', '--scheme', 'q4_0'], SPEC);
  assert.deepEqual(args.positionals, ['a.safetensors']);
  assert.deepEqual(args.flags.get('json'), ['true']);
  assert.deepEqual(args.flags.get('workers'), ['2']);
  assert.deepEqual(args.flags.get('scheme'), ['q8_0', 'q4_0']);
});

test('rejects unknown options, missing values, repeats and values on switches', () => {
  assert.throws(() => parseArgs(['--nope'], SPEC), UsageError);
  assert.throws(() => parseArgs(['-x'], SPEC), UsageError);
  assert.throws(() => parseArgs(['--workers'], SPEC), UsageError);
  assert.throws(() => parseArgs(['--workers', '1', '--workers', '2'], SPEC), UsageError);
  assert.throws(() => parseArgs(['--json=yes'], SPEC), UsageError);
});

test('integer flags are range-checked', () => {
  assert.equal(integerFlag(parseArgs(['--workers', '4'], SPEC), 'workers', 1, 64), 4);
  for (const bad of ['0', '65', '1.5', '-1', 'two']) {
    assert.throws(() => integerFlag(parseArgs([`--workers=${bad}`], SPEC), 'workers', 1, 64), UsageError);
  }
});

test('globs match whole tensor names, dots literal, * across dots', () => {
  const glob = globToRegExp('model.layers.*.mlp.*');
  assert.ok(glob.test('model.layers.3.mlp.down_proj.weight'));
  assert.ok(!glob.test('model.layers.3.self_attn.q_proj.weight'));
  assert.ok(!globToRegExp('a.b').test('axb'));
  assert.ok(globToRegExp('layer?').test('layer7'));
  assert.ok(globToRegExp('[ab]*').test('beta'));
  assert.ok(!globToRegExp('[!ab]*').test('beta'));
  assert.ok(globToRegExp('x(1)+').test('x(1)+'));
});
