/** Host-side analysis logic: tile requests and parts, outlier rules, quantization metrics and exports, caches. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TensorEntry } from '../../extension/formats/checkpoint';
import { openCheckpoint } from '../../extension/formats/openCheckpoint';
import { nodeSourceOpener } from '../../extension/source/nodeFileSource';
import { defaultKeepThresholdOf } from '../../extension/engine/keepRule';
import { LruCache } from '../../extension/engine/lruCache';
import { crossLayerChannels, isDownProjection, superWeightCandidates, type OutlierOutcome } from '../../extension/engine/outliers';
import { higherPrecisionType, llamaQuantizeOverrides, llmCompressorIgnore, moduleName, quantMetrics, schemeApplies } from '../../extension/engine/quantPreview';
import { ScanEngine } from '../../extension/engine/scanEngine';
import { tileReadPlan } from '../../extension/engine/tasks/tile';
import { ArgumentError, computeTile, joinTileParts, resolveTileRequest } from '../../extension/engine/tiles';
import type { ChannelSummary, TileCells } from '../../extension/engine/wasmCore';
import { ggufToHfName, hfToGgufName } from '../../extension/formats/ggufNames';
import { buildSafetensors } from '../fixtures/safetensorsWriter';

const entry = (name: string, shape: number[], dtype = 'F32'): TensorEntry => ({ name, dtype, shape, file: 'f', offset: 0, bytes: 4 * shape.reduce((a, b) => a * b, 1) });

test('tile requests: open ranges default to the whole axis; bad ranges, sizes and reducers are refused', () => {
  assert.deepEqual(resolveTileRequest([4, 3, 5], { size: [2, 3], reduce: 'mean' }), { rows: [0, 4], cols: [0, 15], size: [2, 3], reduce: 'mean' });
  assert.deepEqual(resolveTileRequest([9], { rows: [undefined, 1], cols: [3, undefined], size: [1, 1], reduce: 'max' }).cols, [3, 9]);
  for (const bad of [
    { rows: [2, 2] as [number, number], size: [1, 1] as [number, number] },
    { rows: [0, 5] as [number, number], size: [1, 1] as [number, number] },
    { cols: [-1, 3] as [number, number], size: [1, 1] as [number, number] },
    { cols: [0.5, 3] as [number, number], size: [1, 1] as [number, number] },
    { size: [0, 1] as [number, number] },
    { size: [2.5, 1] as [number, number] },
    { size: [4096, 4096] as [number, number] },
  ]) {
    assert.throws(() => resolveTileRequest([4, 15], { reduce: 'mean', ...bad }), ArgumentError, JSON.stringify(bad));
  }
  assert.throws(() => resolveTileRequest([4], { size: [1, 1], reduce: 'median' as 'mean' }), ArgumentError);
  assert.throws(() => resolveTileRequest([0, 4], { size: [1, 1], reduce: 'mean' }), /no elements/);
});

test('read plans: narrow rectangles read row segments, packed types start on a group with a skip', () => {
  const narrow = tileReadPlan({ location: { dtype: 'BF16', shape: [100, 1000] }, rows: [10, 20], cols: [100, 200], size: [10, 10], outRows: [0, 10], reduce: 'mean' });
  assert.deepEqual(narrow.segment, [100, 100]);
  assert.equal(narrow.spans.length, 10);
  assert.deepEqual(narrow.spans[0], { start: (10 * 1000 + 100) * 2, length: 200 });
  const wide = tileReadPlan({ location: { dtype: 'BF16', shape: [100, 1000] }, rows: [10, 20], cols: [0, 900], size: [5, 10], outRows: [2, 4], reduce: 'mean' });
  assert.deepEqual(wide, { segment: [0, 1000], skip: 0, spans: [{ start: 14 * 1000 * 2, length: 4 * 1000 * 2 }] });
  // F4 rows of 5 elements: row 3 starts mid-byte, so the read starts one element early.
  const packed = tileReadPlan({ location: { dtype: 'F4', shape: [10, 5] }, rows: [3, 4], cols: [0, 5], size: [1, 5], outRows: [0, 1], reduce: 'max' });
  assert.deepEqual(packed, { segment: [0, 5], skip: 1, spans: [{ start: 7, length: 3 }] });
});

test('tile parts join into the whole: cells and row marginals in order, column marginals combined', () => {
  const part = (rows: number, values: number[], colSquares: number[], colAbsmax: number[]): TileCells => ({
    rows, cols: 2, values: Float64Array.from(values), rowAbsmax: new Float64Array(rows).fill(1), rowSquares: new Float64Array(rows).fill(4),
    rowCount: new Float64Array(rows).fill(1), colAbsmax: Float64Array.from(colAbsmax), colSquares: Float64Array.from(colSquares), colCount: Float64Array.from([rows, rows]),
  });
  const tile = joinTileParts({ rows: [0, 3], cols: [0, 2], size: [3, 2], reduce: 'mean' }, [part(1, [1, 2], [1, 4], [1, Number.NaN]), part(2, [3, 4, 5, 6], [8, 18], [2, 3])]);
  assert.deepEqual([...tile.values], [1, 2, 3, 4, 5, 6]);
  assert.deepEqual([...tile.rowRms], [2, 2, 2]);
  assert.deepEqual([...tile.colAbsmax], [2, 3]);
  assert.deepEqual([...tile.colRms], [Math.sqrt(9 / 3), Math.sqrt(22 / 3)]);
});

test('a tile split across workers equals the tile computed by one', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'weightscope-tiles-'));
  const file = join(dir, 'm.safetensors');
  const values = Float32Array.from({ length: 2048 * 1100 }, (_, i) => Math.sin(i * 0.001) * ((i % 977) === 5 ? 40 : 1));
  writeFileSync(file, buildSafetensors([{ name: 'w', dtype: 'F32', shape: [2048, 1100], data: new Uint8Array(values.buffer) }]));
  const [tensor] = (await openCheckpoint(file, nodeSourceOpener)).tensors;
  const engine = new ScanEngine({ distDir: join(__dirname, '../../dist'), workers: 2, chunkBytes: 1 << 16 });
  try {
    const rect = resolveTileRequest(tensor!.shape, { size: [301, 77], reduce: 'mean' });
    const split = await computeTile(engine.pool, { kind: 'tensor', location: tensor! }, rect, { chunkBytes: 1 << 16 });
    const whole = await computeTile(engine.pool, { kind: 'tensor', location: tensor! }, rect, { chunkBytes: 1 << 16, maxParts: 1 });
    assert.deepEqual(split.values, whole.values);
    assert.deepEqual(split.rowAbsmax, whole.rowAbsmax);
    assert.deepEqual(split.colAbsmax, whole.colAbsmax);
    for (let j = 0; j < 77; j++) assert.ok(Math.abs(split.colRms[j]! - whole.colRms[j]!) <= 1e-12 * whole.colRms[j]!);
    const abort = new AbortController();
    abort.abort();
    await assert.rejects(computeTile(engine.pool, { kind: 'tensor', location: tensor! }, rect, { chunkBytes: 1 << 16, signal: abort.signal }), /cancel/);
  } finally {
    engine.dispose();
  }
});

test('down projections are recognised across naming conventions, and nothing else', () => {
  for (const name of ['model.layers.3.mlp.down_proj.weight', 'blk.0.ffn_down.weight', 'blk.2.ffn_down_exps.weight', 'layers.1.feed_forward.w2.weight',
    'model.layers.0.block_sparse_moe.experts.3.w2.weight', 'model.decoder.layers.5.fc2.weight', 'transformer.h.7.mlp.c_proj.weight',
    'gpt_neox.layers.2.mlp.dense_4h_to_h.weight', 'encoder.block.1.layer.1.DenseReluDense.wo.weight', 'encoder.layers.4.feed_forward.output_dense.weight',
    'bert.encoder.layer.11.output.dense.weight']) assert.ok(isDownProjection(name), name);
  for (const name of ['model.layers.3.mlp.up_proj.weight', 'transformer.h.7.attn.c_proj.weight', 'bert.encoder.layer.11.attention.output.dense.weight',
    'model.layers.0.self_attn.o_proj.weight', 'blk.0.ffn_up.weight', 'w2v.embed', 'fc20.weight']) assert.ok(!isDownProjection(name), name);
});

function summary(scalars: [number, number, number, number][], cols: [number, number][] = [], colMedian = 1): ChannelSummary {
  return {
    count: 1000, meanAbs: 0.01, stdAbs: 0.01, rowMedian: 1, colMedian, rowRatio: 1, colRatio: 1, topRows: [],
    topCols: cols.map(([index, absmax]) => ({ index, absmax, rms: 0, kurtosis: 0 })),
    topScalars: scalars.map(([row, col, value, z]) => ({ row, col, value, z })),
  };
}

test('super-weight candidates: a lone extreme scalar of a down projection, ranked by |value| across the model', () => {
  const entries = [entry('a.mlp.down_proj.weight', [8, 8]), entry('b.mlp.up_proj.weight', [8, 8]), entry('c.mlp.down_proj.weight', [8, 8]), entry('d.mlp.down_proj.weight', [8, 8])];
  const small: [number, number, number, number][] = Array.from({ length: 7 }, (_, i) => [i, 0, 0.1, 5]);
  const outcomes = new Map<number, OutlierOutcome>([
    [0, { index: 0, summary: summary([[1, 2, -3, 300], ...small]) }],
    [1, { index: 1, summary: summary([[0, 0, 90, 900], ...small]) }], // not a down projection
    [2, { index: 2, summary: summary([[4, 5, 7, 400], [4, 6, 6.5, 390], ...small]) }],
    // A whole loud channel: the 8th largest is as large as the first, so nothing is a lone scalar.
    [3, { index: 3, summary: summary(Array.from({ length: 8 }, (_, i) => [i, 3, 2, 60] as [number, number, number, number])) }],
  ]);
  assert.deepEqual(superWeightCandidates(entries, outcomes).map((c) => [c.tensor, c.row, c.col, c.value]), [
    ['c.mlp.down_proj.weight', 4, 5, 7], ['c.mlp.down_proj.weight', 4, 6, 6.5], ['a.mlp.down_proj.weight', 1, 2, -3],
  ]);
});

test('the cross-layer view counts a channel standing out in every tensor of the model width', () => {
  const entries = [entry('embed.weight', [50, 16]), entry('l0.norm.weight', [16]), entry('l0.q.weight', [16, 16]), entry('l0.down.weight', [16, 40])];
  const outcomes = new Map<number, OutlierOutcome>([
    [0, { index: 0, summary: summary([], [[5, 10], [2, 1.1]]) }],
    [1, { index: 1, summary: summary([], [[5, 8], [9, 3.5]]) }],
    [2, { index: 2, summary: summary([], [[5, 6], [9, 2.9]]) }],
    [3, { index: 3, summary: { ...summary([], [[30, 50]]), topRows: [{ index: 5, absmax: 4, rms: 0, kurtosis: 0 }] } }],
  ]);
  const view = crossLayerChannels(entries, outcomes);
  assert.equal(view.width, 16);
  assert.deepEqual(view.channels.map((c) => [c.index, c.echoes.map((e) => `${e.tensor}${e.axis}`)]), [[5, ['0col', '1col', '2col', '3row']], [9, ['1col']]]);
});

test('quantization metrics: null when undefined, damage is the noise-to-signal ratio', () => {
  assert.deepEqual(quantMetrics(4, 8, 0.08, 0.3), { mse: 0.02, sqnr_db: 20, max_abs_err: 0.3, damage: 0.01 });
  assert.deepEqual(quantMetrics(4, 8, 0, 0), { mse: 0, sqnr_db: null, max_abs_err: 0, damage: 0 });
  assert.deepEqual(quantMetrics(4, 0, 0, 0), { mse: 0, sqnr_db: null, max_abs_err: 0, damage: null });
  assert.deepEqual(quantMetrics(0, 0, 0, 0), { mse: null, sqnr_db: null, max_abs_err: null, damage: null });
  assert.ok(schemeApplies(entry('x', [3, 64]), 'q4_0') && !schemeApplies(entry('x', [64, 3]), 'q8_0') && !schemeApplies(entry('x', []), 'q8_0'));
  assert.ok(schemeApplies(entry('x', [64, 3]), 'mxfp4'));
});

test('keep-list exports: module names, anchored escaped patterns, the higher-precision type', () => {
  const kept = [entry('model.layers.1.mlp.down_proj.weight', [4, 64], 'BF16'), entry("odd'name", [2, 2])];
  assert.equal(moduleName('lm_head.weight'), 'lm_head');
  assert.equal(llmCompressorIgnore(kept, 'int4-asym-g128', 12.5, 'json'), '{\n  "ignore": [\n    "model.layers.1.mlp.down_proj",\n    "odd\'name"\n  ]\n}\n');
  assert.match(llmCompressorIgnore([], 'nvfp4', 3, 'yaml'), /\nignore: \[\]\n$/);
  const lines = llamaQuantizeOverrides(kept, 'int8-sym-row', 30, (n) => (n.startsWith('model.layers.1.mlp') ? 'blk.1.ffn_down.weight' : undefined)).split('\n');
  assert.match(lines[0]!, /^# Weightscope: 2 tensor\(s\) with SQNR below 30\.00 dB under int8-sym-row/);
  assert.equal(lines[1], "--tensor-type '^blk\\.1\\.ffn_down\\.weight$=bf16'");
  assert.equal(lines[2], "--tensor-type '^odd'\\''name$=f16'");
  assert.equal(higherPrecisionType(kept[0]!, 'q4_0'), 'q8_0');
});

test('HF names map to llama.cpp names and back', () => {
  for (const [hf, gguf] of [['model.layers.12.mlp.down_proj.weight', 'blk.12.ffn_down.weight'], ['lm_head.weight', 'output.weight'], ['model.layers.0.self_attn.q_proj.bias', 'blk.0.attn_q.bias']]) {
    assert.equal(hfToGgufName(hf!), gguf);
    assert.equal(ggufToHfName(gguf!), hf);
  }
  assert.equal(hfToGgufName('transformer.h.0.mlp.c_proj.weight'), undefined);
  assert.equal(hfToGgufName('blk.0.ffn_down.weight'), undefined);
});

test('the default keep threshold is 6 dB under the median', () => {
  assert.equal(defaultKeepThresholdOf([]), null);
  assert.equal(defaultKeepThresholdOf([20, 10, 30]), 14);
  assert.equal(defaultKeepThresholdOf([20, 10, 30, 40]), 19);
});

test('the LRU cache keeps the most recently used entries within its budget', () => {
  const cache = new LruCache<string, number[]>(10, (v) => v.length);
  cache.set('a', [1, 2, 3, 4]);
  cache.set('b', [1, 2, 3, 4]);
  assert.ok(cache.get('a'));
  cache.set('c', [1, 2, 3, 4]);
  assert.equal(cache.get('b'), undefined, 'b was the least recently used');
  assert.ok(cache.get('a') && cache.get('c'));
  assert.equal(cache.size, 8);
  cache.set('huge', new Array(11).fill(0));
  assert.equal(cache.get('huge'), undefined, 'larger than the whole budget: not kept');
});
