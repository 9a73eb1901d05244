/**
 * Hostile inputs: seeded random corruptions of PyTorch, legacy, TorchScript-like and NumPy files must end in a
 * result or a FormatError — never another exception, a hang or a runaway allocation.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FormatError } from '../../extension/formats/formatError';
import { openCheckpoint } from '../../extension/formats/openCheckpoint';
import { buildTorchLegacy, buildTorchZip, f32, type TorchTensor } from '../fixtures/torchWriter';
import { random } from '../fixtures/makeDemo';
import { MemoryFiles } from '../fixtures/memorySource';
import { buildZip } from '../fixtures/zipWriter';

const weight: TorchTensor = { name: 'w', storage: 'FloatStorage', key: '0', data: f32([1, 2, 3, 4, 5, 6]), elementBytes: 4, shape: [2, 3] };
const view: TorchTensor = { ...weight, name: 'w_t', shape: [3, 2], stride: [1, 3] };
const npy = (() => {
  const header = "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }";
  const text = header + ' '.repeat(128 - 10 - header.length - 1) + '\n';
  return Uint8Array.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, text.length, 0, ...Array.from(text, (c) => c.charCodeAt(0)), ...f32([1, 2, 3, 4, 5, 6])]);
})();

const SAMPLES: Record<string, Uint8Array> = {
  'zip.pt': buildTorchZip([weight, view], { zip64: true }).bytes,
  'deflated.pt': buildTorchZip([weight, view], { deflate: true }).bytes,
  'legacy.pth': buildTorchLegacy([weight, view]),
  'arrays.npz': buildZip([{ name: 'a.npy', data: npy }, { name: 'b.npy', data: npy, deflate: true }]).bytes,
  'array.npy': npy,
};

test('corrupted PyTorch and NumPy files fail only with FormatError', async () => {
  const rand = random(20261126);
  let opened = 0;
  let refused = 0;
  for (const [name, original] of Object.entries(SAMPLES)) {
    for (let round = 0; round < 400; round++) {
      const bytes = original.slice();
      const edits = 1 + Math.floor(rand() * 4);
      for (let e = 0; e < edits; e++) {
        const at = Math.floor(rand() * bytes.length);
        const kind = rand();
        if (kind < 0.6) bytes[at] = Math.floor(rand() * 256);
        else if (kind < 0.8) bytes[at] = [0, 0xff, 0x7f, 0x80][Math.floor(rand() * 4)]!;
        else bytes.fill(0xff, at, Math.min(bytes.length, at + 4));
      }
      const cut = rand() < 0.15 ? bytes.subarray(0, Math.floor(rand() * bytes.length)) : bytes;
      try {
        await openCheckpoint(name, new MemoryFiles({ [name]: cut }));
        opened++;
      } catch (error) {
        if (!(error instanceof FormatError)) assert.fail(`${name} round ${round}: ${(error as Error).stack}`);
        refused++;
      }
    }
  }
  assert.ok(opened > 0 && refused > 0, `${opened} opened, ${refused} refused`);
});
