/**
 * ONNX golden numbers: `weightscope stats --json` against the `onnx` Python package (its own protobuf parser,
 * numpy_helper and ml_dtypes — test/golden/onnx_reference.py), on seeded fixtures of every storage form and on every
 * real ONNX model in ../shared/checkpoints. Tensor names, order, dtypes, shapes and error codes must agree exactly;
 * statistics within the contract's tolerances.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { TensorStats } from '../../extension/engine/statsTypes';
import { compareStats } from './compareStats';
import { ReferenceScript, cliJson, missingPython, sharedCheckpoints } from './harness';

const reference = new ReferenceScript('onnx_reference.py');
const noOnnx = missingPython('onnx', 'numpy');

interface TensorDoc {
  name: string;
  dtype: string;
  shape: number[];
  stats: TensorStats | null;
  error: { code: string } | null;
}

function weightscope(file: string, ...flags: string[]): { tensors: TensorDoc[] } {
  return cliJson('stats', file, '--json', ...flags);
}

function referenceStats(file: string): { tensors: TensorDoc[] } {
  return reference.json('stats', file);
}

function compareDocuments(file: string, got: { tensors: TensorDoc[] }, want: { tensors: TensorDoc[] }): string[] {
  assert.deepEqual(got.tensors.map((t) => t.name), want.tensors.map((t) => t.name), `${basename(file)}: tensor names`);
  const problems: string[] = [];
  got.tensors.forEach((g, i) => {
    const w = want.tensors[i]!;
    const where = `${basename(file)}:${g.name}`;
    if (g.dtype !== w.dtype || JSON.stringify(g.shape) !== JSON.stringify(w.shape)) {
      problems.push(`${where}: ${g.dtype} ${JSON.stringify(g.shape)}, want ${w.dtype} ${JSON.stringify(w.shape)}`);
    } else if (w.error) {
      if (g.error?.code !== w.error.code) problems.push(`${where}: expected error ${w.error.code}, got ${JSON.stringify(g.error)}`);
    } else if (!g.stats) problems.push(`${where}: no statistics (${JSON.stringify(g.error)})`);
    else problems.push(...compareStats(where, g.dtype, g.stats, w.stats!));
  });
  return problems;
}

test('generated ONNX models of every storage form match the onnx package, whatever the worker count or chunk size', { skip: noOnnx }, () => {
  const dir = reference.fixtures();
  const models = readdirSync(dir).filter((f) => f.endsWith('.onnx')).sort();
  assert.deepEqual(models, ['constants.onnx', 'external.onnx', 'subgraph.onnx', 'typed.onnx']);
  const problems: string[] = [];
  for (const name of models) {
    const file = join(dir, name);
    const got = weightscope(file);
    // Small chunks make the workers resume varint decoding mid-field many times.
    assert.deepEqual(weightscope(file, '--workers', '1', '--chunk-size', '4096'), got, `${name}: one worker, 4 KiB chunks`);
    problems.push(...compareDocuments(file, got, referenceStats(file)));
  }
  assert.deepEqual(problems, []);
});

test('every ONNX model in ../shared/checkpoints matches the onnx package', { skip: noOnnx }, (t) => {
  if (!sharedCheckpoints) return t.skip('no ../shared/checkpoints folder beside the project');
  const models = readdirSync(sharedCheckpoints).filter((f) => f.endsWith('.onnx')).sort();
  if (models.length === 0) return t.skip('no ONNX model in ../shared/checkpoints');
  const problems: string[] = [];
  for (const name of models) {
    const file = join(sharedCheckpoints, name);
    problems.push(...compareDocuments(file, weightscope(file), referenceStats(file)));
  }
  assert.deepEqual(problems, []);
});
