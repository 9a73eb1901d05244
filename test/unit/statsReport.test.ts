import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildStatsReport, statsReportToCsv } from '../../extension/engine/statsReport';
import type { Checkpoint } from '../../extension/formats/checkpoint';
import type { TensorOutcome } from '../../extension/engine/scanEngine';
import { QUANTILE_KEYS, type TensorStats } from '../../extension/engine/statsTypes';

const checkpoint: Checkpoint = {
  format: 'safetensors',
  files: [{ path: 'm.safetensors', bytes: 100 }],
  metadata: { a: 'b' },
  tensors: [
    { name: 'w, "quoted"', dtype: 'F32', shape: [2, 2], file: 'm.safetensors', offset: 64, bytes: 16 },
    { name: 'odd', dtype: 'C64', shape: [1], file: 'm.safetensors', offset: 80, bytes: 8 },
    { name: 'pending', dtype: 'F32', shape: [1], file: 'm.safetensors', offset: 88, bytes: 4 },
  ],
};

const stats: TensorStats = {
  count: 4, mean: 0.5, std: 1, min: -1, max: 2, absmax: 2, l2: 2.4, zeros: 0, nan: 0, posinf: 0, neginf: 0,
  skewness: 0.1, kurtosis: null,
  quantiles: Object.fromEntries([...QUANTILE_KEYS].reverse().map((k) => [k, 0.25])) as TensorStats['quantiles'],
};

const outcomes = new Map<number, TensorOutcome>([
  [0, { index: 0, analysis: { stats, histogram: { linear: { lo: 0, hi: 0, counts: [] }, logAbs: { lo: 0, hi: 0, counts: [], zeros: 0 }, tails: [] } } }],
  [1, { index: 1, problem: { code: 'UNSUPPORTED_DTYPE', message: 'C64 cannot be decoded' } }],
]);

test('the report keeps the documented key order and marks missing outcomes', () => {
  const report = buildStatsReport(checkpoint, outcomes);
  assert.deepEqual(Object.keys(report), ['format', 'files', 'metadata', 'tensors']);
  assert.deepEqual(Object.keys(report.tensors[0]!), ['name', 'dtype', 'shape', 'file', 'offset', 'bytes', 'stats', 'error']);
  assert.deepEqual(Object.keys(report.tensors[0]!.stats!.quantiles), [...QUANTILE_KEYS]);
  assert.deepEqual(report.tensors[1]!.error, { code: 'UNSUPPORTED_DTYPE', message: 'C64 cannot be decoded' });
  assert.equal(report.tensors[1]!.stats, null);
  assert.equal(report.tensors[2]!.stats, null);
  assert.equal(report.tensors[2]!.error, null);
});

test('a subset of tensors can be reported', () => {
  const report = buildStatsReport(checkpoint, outcomes, [1]);
  assert.deepEqual(report.tensors.map((t) => t.name), ['odd']);
});

test('CSV quotes awkward names and leaves nulls empty', () => {
  const lines = statsReportToCsv(buildStatsReport(checkpoint, outcomes)).trimEnd().split('\n');
  assert.equal(lines.length, 4);
  assert.ok(lines[0]!.startsWith('name,dtype,shape,file,offset,bytes,count,mean'));
  assert.ok(lines[1]!.startsWith('"w, ""quoted""",F32,2x2,m.safetensors,64,16,4,0.5,1,-1,2,2,2.4,0,0,0,0,0.1,,'));
  assert.ok(lines[2]!.endsWith('UNSUPPORTED_DTYPE: C64 cannot be decoded'));
});
