/**
 * Golden numbers: the CLI's statistics against an independent float64 reference (test/golden/reference.py, numpy)
 * on seeded fixtures covering every dtype, and on every real safetensors file in ../shared/checkpoints. The
 * references are computed at test time (scripts/setup.sh installs numpy); without numpy the tests skip, saying so.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { compareDocuments, type TensorDoc } from './compareStats';
import { ReferenceScript, cliJson, missingPython, sharedCheckpoints } from './harness';

const reference = new ReferenceScript('reference.py');
const noNumpy = missingPython('numpy');

function weightscope(file: string, ...flags: string[]): { tensors: TensorDoc[] } {
  return cliJson('stats', file, '--json', ...flags);
}

function referenceStats(file: string): { tensors: TensorDoc[] } {
  return reference.json('stats', file);
}

test('seeded fixtures of every dtype match the float64 reference, whatever the worker count or chunk size', { skip: noNumpy }, () => {
  const dir = reference.fixtures();
  const problems: string[] = [];
  for (const name of readdirSync(dir).filter((f) => f.endsWith('.safetensors'))) {
    const file = join(dir, name);
    const got = weightscope(file);
    assert.deepEqual(weightscope(file, '--workers', '1'), got, `${name}: one worker`);
    assert.deepEqual(weightscope(file, '--workers', '2', '--chunk-size', '4096'), got, `${name}: two workers, 4 KiB chunks`);
    problems.push(...compareDocuments(file, got, referenceStats(file)));
  }
  assert.deepEqual(problems, []);
});

const sharedFiles = sharedCheckpoints ? readdirSync(sharedCheckpoints).filter((f) => f.endsWith('.safetensors')).sort() : [];

test('every safetensors file in ../shared/checkpoints matches the float64 reference', (t) => {
  if (sharedFiles.length === 0) return t.skip('no ../shared/checkpoints folder beside the project');
  if (noNumpy) return t.skip(noNumpy);
  const problems: string[] = [];
  for (const name of sharedFiles) {
    const file = join(sharedCheckpoints!, name);
    problems.push(...compareDocuments(file, weightscope(file), referenceStats(file)));
  }
  assert.deepEqual(problems, []);
});
