/**
 * PyTorch and NumPy files against an independent reference (torch_reference.py): Python's own pickle module with a
 * stub unpickler that refuses to import anything, zipfile for the archive, numpy stride tricks for views, and
 * reference.py's float64 statistics. Covers generated fixtures (stored, deflated, big-endian, strided, legacy,
 * UntypedStorage + dtype, nested containers, NumPy arrays inside the pickle, per-tensor problems, npy/npz) and every
 * real PyTorch and npz file in ../shared/checkpoints.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { compareDocuments, type TensorDoc } from './compareStats';
import { ReferenceScript, cliJson, missingPython, sharedCheckpoints } from './harness';

const reference = new ReferenceScript('torch_reference.py');
const shared = sharedCheckpoints;
const noNumpy = missingPython('numpy');
const TORCH_OR_NUMPY = /\.(pt|pth|bin|ckpt|jit|npy|npz)$/;

function weightscope(file: string, ...flags: string[]): { format: string; tensors: TensorDoc[] } {
  return cliJson('stats', file, '--json', ...flags);
}

function referenceDoc(file: string): { format: string; tensors: TensorDoc[] } {
  return reference.json('stats', file);
}

function compareFile(file: string): string[] {
  const got = weightscope(file);
  const want = referenceDoc(file);
  const format = got.format === want.format ? [] : [`${basename(file)}: format ${got.format}, want ${want.format}`];
  return [...format, ...compareDocuments(file, got, want, ['shape', 'offset', 'bytes'])];
}

test('generated PyTorch and NumPy fixtures match the stub-unpickler reference', { skip: noNumpy }, () => {
  const dir = reference.fixtures();
  const files = readdirSync(dir).filter((f) => TORCH_OR_NUMPY.test(f)).sort();
  assert.ok(files.length >= 12, files.join(', '));
  const problems = files.flatMap((f) => compareFile(join(dir, f)));
  assert.deepEqual(problems, []);
  // Deflated entries and strided views read through small chunks and several workers give the same numbers.
  for (const name of ['zip_deflated.pt', 'zip_bigendian.pt', 'arrays_compressed.npz', 'legacy.pth']) {
    const file = join(dir, name);
    assert.deepEqual(weightscope(file, '--workers', '2', '--chunk-size', '4096'), weightscope(file, '--workers', '1'), name);
  }
});

test('every PyTorch and npz file in ../shared/checkpoints matches the stub-unpickler reference', (t) => {
  if (!shared) return t.skip('no ../shared/checkpoints folder beside the project');
  if (noNumpy) return t.skip(noNumpy);
  const files = [
    ...readdirSync(shared).filter((f) => f.startsWith('pt_')).map((f) => join(shared, f)),
    ...(existsSync(join(shared, 'extra')) ? readdirSync(join(shared, 'extra')).filter((f) => f.endsWith('.npz')).map((f) => join(shared, 'extra', f)) : []),
  ].sort();
  assert.ok(files.length > 0);
  assert.deepEqual(files.flatMap(compareFile), []);
});
