/**
 * ONNX golden numbers: `weightscope stats --json` against the `onnx` Python package (its own protobuf parser,
 * numpy_helper and ml_dtypes — test/golden/onnx_reference.py), on seeded fixtures of every storage form and on every
 * real ONNX model in ../shared/checkpoints. Tensor names, order, dtypes, shapes and error codes must agree exactly;
 * statistics within the contract's tolerances.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { compareDocuments, type TensorDoc } from './compareStats';
import { ReferenceScript, cliJson, missingPython, sharedCheckpoints } from './harness';

const reference = new ReferenceScript('onnx_reference.py');
const noOnnx = missingPython('onnx', 'numpy');

function weightscope(file: string, ...flags: string[]): { tensors: TensorDoc[] } {
  return cliJson('stats', file, '--json', ...flags);
}

function referenceStats(file: string): { tensors: TensorDoc[] } {
  return reference.json('stats', file);
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
    problems.push(...compareDocuments(file, got, referenceStats(file), ['shape']));
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
    problems.push(...compareDocuments(file, weightscope(file), referenceStats(file), ['shape']));
  }
  assert.deepEqual(problems, []);
});
