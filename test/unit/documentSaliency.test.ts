/** The editor's per-document saliency state, without VS Code: importing statistics, the summary, per-weight results. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DocumentSaliency } from '../../extension/editor/documentSaliency';
import { ScanEngine } from '../../extension/engine/scanEngine';
import { FormatError } from '../../extension/formats/formatError';
import { openCheckpoint } from '../../extension/formats/openCheckpoint';
import type { HostEvent, OutlierRecord } from '../../extension/protocol/messages';
import { nodeSourceOpener } from '../../extension/source/nodeFileSource';
import { buildSafetensors } from '../fixtures/safetensorsWriter';

const dir = mkdtempSync(join(tmpdir(), 'weightscope-document-saliency-'));
const f32s = (...values: number[]): Uint8Array => new Uint8Array(Float32Array.from(values).buffer);

const model = join(dir, 'model.safetensors');
writeFileSync(model, buildSafetensors([
  { name: 'a.weight', dtype: 'F32', shape: [2, 3], data: f32s(1, -4, 2, -3, 0.5, 1) },
  { name: 'b.weight', dtype: 'F32', shape: [3, 2], data: f32s(1, 2, 3, 4, 5, 6) },
  { name: 'c.weight', dtype: 'F32', shape: [2, 2], data: f32s(1, 2, 3, 4) },
  { name: 'norm.weight', dtype: 'F32', shape: [3], data: f32s(1, 1, 1) },
]));
const stats = join(dir, 'stats.safetensors');
writeFileSync(stats, buildSafetensors([
  { name: 'a.weight.act_l2', dtype: 'F32', shape: [3], data: f32s(2, 1, 0) },
  { name: 'b.weight.act_l2', dtype: 'F32', shape: [3], data: f32s(1, 1, 1) }, // b has 2 columns
  { name: 'norm.weight.act_l2', dtype: 'F32', shape: [3], data: f32s(1, 1, 1) }, // not a matrix
  { name: 'gone.weight.act_l2', dtype: 'F32', shape: [3], data: f32s(1, 1, 1) },
]));

test('statistics imported into a document: summary, events, per-weight results and their problems', async () => {
  const engine = new ScanEngine({ distDir: join(__dirname, '../../dist'), workers: 1 });
  const events: HostEvent[] = [];
  const outliers = async (id: number): Promise<OutlierRecord> => ({
    id, error: null,
    summary: { rowRatio: 1, colRatio: 2, rowMedian: 1, colMedian: 1, meanAbs: 1, stdAbs: 1, topRows: [], topScalars: [],
      topCols: [{ index: 1, absmax: 4, rms: 1, kurtosis: 0 }, { index: 0, absmax: 3, rms: 1, kurtosis: 0 }, { index: 2, absmax: 2, rms: 1, kurtosis: 0 }] },
  });
  const saliency = new DocumentSaliency(await openCheckpoint(model, nodeSourceOpener), () => engine, (e) => events.push(e), outliers);
  try {
    assert.equal(saliency.activations(), null);
    assert.equal((await saliency.analyse({ id: 0, method: 'wanda', alpha: 0.5 })).error?.code, 'NO_STATISTICS');
    const magnitude = await saliency.analyse({ id: 0, method: 'magnitude', alpha: 0.5 });
    assert.deepEqual(magnitude.detail?.topChannels.slice(0, 2), [{ index: 1, score: 4 }, { index: 0, score: 3 }]);
    assert.deepEqual(Array.from(magnitude.detail!.columnAbsmax!), [3, 4, 2]);
    assert.deepEqual(magnitude.detail!.outlierChannels, [1, 0], 'absmax at least 3 × the median column absmax');

    const summary = await saliency.importFrom(stats);
    assert.deepEqual(
      { entries: summary.entries, matched: summary.matched, unmatched: summary.unmatched, statistics: summary.statistics, methods: summary.methods },
      { entries: 4, matched: 1, unmatched: ['gone.weight'], statistics: ['l2'], methods: ['wanda', 'obs'] },
    );
    assert.deepEqual(summary.mismatched.map((m) => m.name), ['b.weight', 'norm.weight']);
    assert.deepEqual(events, [{ type: 'activations', summary }]);

    const wanda = await saliency.analyse({ id: 0, method: 'wanda', alpha: 0.5 });
    assert.equal(wanda.detail?.entry, 'a.weight');
    assert.deepEqual(wanda.detail?.topWeights.slice(0, 2), [{ row: 1, col: 0, score: 6 }, { row: 0, col: 1, score: 4 }]);
    assert.deepEqual(Array.from(wanda.detail!.activations!), [2, 1, 0]);
    assert.equal(await saliency.analyse({ id: 0, method: 'wanda', alpha: 0.5 }), await saliency.analyse({ id: 0, method: 'wanda', alpha: 0.9 }), 'cached; α only matters to SmoothQuant');
    assert.match((await saliency.analyse({ id: 1, method: 'wanda', alpha: 0.5 })).error!.message, /3 values, but the weight has 2 input channels/);
    assert.match((await saliency.analyse({ id: 2, method: 'wanda', alpha: 0.5 })).error!.message, /no entry of .*stats\.safetensors names this weight/);
    assert.match((await saliency.analyse({ id: 0, method: 'smoothquant', alpha: 0.5 })).error!.message, /smoothquant needs max\|X_j\|/);

    // LIFT: b.weight has rank 2, so at r = 2 W_r = W; one principal weight (⌈6/20⌉), |W_r| = 6 at [2, 1], also the
    // largest |W|. Without a base there is no delta overlap; with one, the largest change is elsewhere.
    const lift = await saliency.analyse({ id: 1, method: 'lift', alpha: 0.5, rank: 2 });
    assert.deepEqual(lift.detail?.lift, { rank: 2, overlaps: { principal: 1, withMagnitude: 1, withDelta: null }, base: null, baseProblem: null });
    assert.deepEqual(lift.detail?.topWeights.slice(0, 2).map((w) => [w.row, w.col]), [[2, 1], [2, 0]]);
    assert.ok(Math.abs(lift.detail!.topWeights[0]!.score! - 6) < 1e-12);
    assert.equal((await saliency.analyse({ id: 1, method: 'lift', alpha: 0.5, rank: 0 })).error?.code, 'INVALID_ARGUMENT');
    const base = join(dir, 'base.safetensors');
    writeFileSync(base, buildSafetensors([
      { name: 'b.weight', dtype: 'F16', shape: [3, 2], data: new Uint8Array(Uint16Array.from([0x4500, 0x4000, 0x4200, 0x4400, 0x4500, 0x4600]).buffer) }, // 5 2 3 4 5 6
      { name: 'a.weight', dtype: 'F32', shape: [3, 2], data: f32s(1, 2, 3, 4, 5, 6) },
    ]));
    await saliency.setBase(base);
    assert.deepEqual(events.at(-1), { type: 'saliencyBase', file: base });
    const withBase = await saliency.analyse({ id: 1, method: 'lift', alpha: 0.5, rank: 2 });
    assert.notEqual(withBase, lift, 'results computed before the base are dropped');
    assert.deepEqual(withBase.detail?.lift?.overlaps, { principal: 1, withMagnitude: 1, withDelta: 0 });
    assert.equal(withBase.detail?.lift?.base, base);
    assert.match((await saliency.analyse({ id: 2, method: 'lift', alpha: 0.5 })).detail!.lift!.baseProblem!, /the base has no tensor named c\.weight/);
    assert.match((await saliency.analyse({ id: 0, method: 'lift', alpha: 0.5 })).detail!.lift!.baseProblem!, /shape \[3, 2\], not \[2, 3\]/);
    await assert.rejects(saliency.setBase(join(dir, 'missing.safetensors')), (e: unknown) => e instanceof FormatError && e.code === 'FILE_NOT_FOUND');

    // A file that cannot be imported leaves the statistics as they were.
    const broken = join(dir, 'broken.safetensors');
    writeFileSync(broken, new Uint8Array(4));
    await assert.rejects(saliency.importFrom(broken), (e: unknown) => e instanceof FormatError && e.code === 'HEADER_TOO_SMALL');
    assert.equal(saliency.activations(), summary);
  } finally {
    saliency.dispose();
    engine.dispose();
  }
});
