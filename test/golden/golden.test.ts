/**
 * Golden numbers: the CLI's statistics against an independent float64 reference (test/golden/reference.py, numpy)
 * on seeded fixtures covering every dtype, and on every real safetensors file in ../shared/checkpoints.
 * Without numpy, the shared checkpoints are compared with the reference values checked in beside this file.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compareDocuments, type TensorDoc } from './compareStats';

const root = join(__dirname, '../..');
const cli = join(root, 'dist/cli.js');
const reference = join(__dirname, 'reference.py');
const sharedCheckpoints = join(root, '../shared/checkpoints');
const checkedIn = join(__dirname, 'checkpoints.json');

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
  const stored: Record<string, { tensors: TensorDoc[] }> = existsSync(checkedIn) ? JSON.parse(readFileSync(checkedIn, 'utf8')) : {};
  if (!hasNumpy && Object.keys(stored).length === 0) return t.skip('neither numpy nor checked-in reference values');
  const problems: string[] = [];
  for (const name of sharedFiles) {
    const file = join(sharedCheckpoints, name);
    const want = hasNumpy ? referenceStats(file) : stored[name];
    if (!want) continue;
    problems.push(...compareDocuments(file, weightscope(file), want));
  }
  assert.deepEqual(problems, []);
});

test('the checked-in reference values agree with numpy', { skip: !hasNumpy && 'python3 with numpy is not installed' }, (t) => {
  if (sharedFiles.length === 0 || !existsSync(checkedIn)) return t.skip('no ../shared/checkpoints or no checked-in values');
  const stored: Record<string, { tensors: TensorDoc[] }> = JSON.parse(readFileSync(checkedIn, 'utf8'));
  for (const [name, doc] of Object.entries(stored)) {
    const fresh = referenceStats(join(sharedCheckpoints, name));
    assert.deepEqual(compareDocuments(name, doc, fresh), [], name);
  }
});
