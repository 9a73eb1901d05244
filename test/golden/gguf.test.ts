/**
 * GGUF against the `gguf` Python package (gguf-py), an independent implementation: dequantization of random blocks
 * of every type it implements, bit for bit; `stats --json` of GGUFWriter-written files (quantized types, a split set,
 * big-endian, custom alignment) and of the real GGUF files in ../shared/checkpoints; the IQ grid tables.
 * Skipped with a message when python3 with gguf is not installed (scripts/setup.sh installs it).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lookupDType } from '../../extension/formats/dtypes';
import { WasmCore } from '../../extension/engine/wasmCore';
import type { BlocksReport } from '../../extension/cli/blocksCommand';
import { compareDocuments, compareStats, type TensorDoc } from './compareStats';
import { ReferenceScript, cliJson, missingPython, root, sharedCheckpoints } from './harness';

const reference = new ReferenceScript('gguf_reference.py');
const skip = missingPython('gguf', 'numpy');
const dir = mkdtempSync(join(tmpdir(), 'weightscope-gguf-golden-'));
/** GGUFWriter fixtures, written once. */
const fixtures = (): string => reference.fixtures();
const python = (...args: string[]): string => reference.text(...args);

function weightscope(file: string, ...flags: string[]): { tensors: (TensorDoc & { shape: number[] })[]; files: { path: string }[] } {
  return cliJson('stats', file, '--json', ...flags);
}

/** Seeded bytes (xorshift32), so failures reproduce. */
function randomBytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    out[i] = s & 0xff;
  }
  return out;
}

test('every block type gguf-py implements dequantizes bit for bit like gguf.quants.dequantize', { skip }, () => {
  const core = WasmCore.load(readFileSync(join(root, 'dist/weightscope.wasm')));
  const types = python('types').trim().split('\n');
  assert.ok(types.length >= 20, `gguf-py implements ${types.length} types`);
  const problems: string[] = [];
  types.forEach((type, t) => {
    const info = lookupDType(type)!;
    // Every byte pattern in every position, NaN/Inf scales included: 3000 random blocks.
    const bytes = randomBytes(3000 * info.groupBytes, 0x9e3779b9 ^ (t * 7919));
    const input = join(dir, `${type}.bin`);
    const output = join(dir, `${type}.f32`);
    writeFileSync(input, bytes);
    python('dequant', type, input, output);
    const reference = new Float32Array(readFileSync(output).buffer.slice(0));
    const job = core.beginDecode(type);
    core.input(bytes.length).set(bytes);
    const ours = job.decode();
    job.dispose();
    assert.equal(ours.length, reference.length, type);
    let differing = 0;
    ours.forEach((v, i) => {
      const want = reference[i]!;
      const same = Number.isNaN(want) ? Number.isNaN(v) : Object.is(v, want);
      if (!same && differing++ === 0) problems.push(`${type}: element ${i} is ${v}, gguf-py gives ${want}`);
    });
    if (differing > 1) problems.push(`${type}: ${differing} elements differ`);
  });
  assert.deepEqual(problems, []);
});

test('the IQ grid tables in the core are the ones gguf-py carries', { skip }, () => {
  const result = spawnSync('python3', [join(root, 'scripts/gen-iq-grids.py'), '--check'], { encoding: 'utf8' });
  assert.equal(result.status, 0, result.stdout + result.stderr);
});

test('GGUFWriter files (quantized types, split set, big-endian, 64-byte alignment) match gguf-py and numpy', { skip }, () => {
  const folder = fixtures();
  const files = readdirSync(folder).filter((f) => f.endsWith('.gguf') && !/-0000[23]-of-/.test(f)).sort();
  assert.deepEqual(files, ['aligned64.gguf', 'big-endian.gguf', 'quantized.gguf', 'split-00001-of-00003.gguf']);
  const problems: string[] = [];
  for (const name of files) {
    const file = join(folder, name);
    const got = weightscope(file);
    const want = JSON.parse(python('stats', file));
    assert.deepEqual(got.files.map((f) => f.path), want.files.map((f: { path: string }) => f.path), name);
    assert.deepEqual(got.tensors.map((t) => t.shape), want.tensors.map((t: { shape: number[] }) => t.shape), name);
    problems.push(...compareDocuments(file, got, want));
    assert.deepEqual(weightscope(file, '--workers', '2', '--chunk-size', '4096'), got, `${name}: two workers, 4 KiB chunks`);
  }
  assert.deepEqual(problems, []);
  // The split set opens whole from its last file too.
  const last = weightscope(join(folder, 'split-00003-of-00003.gguf'));
  assert.equal(last.tensors.length, 5);
});

test('the real GGUF files in ../shared/checkpoints match gguf-py and numpy', { skip }, (t) => {
  const files = sharedCheckpoints ? readdirSync(sharedCheckpoints).filter((f) => f.endsWith('.gguf')).sort() : [];
  if (files.length === 0) return t.skip('no ../shared/checkpoints folder beside the project');
  const problems: string[] = [];
  for (const name of files) {
    const file = join(sharedCheckpoints!, name);
    const got = weightscope(file);
    const want = JSON.parse(python('stats', file));
    assert.deepEqual(got.tensors.map((x) => x.shape), want.tensors.map((x: { shape: number[] }) => x.shape), name);
    problems.push(...compareDocuments(file, got, want));
  }
  assert.deepEqual(problems, []);
});

test('blocks --json: d, dmin and sub-block scales, scale edges, saturation and the |d| grid match the blocks read by numpy', { skip }, () => {
  const file = join(fixtures(), 'quantized.gguf');
  const got = cliJson<BlocksReport>('blocks', file, '--json', '--grid', '2');
  const want = JSON.parse(python('blocks', file, '2')).tensors as {
    name: string; blocks: number; rows: number; blocksPerRow: number; d: TensorDoc['stats']; dmin: TensorDoc['stats'] | null; subBlock: TensorDoc['stats'] | null;
    scaleEdges: object; saturation: { blocks: number; elements: number } | null; grid: { rowsPerCell: number; blocksPerCell: number; cells: (number | null)[][] };
  }[];
  // Every quantized tensor is listed (plain ones are not); gguf-py's reference covers those with an f16 block scale.
  assert.deepEqual(got.tensors.map((t) => t.name), got.tensors.filter((t) => lookupDType(t.dtype)?.kind === 'quant').map((t) => t.name));
  assert.ok(want.length >= 20);
  const problems: string[] = [];
  for (const w of want) {
    const g = got.tensors.find((t) => t.name === w.name)?.analysis;
    assert.ok(g, w.name);
    assert.deepEqual([g.blocks, g.rows, g.blocksPerRow], [w.blocks, w.rows, w.blocksPerRow], w.name);
    problems.push(...compareStats(`${w.name} d`, 'F16', g.scales.d!.stats, w.d!));
    if (w.dmin) problems.push(...compareStats(`${w.name} dmin`, 'F16', g.scales.dmin!.stats, w.dmin));
    else assert.equal(g.scales.dmin, null, w.name);
    if (w.subBlock) problems.push(...compareStats(`${w.name} sub-block`, 'F32', g.scales.subBlock!.stats, w.subBlock));
    assert.deepEqual(g.scaleEdges, w.scaleEdges, w.name);
    if (w.saturation) assert.deepEqual([g.saturation?.blocks, g.saturation?.elements], [w.saturation.blocks, w.saturation.elements], w.name);
    assert.deepEqual([g.grid.rowsPerCell, g.grid.blocksPerCell, g.grid.cells], [w.grid.rowsPerCell, w.grid.blocksPerCell, w.grid.cells], w.name);
  }
  assert.deepEqual(problems, []);
});
