/** `weightscope saliency` on small hand-made files: the exact JSON shape, hand-computed scores, usage and input errors. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildSafetensors } from '../fixtures/safetensorsWriter';

const cli = join(__dirname, '../../dist/cli.js');
const dir = mkdtempSync(join(tmpdir(), 'weightscope-saliency-cli-'));
const f32s = (...values: number[]): Uint8Array => new Uint8Array(Float32Array.from(values).buffer);

function weightscope(...args: string[]) {
  const result = spawnSync(process.execPath, [cli, 'saliency', ...args], { encoding: 'utf8' });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

function json(...args: string[]) {
  const run = weightscope(...args, '--json');
  assert.equal(run.status, 0, run.stderr);
  return JSON.parse(run.stdout);
}

// W (2 × 3) = [[1, -4, 2], [-3, 0.5, Inf]] and a 1-D norm that is not a weight.
const model = join(dir, 'model.safetensors');
writeFileSync(model, buildSafetensors([
  { name: 'layer.weight', dtype: 'F32', shape: [2, 3], data: f32s(1, -4, 2, -3, 0.5, Number.POSITIVE_INFINITY) },
  { name: 'norm.weight', dtype: 'F32', shape: [3], data: f32s(1, 1, 1) },
  { name: 'ties.weight', dtype: 'F32', shape: [2, 2], data: f32s(2, -2, 2, -2) },
]));
// ‖X‖₂ = [2, 1, 0] for layer.weight, in the documented layout, and an entry for no weight.
const stats = join(dir, 'stats.safetensors');
writeFileSync(stats, buildSafetensors([
  { name: 'layer.weight.act_l2', dtype: 'F32', shape: [3], data: f32s(2, 1, 0) },
  { name: 'other.weight.act_l2', dtype: 'F32', shape: [3], data: f32s(1, 1, 1) },
]));

test('magnitude: exactly the documented keys in order, ties to the lower index, Inf as null, unmatched [] without a file', () => {
  const report = json(model, '--method', 'magnitude', '--top', '3');
  assert.deepEqual(report, {
    method: 'magnitude',
    tensors: [
      {
        name: 'layer.weight',
        top_channels: [{ index: 2, score: null }, { index: 1, score: 4 }, { index: 0, score: 3 }],
        top_weights: [{ row: 1, col: 2, score: null }, { row: 0, col: 1, score: 4 }, { row: 1, col: 0, score: 3 }],
      },
      {
        name: 'ties.weight',
        top_channels: [{ index: 0, score: 2 }, { index: 1, score: 2 }],
        top_weights: [{ row: 0, col: 0, score: 2 }, { row: 0, col: 1, score: 2 }, { row: 1, col: 0, score: 2 }],
      },
    ],
    unmatched: [],
  });
  assert.deepEqual(Object.keys(report), ['method', 'tensors', 'unmatched']);
  assert.deepEqual(Object.keys(report.tensors[0]!.top_weights[0]!), ['row', 'col', 'score']);
  assert.deepEqual(Object.keys(report.tensors[0]!.top_channels[0]!), ['index', 'score']);
});

test('wanda: |W|·‖X‖₂ with the channel score Σ_i; Inf·0 is NaN and never ranked; unmatched entries listed', () => {
  const report = json(model, '--method', 'wanda', '--activations', stats, '--top', '10');
  assert.deepEqual(report, {
    method: 'wanda',
    tensors: [{
      name: 'layer.weight',
      top_channels: [{ index: 0, score: 8 }, { index: 1, score: 4.5 }],
      top_weights: [{ row: 1, col: 0, score: 6 }, { row: 0, col: 1, score: 4 }, { row: 0, col: 0, score: 2 }, { row: 1, col: 1, score: 0.5 }, { row: 0, col: 2, score: 0 }],
    }],
    unmatched: ['other.weight'],
  });
  // OBS: W²·‖X‖₂² ; SmoothQuant needs max|X|, which this file does not hold.
  const obs = json(model, '--method', 'obs', '--activations', stats, '--top', '2');
  assert.deepEqual(obs.tensors[0].top_weights, [{ row: 1, col: 0, score: 36 }, { row: 0, col: 1, score: 16 }]);
});

// An exactly rank-1 matrix (distinct |values|): its rank-1 approximation is itself, to rounding.
const rankOne = join(dir, 'rank-one.safetensors');
writeFileSync(rankOne, buildSafetensors([
  { name: 'proj.weight', dtype: 'F32', shape: [3, 2], data: f32s(1, -2, 3, -6, 5, -10) },
  { name: 'bad.weight', dtype: 'F32', shape: [2, 2], data: f32s(1, Number.NaN, 2, 3) },
]));

test('lift: the documented shape, |W_r| of an exactly rank-1 matrix, no ranking for a matrix with NaN', () => {
  for (const rank of ['1', '8']) {
    const report = json(rankOne, '--method', 'lift', '--rank', rank, '--top', '4');
    assert.deepEqual(Object.keys(report), ['method', 'tensors', 'unmatched']);
    assert.equal(report.method, 'lift');
    assert.deepEqual(report.unmatched, []);
    const [proj, bad] = report.tensors;
    assert.deepEqual(Object.keys(proj), ['name', 'top_channels', 'top_weights']);
    assert.deepEqual(proj.top_weights.map((w: { row: number; col: number }) => [w.row, w.col]), [[2, 1], [1, 1], [2, 0], [1, 0]]);
    assert.deepEqual(proj.top_channels.map((c: { index: number }) => c.index), [1, 0]);
    const scores = [...proj.top_weights, ...proj.top_channels].map((e: { score: number }) => e.score);
    [10, 6, 5, 3, 10, 5].forEach((want, i) => assert.ok(Math.abs(scores[i]! - want) < 1e-12 * want, `${scores[i]} vs ${want}`));
    assert.deepEqual(bad, { name: 'bad.weight', top_channels: [], top_weights: [] });
  }
  const table = weightscope(rankOne, '--method', 'lift', '--rank', '1');
  assert.equal(table.status, 0, table.stderr);
  assert.match(table.stdout, /principal ∩ top \|W\|/);
  assert.match(table.stdout, /proj\.weight\s+\[3, 2\].*100\.0 %/);
});

test('the human-readable table lists the top channels and weights and the unmatched entries', () => {
  const run = weightscope(model, '--method', 'wanda', '--activations', stats);
  assert.equal(run.status, 0, run.stderr);
  assert.match(run.stdout, /layer\.weight\s+\[2, 3\]\s+0 \(8\.000\), 1 \(4\.500\)\s+\[1, 0\] \(6\.000\)/);
  assert.match(run.stdout, /unmatched activation entries \(1\): other\.weight/);
});

test('usage errors exit 2', () => {
  const cases: [string[], RegExp][] = [
    [[model], /needs --method/],
    [[model, '--method', 'random'], /--method is one of magnitude, lift, wanda, awq, smoothquant, obs/],
    [[model, '--method', 'smoothquant', '--alpha', '1.5'], /--alpha takes a number from 0 to 1/],
    [[model, '--method', 'smoothquant', '--alpha', 'half'], /--alpha takes a number/],
    [[model, '--method', 'magnitude', '--top', '0'], /--top takes a whole number from 1/],
    [[model, '--method', 'magnitude', '--top', '70000'], /--top takes a whole number from 1 to 65536/],
    [[model, model, '--method', 'magnitude'], /exactly one PATH/],
    [[model, '--method', 'wanda'], /wanda needs activation statistics \(‖X_j‖₂\): pass --activations FILE/],
    [[model, '--method', 'smoothquant', '--activations', stats], /smoothquant needs max\|X_j\| \(from max\|X\|\), but .* holds ‖X‖₂ only/],
    [[model, '--method', 'magnitude', '--rank', '0'], /--rank takes a whole number/],
    [[model, '--method', 'lift', '--rank', '257'], /--rank takes a whole number from 1 to 256/],
    [[model, '--method', 'lift', '--rank', 'two'], /--rank takes a whole number/],
  ];
  for (const [args, pattern] of cases) {
    const run = weightscope(...args);
    assert.equal(run.status, 2, `${args.join(' ')}: ${run.stderr}`);
    assert.match(run.stderr, pattern, args.join(' '));
  }
  assert.equal(weightscope('--help').status, 0);
});

test('unreadable or mismatched inputs exit 3 with the code and the file', () => {
  const broken = join(dir, 'broken.dat');
  writeFileSync(broken, new Uint8Array([1, 0, 0, 0, ...new Array<number>(20).fill(0)]));
  const foreign = join(dir, 'foreign.safetensors');
  writeFileSync(foreign, buildSafetensors([{ name: 'blk.7.attn_q.weight', dtype: 'F32', shape: [3], data: f32s(1, 2, 3) }]));
  const cases: [string[], RegExp][] = [
    [[model, '--method', 'wanda', '--activations', broken], /INVALID_NAME: .*broken\.dat: entry 0 declares a name of 0 bytes/],
    [[model, '--method', 'wanda', '--activations', join(dir, 'missing.gguf')], /FILE_NOT_FOUND: .*missing\.gguf/],
    [[model, '--method', 'smoothquant', '--activations', foreign], /ACTIVATIONS_MISMATCH: .*foreign\.safetensors: none of its 1 entries names a tensor/],
    [[join(dir, 'none.safetensors'), '--method', 'magnitude'], /FILE_NOT_FOUND/],
  ];
  for (const [args, pattern] of cases) {
    const run = weightscope(...args);
    assert.equal(run.status, 3, `${args.join(' ')}: ${run.stderr}`);
    assert.match(run.stderr, pattern);
  }
  // A weight-only method lists a foreign file's entries as unmatched and still reports the weights.
  assert.deepEqual(json(model, '--method', 'magnitude', '--activations', foreign).unmatched, ['blk.7.attn_q.weight']);
  assert.deepEqual(json(model, '--method', 'lift', '--activations', foreign).unmatched, ['blk.7.attn_q.weight']);
  const lift = weightscope(join(dir, 'none.safetensors'), '--method', 'lift');
  assert.equal(lift.status, 3);
  assert.match(lift.stderr, /FILE_NOT_FOUND/);
});
