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
    assert.equal((await saliency.analyse({ id: 0, method: 'lift', alpha: 0.5 })).error?.code, 'NOT_AVAILABLE');
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
