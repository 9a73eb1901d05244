import { test } from 'node:test';
import assert from 'node:assert/strict';
import { shortTitles } from '../../extension/compare/titles';
import type { DiffRow, PairStats } from '../../extension/protocol/messages';
import { deltaBars } from '../../webview/lib/deltaBars';
import { cellKey, layerProfile, shade } from '../../webview/lib/layerProfile';
import { sharedPrefix, shortName } from '../../webview/lib/names';
import { rankFor } from '../../webview/views/spectrum';

const row = (id: number, name: string, layer: number | null, kind: DiffRow['kind']): DiffRow => ({
  id, name, nameB: name, shape: [2, 2], dtypeA: 'F32', dtypeB: 'F32', params: 4, layer, kind, matrix: true, lora: null,
});
const stats = (l2a: number, l2d: number, identical = false): PairStats => ({
  l2_a: l2a, l2_b: l2a, l2_delta: l2d, rel_delta: l2d / l2a, cosine: 1, max_abs_delta: l2d, changed_fraction: identical ? 0 : 1, sign_flip_fraction: 0, identical,
});

test('layer profile: cells aggregate ‖Δ‖/‖A‖ over their tensors, frozen only when every tensor is identical', () => {
  const rows = [row(0, 'embed', null, 'embedding'), row(1, 'l0.q.w', 0, 'q'), row(2, 'l0.q.b', 0, 'q'), row(3, 'l1.q.w', 1, 'q'), row(4, 'l1.norm', 1, 'norm')];
  const s = new Map<number, PairStats>([[0, stats(1, 0, true)], [1, stats(3, 1)], [2, stats(4, 0, true)], [3, stats(2, 0.02)]]);
  const p = layerProfile(rows, s);
  assert.deepEqual(p.layers, [null, 0, 1]);
  assert.deepEqual(p.kinds, ['embedding', 'q', 'norm']);
  assert.equal(p.cells.get(cellKey(null, 'embedding'))!.frozen, true);
  const q0 = p.cells.get(cellKey(0, 'q'))!;
  assert.equal(q0.frozen, false);
  assert.equal(q0.relative, 1 / 5, 'sqrt(1² + 0²) / sqrt(3² + 4²)');
  const norm = p.cells.get(cellKey(1, 'norm'))!;
  assert.equal(norm.complete, false, 'no statistics yet');
  assert.equal(norm.relative, null);
  assert.deepEqual(p.range, [0.01, 0.2]);
  assert.equal(shade(0.2, p.range), 1);
  assert.equal(shade(0.01, p.range), 0.15);
  assert.equal(shade(0, p.range), 0);
});

test('delta bars: negative magnitudes mirrored left of the zero slot, only the used span', () => {
  const positive = new Array(256).fill(0);
  const negative = new Array(256).fill(0);
  positive[160] = 5; // [2^0, 2^0.25)
  positive[162] = 1;
  negative[161] = 7;
  const { bars, zeroAt, span } = deltaBars({ log2Lo: -40, binsPerOctave: 4, positive, negative, zeros: 3, nonFinite: 0 });
  assert.equal(zeroAt, 3);
  assert.deepEqual(span, [0, 7]);
  assert.deepEqual(bars.map((b) => [b.position, b.sign, b.count]), [[4, 1, 5], [1, -1, 7], [6, 1, 1], [3, 0, 3]]);
  assert.equal(bars[0]!.low, 1);
  const none = deltaBars({ log2Lo: -40, binsPerOctave: 4, positive: new Array(256).fill(0), negative: new Array(256).fill(0), zeros: 10, nonFinite: 0 });
  assert.deepEqual(none.bars.map((b) => b.position), [0]);
});

test('names: the shared dotted prefix is left out; titles gain parent folders until distinct', () => {
  assert.equal(sharedPrefix(['base_model.model.a.x', 'base_model.model.b.y']), 'base_model.model.');
  assert.equal(sharedPrefix(['model.x', 'lm_head.weight']), '');
  assert.equal(sharedPrefix(['a.b']), '');
  assert.equal(sharedPrefix(['a.b', 'a.b']), 'a.', 'never the whole name');
  assert.equal(shortName('base_model.model.a.x', 'base_model.model.'), '…a.x');
  assert.deepEqual(shortTitles(['/x/base/model.safetensors', '/x/ft/model.safetensors']), ['base/model.safetensors', 'ft/model.safetensors']);
  assert.deepEqual(shortTitles(['/x/a.safetensors', '/y/b.safetensors']), ['a.safetensors', 'b.safetensors']);
});

test('rank for an energy fraction', () => {
  assert.equal(rankFor([0.5, 0.91, 0.995], 0.9), 2);
  assert.equal(rankFor([0.5, 0.91, 0.995], 0.99), 3);
  assert.equal(rankFor([0.5, null], 0.9), null);
});

test('a delta tile equals the tile of the difference written out, split or whole, mixed dtypes and a LoRA delta', async () => {
  const { mkdtempSync, writeFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { openCheckpoint } = await import('../../extension/formats/openCheckpoint');
  const { nodeSourceOpener } = await import('../../extension/source/nodeFileSource');
  const { ScanEngine } = await import('../../extension/engine/scanEngine');
  const { computeTile, resolveTileRequest } = await import('../../extension/engine/tiles');
  const { buildSafetensors } = await import('../fixtures/safetensorsWriter');
  const [rows, cols] = [1500, 700];
  const a = Float32Array.from({ length: rows * cols }, (_, i) => Math.sin(i * 0.01));
  const b = Float32Array.from(a, (v, i) => v + (i % 1013 === 7 ? 3 : 0.001 * Math.cos(i)));
  // B stored as F64, the difference computed in f64 as the engine does, written out as F64.
  const b64 = Float64Array.from(b);
  const delta = Float64Array.from(b64, (v, i) => v - a[i]!);
  // A LoRA pair (r = 2): ΔW = 0.5·B·A, and the same ΔW written out.
  const loraA = Float32Array.from({ length: 2 * cols }, (_, i) => Math.cos(i * 0.3));
  const loraB = Float32Array.from({ length: rows * 2 }, (_, i) => Math.sin(i * 0.7));
  const lora = Float64Array.from({ length: rows * cols }, (_, i) => {
    const [r, c] = [Math.floor(i / cols), i % cols];
    return 0.5 * (loraB[2 * r]! * loraA[c]! + loraB[2 * r + 1]! * loraA[cols + c]!);
  });
  const file = join(mkdtempSync(join(tmpdir(), 'weightscope-delta-tile-')), 'pair.safetensors');
  const u8 = (x: Float32Array | Float64Array) => new Uint8Array(x.buffer);
  writeFileSync(file, buildSafetensors([
    { name: 'a', dtype: 'F32', shape: [rows, cols], data: u8(a) }, { name: 'b', dtype: 'F64', shape: [rows, cols], data: u8(b64) },
    { name: 'delta', dtype: 'F64', shape: [rows, cols], data: u8(delta) },
    { name: 'lora_A', dtype: 'F32', shape: [2, cols], data: u8(loraA) }, { name: 'lora_B', dtype: 'F32', shape: [rows, 2], data: u8(loraB) },
    { name: 'lora', dtype: 'F64', shape: [rows, cols], data: u8(lora) },
  ]));
  const t = new Map((await openCheckpoint(file, nodeSourceOpener)).tensors.map((x) => [x.name, x]));
  const engine = new ScanEngine({ distDir: join(__dirname, '../../dist'), workers: 2, chunkBytes: 1 << 16 });
  try {
    for (const [reduce, size] of [['absmax', [97, 55]], ['mean', [1500, 700]], ['max', [3, 2]]] as const) {
      const rect = resolveTileRequest([rows, cols], { size: [...size], reduce, rows: [11, 1499], cols: [5, 690] });
      const want = await computeTile(engine.pool, { kind: 'tensor', location: t.get('delta')! }, rect, { chunkBytes: 1 << 16 });
      const source = { kind: 'delta' as const, a: { kind: 'tensor' as const, location: t.get('a')! }, b: { kind: 'tensor' as const, location: t.get('b')! }, shape: [rows, cols] };
      for (const maxParts of [1, 2]) {
        const got = await computeTile(engine.pool, source, rect, { chunkBytes: 1 << 16, maxParts });
        assert.deepEqual(got.values, want.values, `${reduce} ${size} in ${maxParts} part(s)`);
        assert.deepEqual(got.rowAbsmax, want.rowAbsmax);
      }
      const loraWant = await computeTile(engine.pool, { kind: 'tensor', location: t.get('lora')! }, rect, { chunkBytes: 1 << 16 });
      const loraOperand = { kind: 'lora' as const, a: t.get('lora_A')!, b: t.get('lora_B')!, rank: 2, rows, cols, transposedA: false, transposedB: false, scale: 0.5 };
      const loraGot = await computeTile(engine.pool, { kind: 'delta', a: { kind: 'zeros', elements: rows * cols }, b: loraOperand, shape: [rows, cols] }, rect, { chunkBytes: 1 << 16 });
      for (let i = 0; i < loraGot.values.length; i++) {
        const [x, y] = [loraGot.values[i]!, loraWant.values[i]!];
        assert.ok((Number.isNaN(x) && Number.isNaN(y)) || Math.abs(x - y) <= 1e-12 * Math.max(1, Math.abs(y)), `LoRA ${reduce} cell ${i}: ${x} vs ${y}`);
      }
    }
  } finally {
    engine.dispose();
  }
});

test('a mask heatmap tile counts the tasks keeping each weight exactly as the masks file does', async () => {
  const { mkdtempSync, readFileSync, writeFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { openCheckpoint } = await import('../../extension/formats/openCheckpoint');
  const { nodeSourceOpener } = await import('../../extension/source/nodeFileSource');
  const { ScanEngine } = await import('../../extension/engine/scanEngine');
  const { computeTile, resolveTileRequest } = await import('../../extension/engine/tiles');
  const { jobParams, matchModels, runMerge } = await import('../../extension/engine/mergeEngine');
  const { buildSafetensors } = await import('../fixtures/safetensorsWriter');
  const dir = mkdtempSync(join(tmpdir(), 'weightscope-mask-tile-'));
  const [rows, cols] = [640, 300];
  const base = Float32Array.from({ length: rows * cols }, (_, i) => Math.sin(i * 0.37));
  const tuned = [1, 2, 3].map((seed) => Float32Array.from(base, (v, i) => (i % (seed + 4) === 0 ? v : v + 0.01 * Math.sin(i * seed * 1.3))));
  const paths = ['base', 't1', 't2', 't3'].map((n) => join(dir, `${n}.safetensors`));
  [base, ...tuned].forEach((values, i) => writeFileSync(paths[i]!, buildSafetensors([{ name: 'w', dtype: 'F32', shape: [rows, cols], data: new Uint8Array(values.buffer) }])));
  const open = async (path: string) => ({ path, checkpoint: await openCheckpoint(path, nodeSourceOpener) });
  const [b, ...models] = await Promise.all(paths.map(open));
  const engine = new ScanEngine({ distDir: join(__dirname, '../../dist'), workers: 2, chunkBytes: 1 << 14 });
  try {
    for (const [method, params] of [['ties', { density: 0.3, lambda: 1 }], ['dare', { lambda: 1, drop: 0.6, seed: 5 }], ['consensus', { lambda: 0.4, k: 2 }]] as const) {
      const rowsOf = matchModels(b!, models);
      const masks = join(dir, `${method}-masks.safetensors`);
      const { stats } = await runMerge(engine, { method, params, base: b!, models, rows: rowsOf, masks });
      const file = readFileSync(masks);
      const planes = (await openCheckpoint(masks, nodeSourceOpener)).tensors.filter((t) => t.name.startsWith('mask.task'));
      const counts = new Float64Array(rows * cols);
      for (const plane of planes) for (let i = 0; i < counts.length; i++) counts[i]! += file[plane.offset + i]!;
      const countsPath = join(dir, `${method}-counts.safetensors`);
      writeFileSync(countsPath, buildSafetensors([{ name: 'c', dtype: 'F64', shape: [rows, cols], data: new Uint8Array(counts.buffer) }]));
      const countsTensor = (await openCheckpoint(countsPath, nodeSourceOpener)).tensors[0]!;
      const merge = { name: 'w', base: rowsOf[0]!.base, tasks: rowsOf[0]!.tasks, params: jobParams(method, params), cuts: stats.get(0)!.cut_keys };
      for (const [reduce, size] of [['mean', [31, 17]], ['max', [640, 300]]] as const) {
        const rect = resolveTileRequest([rows, cols], { size: [...size], reduce, rows: [3, 611] });
        const want = await computeTile(engine.pool, { kind: 'tensor', location: countsTensor }, rect, { chunkBytes: 1 << 14 });
        const got = await computeTile(engine.pool, { kind: 'maskCount', merge }, rect, { chunkBytes: 1 << 14 });
        assert.deepEqual(got.values, want.values, `${method} ${reduce}`);
      }
    }
  } finally {
    engine.dispose();
  }
});
