/**
 * Golden numbers: the CLI's statistics against an independent float64 reference (test/golden/reference.py, numpy)
 * on seeded fixtures covering every dtype, and on every real safetensors file in ../shared/checkpoints. The
 * references are computed at test time (scripts/setup.sh installs numpy); without numpy the tests skip, saying so.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compareDocuments, type TensorDoc } from './compareStats';

const root = join(__dirname, '../..');
const cli = join(root, 'dist/cli.js');
const reference = join(__dirname, 'reference.py');
const sharedCheckpoints = join(root, '../shared/checkpoints');

const hasNumpy = spawnSync('python3', ['-c', 'import numpy'], { stdio: 'ignore' }).status === 0;

function weightscope(file: string, ...flags: string[]): { tensors: TensorDoc[] } {
  return JSON.parse(execFileSync(process.execPath, [cli, 'stats', file, '--json', ...flags], { maxBuffer: 256 << 20 }).toString());
}

function referenceStats(file: string): { tensors: TensorDoc[] } {
  return JSON.parse(execFileSync('python3', [reference, 'stats', file], { maxBuffer: 256 << 20 }).toString());
}

test('seeded fixtures of every dtype match the float64 reference, whatever the worker count or chunk size', { skip: !hasNumpy && 'python3 with numpy is not installed' }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'weightscope-golden-'));
  execFileSync('python3', [reference, 'make-fixtures', dir]);
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

const sharedFiles = existsSync(sharedCheckpoints) ? readdirSync(sharedCheckpoints).filter((f) => f.endsWith('.safetensors')).sort() : [];

test('every safetensors file in ../shared/checkpoints matches the float64 reference', (t) => {
  if (sharedFiles.length === 0) return t.skip('no ../shared/checkpoints folder beside the project');
  if (!hasNumpy) return t.skip('python3 with numpy is not installed');
  const problems: string[] = [];
  for (const name of sharedFiles) {
    const file = join(sharedCheckpoints, name);
    problems.push(...compareDocuments(file, weightscope(file), referenceStats(file)));
  }
  assert.deepEqual(problems, []);
});
