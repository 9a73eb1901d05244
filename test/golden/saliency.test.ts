/**
 * `weightscope saliency --json` against float64 references computed by numpy (saliency_reference.py), on seeded
 * models and activation statistics written in every import format (a GGUF importance matrix by gguf-py's GGUFWriter,
 * the legacy .dat byte by byte, safetensors in the documented layout and as act_scales), and on the real checkpoints
 * in ../shared/checkpoints with a generated importance matrix. The .npz and .pt statistics are read by numpy's own
 * np.load and by torch_reference.py's stub unpickler. Rankings must be identical; scores equal to 1e-12
 * relative. LIFT is held to numpy's exact truncated SVD on low-rank matrices plus noise, its overlaps to numpy's
 * top 5 % sets. Skipped with a message when python3 with numpy and gguf is not installed (scripts/setup.sh installs them).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openActivationStats } from '../../extension/activations/openActivations';
import { analyseSaliency, planSaliency, type SaliencyReport } from '../../extension/engine/saliency';
import { runQuantPreview } from '../../extension/engine/quantPreview';
import { ScanEngine } from '../../extension/engine/scanEngine';
import { openCheckpoint } from '../../extension/formats/openCheckpoint';
import { nodeSourceOpener } from '../../extension/source/nodeFileSource';
import { ReferenceScript, cliJson, cliPath, missingPython, root, sharedCheckpoints } from './harness';

const reference = new ReferenceScript('saliency_reference.py');
const skip = missingPython('gguf', 'numpy');
const dir = mkdtempSync(join(tmpdir(), 'weightscope-saliency-golden-'));
const TOP = '12';
const fixtures = (): string => reference.fixtures();
const python = (...args: string[]): string => reference.text(...args);

function weightscope(model: string, method: string, alpha: string, activations?: string, ...flags: string[]): SaliencyReport {
  return cliJson('saliency', model, '--method', method, '--alpha', alpha, '--top', TOP, '--json', ...(activations ? ['--activations', activations] : []), ...flags);
}

function close(got: number | null, want: number | null, tolerance = 1e-12): boolean {
  if (got === null || want === null) return got === want;
  return got === want || Math.abs(got - want) <= tolerance * Math.max(Math.abs(got), Math.abs(want));
}

/** Differences between our document and the reference: names, rankings exactly, scores to `tolerance` relative. */
function compare(label: string, got: SaliencyReport, want: SaliencyReport, tolerance = 1e-12): string[] {
  const problems: string[] = [];
  assert.deepEqual(Object.keys(got), ['method', 'tensors', 'unmatched'], label);
  assert.equal(got.method, want.method, label);
  assert.deepEqual(got.unmatched, want.unmatched, `${label}: unmatched`);
  assert.deepEqual(got.tensors.map((t) => t.name), want.tensors.map((t) => t.name), `${label}: tensors`);
  got.tensors.forEach((g, i) => {
    const w = want.tensors[i]!;
    const where = `${label} ${g.name}`;
    assert.deepEqual(Object.keys(g), ['name', 'top_channels', 'top_weights'], where);
    assert.deepEqual(g.top_channels.map((c) => c.index), w.top_channels.map((c) => c.index), `${where}: channel ranking`);
    assert.deepEqual(g.top_weights.map((c) => [c.row, c.col]), w.top_weights.map((c) => [c.row, c.col]), `${where}: weight ranking`);
    g.top_channels.forEach((c, k) => close(c.score, w.top_channels[k]!.score, tolerance) || problems.push(`${where}: channel ${c.index} score ${c.score}, numpy ${w.top_channels[k]!.score}`));
    g.top_weights.forEach((c, k) => close(c.score, w.top_weights[k]!.score, tolerance) || problems.push(`${where}: weight [${c.row}, ${c.col}] score ${c.score}, numpy ${w.top_weights[k]!.score}`));
  });
  return problems;
}

function check(model: string, method: string, alpha: string, activations?: string): SaliencyReport {
  const got = weightscope(model, method, alpha, activations);
  const want = JSON.parse(python('saliency', model, method, TOP, alpha, ...(activations ? [activations] : []))) as SaliencyReport;
  assert.deepEqual(compare(`${method} ${activations ?? ''}`, got, want), []);
  return got;
}

test('magnitude of a safetensors model (F32, BF16, F16, a 4-D convolution, ties, NaN) equals numpy', { skip }, () => {
  const got = check(join(fixtures(), 'model.safetensors'), 'magnitude', '0.5');
  // 1-D and integer tensors are not weights; the convolution is flattened to [6, 12].
  assert.deepEqual(got.tensors.map((t) => t.name), [
    'model.layers.0.self_attn.q_proj.weight', 'model.layers.0.mlp.down_proj.weight', 'model.layers.0.mlp.up_proj.weight',
    'model.layers.1.self_attn.o_proj.weight', 'model.layers.1.mlp.gate_proj.weight', 'conv.weight',
  ]);
  assert.deepEqual(got.unmatched, []);
});

test('Wanda and OBS from a GGUF importance matrix, its legacy .dat and the safetensors layout equal numpy', { skip }, () => {
  const model = join(fixtures(), 'model.safetensors');
  for (const file of ['imatrix.gguf', 'imatrix.dat', 'stats.safetensors', 'stats.npz', 'stats_compressed.npz']) {
    for (const method of ['wanda', 'obs']) {
      const got = check(model, method, '0.5', join(fixtures(), file));
      assert.ok(got.tensors.length >= 4, `${method} ${file}: ${got.tensors.length} tensors`);
    }
  }
  // llama.cpp names matched through the name table; the entry of no weight is unmatched, the one of a foreign
  // length (41 values for 24 columns) leaves its weight out with a warning.
  const args = [cliPath, 'saliency', model, '--method', 'wanda', '--json', '--activations', join(fixtures(), 'imatrix.gguf')];
  const run = spawnSync(process.execPath, args, { encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  const imatrix = JSON.parse(run.stdout) as SaliencyReport;
  assert.deepEqual(imatrix.unmatched, ['blk.9.attn_k.weight']);
  assert.deepEqual(imatrix.tensors.map((t) => t.name), [
    'model.layers.0.self_attn.q_proj.weight', 'model.layers.0.mlp.down_proj.weight', 'model.layers.0.mlp.up_proj.weight', 'model.layers.1.self_attn.o_proj.weight',
  ]);
  assert.match(run.stderr, /weightscope: skipped model\.layers\.1\.mlp\.gate_proj\.weight: NOT_APPLICABLE: "blk\.1\.ffn_gate\.weight" has 41 values, but the weight has 24 input channels/);
  // A weight no entry names is said to be left out, not dropped silently.
  assert.match(run.stderr, /weightscope: skipped conv\.weight: NO_STATISTICS: no entry of \S*imatrix\.gguf names this weight/);
});

test('AWQ and SmoothQuant (α = 0, 0.5, 0.8, 1; a zero column gives null) from the layout and act_scales equal numpy', { skip }, () => {
  const model = join(fixtures(), 'model.safetensors');
  for (const file of ['stats.safetensors', 'stats.npz']) check(model, 'awq', '0.5', join(fixtures(), file));
  for (const alpha of ['0', '0.5', '0.8', '1']) {
    for (const file of ['stats.safetensors', 'stats.npz', 'act_scales.safetensors', 'act_scales.pt']) check(model, 'smoothquant', alpha, join(fixtures(), file));
  }
  const sq = weightscope(model, 'smoothquant', '0.5', join(fixtures(), 'act_scales.safetensors'));
  const ties = sq.tensors.find((t) => t.name === 'model.layers.1.self_attn.o_proj.weight')!;
  assert.deepEqual(ties.top_channels[0], { index: 5, score: null }); // s_5 = x^α / 0 = Inf
});

test('a GGUF model (F32, F16, Q8_0, Q4_K) with HF-named act_scales and a legacy .dat equals numpy', { skip }, () => {
  const model = join(fixtures(), 'model.gguf');
  check(model, 'magnitude', '0.5');
  const sq = check(model, 'smoothquant', '0.5', join(fixtures(), 'gguf_act_scales.safetensors'));
  assert.deepEqual(sq.tensors.map((t) => t.name), ['token_embd.weight', 'blk.0.attn_q.weight', 'blk.0.ffn_up.weight', 'blk.0.ffn_down.weight']);
  check(model, 'obs', '0.5', join(fixtures(), 'gguf_imatrix.dat'));
});

test('results do not depend on workers or chunk size', { skip }, () => {
  const model = join(fixtures(), 'model.gguf');
  const scales = join(fixtures(), 'gguf_act_scales.safetensors');
  assert.deepEqual(weightscope(model, 'smoothquant', '0.3', scales, '--workers', '2', '--chunk-size', '4096'), weightscope(model, 'smoothquant', '0.3', scales));
});

test('the real checkpoints in ../shared/checkpoints: magnitude, and Wanda with a generated importance matrix, equal numpy', { skip }, (t) => {
  const files = sharedCheckpoints
    ? readdirSync(sharedCheckpoints).filter((f) => /^(gguf_.*\.gguf|st_(capp_gpt2|torchtune_gemma).*\.safetensors)$/.test(f)).sort()
    : [];
  if (files.length === 0) return t.skip('no ../shared/checkpoints folder beside the project');
  for (const name of files) {
    const model = join(sharedCheckpoints!, name);
    const magnitude = check(model, 'magnitude', '0.5');
    assert.ok(magnitude.tensors.length > 0, name);
    const imatrix = join(dir, `${name}.imatrix.gguf`);
    python('make-imatrix', model, imatrix);
    const wanda = check(model, 'wanda', '0.5', imatrix);
    assert.equal(wanda.tensors.length, magnitude.tensors.length, name);
  }
});

let liftDir: string | undefined;
function liftFixtures(): string {
  if (!liftDir) {
    liftDir = join(dir, 'lift');
    python('make-lift', liftDir);
  }
  return liftDir;
}

// The randomized SVD's rank-r part is the exact one when the rest of the spectrum lies far below it (the noise here):
// numpy's full SVD, truncated, is the reference, to 1e-9 relative.
test('LIFT at ranks 1, 4 and 8 (F32, F64, F16, a 3-D tensor, a matrix of rank below r) equals numpy\'s truncated SVD', { skip }, () => {
  const model = join(liftFixtures(), 'lift.safetensors');
  for (const rank of ['1', '4', '8']) {
    const got = weightscope(model, 'lift', '0.5', undefined, '--rank', rank);
    const want = JSON.parse(python('lift', model, TOP, rank)) as SaliencyReport;
    assert.deepEqual(compare(`lift rank ${rank}`, got, want, 1e-9), []);
    assert.equal(got.tensors.length, 5);
  }
  const split = weightscope(model, 'lift', '0.5', undefined, '--rank', '4', '--workers', '2', '--chunk-size', '4096');
  assert.deepEqual(split, weightscope(model, 'lift', '0.5', undefined, '--rank', '4'));
});

test('LIFT overlaps with the top 5 % by |W| and by |W − W_base| (3 % changed: ties at 0) equal numpy', { skip }, async () => {
  const [model, base] = ['lift.safetensors', 'lift_base.safetensors'].map((f) => join(liftFixtures(), f)) as [string, string];
  const [checkpoint, baseCheckpoint] = await Promise.all([openCheckpoint(model, nodeSourceOpener), openCheckpoint(base, nodeSourceOpener)]);
  const engine = new ScanEngine({ distDir: join(root, 'dist'), workers: 2, chunkBytes: 512 });
  try {
    for (const withBase of [true, false]) {
      const want = JSON.parse(python('lift-overlaps', model, '4', ...(withBase ? [base] : []))) as Record<string, { principal: number; with_magnitude: number; with_delta?: number }>;
      const targets = planSaliency(checkpoint, 'lift').targets;
      assert.deepEqual(targets.map((t) => t.entry.name), Object.keys(want));
      for (const target of targets) {
        const baseTensor = withBase ? baseCheckpoint.tensors.find((t) => t.name === target.entry.name) : undefined;
        const analysis = await analyseSaliency(engine.pool, target, {
          method: 'lift', alpha: 0.5, top: 4, chunkBytes: engine.chunkBytes, lift: { rank: 4, overlaps: true, ...(baseTensor ? { base: baseTensor } : {}) },
        });
        const w = want[target.entry.name]!;
        assert.deepEqual(analysis.overlaps, { principal: w.principal, withMagnitude: w.with_magnitude, withDelta: w.with_delta ?? null }, target.entry.name);
      }
    }
  } finally {
    engine.dispose();
  }
});

test('quantization errors weighted per input channel by an imatrix\'s Σx² equal numpy (reference_quant.py quantizers)', { skip }, async () => {
  const model = join(fixtures(), 'model.safetensors');
  const imatrix = join(fixtures(), 'imatrix.gguf');
  const schemes = ['int8-sym-row', 'int4-asym-g128', 'int4-sym-g32', 'fp8-e4m3-tensor', 'mxfp4', 'nvfp4'] as const;
  const checkpoint = await openCheckpoint(model, nodeSourceOpener);
  const plan = planSaliency(checkpoint, 'obs', await openActivationStats(imatrix, nodeSourceOpener));
  const byIndex = new Map(plan.targets.map((t) => [t.index, t.activation]));
  const engine = new ScanEngine({ distDir: join(root, 'dist'), workers: 2, chunkBytes: 4096 });
  try {
    const outcomes = await runQuantPreview(engine.pool, checkpoint.tensors, [...byIndex.keys()], {
      schemes, keep: [0.001], chunkBytes: engine.chunkBytes, weightsOf: (index) => byIndex.get(index),
    });
    const want = JSON.parse(python('weighted-quant', model, imatrix, ...schemes)) as Record<string, Record<string, number>>;
    assert.deepEqual(Object.keys(want).sort(), [...byIndex.keys()].map((i) => checkpoint.tensors[i]!.name).sort());
    const problems: string[] = [];
    for (const [index, outcome] of outcomes) {
      const name = checkpoint.tensors[index]!.name;
      for (const result of outcome.results ?? []) {
        const w = want[name]!;
        const damage = w[result.scheme]! / w.signal!;
        if (!close(result.metrics.weighted?.damage ?? null, damage)) problems.push(`${name} ${result.scheme}: weighted damage ${result.metrics.weighted?.damage}, numpy ${damage}`);
        // Kept outliers come with weighted sums too; unweighted metrics are unchanged.
        assert.ok(result.kept[0]!.metrics.weighted, `${name} ${result.scheme} kept`);
      }
    }
    assert.deepEqual(problems, []);
  } finally {
    engine.dispose();
  }
});
