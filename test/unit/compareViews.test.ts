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
