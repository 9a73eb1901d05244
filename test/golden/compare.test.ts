/**
 * Golden numbers for `diff` and `merge`: the CLI against independent float64 references (compare_reference.py,
 * numpy) on generated bases with fine-tunes carrying known low-rank deltas and frozen layers, and on the real
 * checkpoint families in ../shared/checkpoints (cross-checked with the family table of its README).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openCheckpoint } from '../../extension/formats/openCheckpoint';
import { nodeSourceOpener } from '../../extension/source/nodeFileSource';
import { compareDiff } from './diffDocument';
import { ReferenceScript, cliPath, missingPython, sharedCheckpoints } from './harness';

const reference = new ReferenceScript('compare_reference.py');
const shared = sharedCheckpoints;
const noNumpy = missingPython('numpy');
const noSafetensors = missingPython('numpy', 'safetensors');

type Json = Record<string, unknown>;

function weightscope(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [cliPath, ...args], { encoding: 'utf8', maxBuffer: 256 << 20 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function weightscopeJson(...args: string[]): Json {
  const r = weightscope(...args, '--json');
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as Json;
}

const python = (...args: string[]): Json => reference.json(...args);

const fixtures = noNumpy ? '' : mkdtempSync(join(tmpdir(), 'weightscope-compare-'));
if (!noNumpy) reference.text('make-finetunes', fixtures);
const ft = (name: string): string => join(fixtures, name);

test('diffs of generated fine-tunes match the float64 reference, whatever the worker count or chunk size', { skip: noNumpy }, () => {
  const pairs = [['base', 'ft_a'], ['base', 'ft_b'], ['ft_a', 'ft_c'], ['base', 'renamed'], ['special_a', 'special_b']];
  for (const [a, b] of pairs) {
    const [pa, pb] = [ft(`${a}.safetensors`), ft(`${b}.safetensors`)];
    const got = weightscopeJson('diff', pa, pb);
    assert.deepEqual(compareDiff(got, python('diff', pa, pb)), [], `${a} vs ${b}`);
    assert.deepEqual(weightscopeJson('diff', pa, pb, '--workers', '1', '--chunk-size', '4096'), got, `${a} vs ${b}: one worker, 4 KiB chunks`);
  }
});

test('alignment strips wrapper prefixes and reports what is only on one side or mismatched', { skip: noNumpy }, () => {
  // renamed.safetensors is ft_a wrapped as a PEFT model, with a tensor dropped, one added, one reshaped, one recast.
  const got = weightscopeJson('diff', ft('ft_a.safetensors'), ft('renamed.safetensors'));
  assert.deepEqual(got.only_a, ['model.layers.2.mlp.up_proj.weight']);
  assert.deepEqual(got.only_b, ['base_model.model.extra.bias']);
  assert.deepEqual(got.mismatched, [
    { name: 'model.layers.1.mlp.gate_proj.weight', shape_a: [48, 32], shape_b: [32, 48], dtype_a: 'F16', dtype_b: 'F16' },
    { name: 'lm_head.weight', shape_a: [64, 32], shape_b: [64, 32], dtype_a: 'BF16', dtype_b: 'F32' },
  ]);
  const head = (got.tensors as Json[]).find((t) => t.name === 'lm_head.weight')!;
  assert.equal(head.dtype_b, 'F32', 'a dtype mismatch of equal shapes is still compared');
  assert.equal(head.identical, false);
  assert.equal(head.changed_fraction, 0, 'BF16 values recast to F32 are the same numbers');
});

test('frozen layers are bit-identical and planted low-rank deltas show their singular values', { skip: noNumpy }, () => {
  const planted = JSON.parse(readFileSync(ft('planted.json'), 'utf8')) as Record<string, Record<string, number[]>>;
  const got = weightscopeJson('diff', ft('base.safetensors'), ft('ft_a.safetensors'), '--rank', '8');
  const tensors = got.tensors as (Json & { low_rank?: { singular_values: number[]; frobenius_squared: number; energy: number[] } })[];
  for (const t of tensors) {
    const frozen = String(t.name).startsWith('model.layers.0.') || t.name === 'model.embed_tokens.weight';
    assert.equal(t.identical, frozen, String(t.name));
    if (frozen) assert.equal(t.low_rank, undefined, 'no low rank for identical pairs');
  }
  for (const [name, sigmas] of Object.entries(planted.ft_a!)) {
    const low = tensors.find((t) => t.name === name)!.low_rank!;
    const exact = python('lowrank', ft('base.safetensors'), ft('ft_a.safetensors'), name) as { singular_values: number[]; frobenius_squared: number };
    sigmas.forEach((sigma, i) => {
      assert.ok(Math.abs(low.singular_values[i]! - exact.singular_values[i]!) <= 1e-9 * exact.singular_values[0]!, `${name} σ${i + 1} vs numpy`);
      // Stored in F32/BF16, the delta is the planted one plus rounding noise far below it.
      assert.ok(Math.abs(low.singular_values[i]! - sigma) <= 0.02 * sigma, `${name} σ${i + 1}: ${low.singular_values[i]} vs planted ${sigma}`);
    });
    assert.ok(Math.abs(low.frobenius_squared - exact.frobenius_squared) <= 1e-12 * exact.frobenius_squared);
    assert.ok(low.energy[sigmas.length - 1]! > 0.99, `${name}: the planted rank holds the energy`);
  }
});

const MERGES: [string, Record<string, number>][] = [
  ['task-arithmetic', { lambda: 0.7 }],
  ['ties', { density: 0.3, lambda: 1.2 }],
  ['dare', { lambda: 1, drop: 0.6, seed: 11 }],
  ['breadcrumbs', { beta: 0.05, gamma: 0.3, lambda: 1 }],
  ['tall', { lambda: 0.4 }],
  ['consensus', { lambda: 0.3, k: 2 }],
];

async function tensorBytes(path: string): Promise<Map<string, Buffer>> {
  const checkpoint = await openCheckpoint(path, nodeSourceOpener);
  const file = readFileSync(path);
  return new Map(checkpoint.tensors.map((t) => [t.name, file.subarray(t.offset, t.offset + t.bytes)]));
}

test('merges of every method match the float64 reference: statistics, merged bytes and masks', { skip: noNumpy }, async () => {
  const models = ['ft_a', 'ft_b', 'ft_c'].map((m) => ft(`${m}.safetensors`));
  for (const [method, params] of MERGES) {
    const out = mkdtempSync(join(tmpdir(), `weightscope-merge-${method}-`));
    const flags = Object.entries(params).flatMap(([k, v]) => [`--${k}`, String(v)]);
    const got = weightscopeJson('merge', '--base', ft('base.safetensors'), '--models', ...models, '--method', method, ...flags,
      '--out', join(out, 'merged.safetensors'), '--masks', join(out, 'masks.safetensors'));
    const want = python('merge', join(out, 'reference'), method, JSON.stringify(params), ft('base.safetensors'), ...models) as {
      params: Json; tensors: Json[];
    };
    assert.deepEqual(Object.keys(got), ['method', 'params', 'tensors']);
    assert.equal(got.method, method);
    assert.deepEqual(got.params, want.params, `${method}: params`);
    for (const [i, t] of (got.tensors as Json[]).entries()) {
      assert.deepEqual(Object.keys(t), ['name', 'kept_fraction', 'sign_conflict_fraction', 'task_counts']);
      const w = want.tensors[i]!;
      for (const key of ['name', 'kept_fraction', 'sign_conflict_fraction', 'task_counts']) assert.deepEqual(t[key], w[key], `${method} ${String(t.name)} ${key}`);
    }
    for (const file of ['merged.safetensors', 'masks.safetensors']) {
      const [ours, theirs] = await Promise.all([tensorBytes(join(out, file)), tensorBytes(join(out, 'reference', file))]);
      assert.deepEqual([...ours.keys()], [...theirs.keys()], `${method} ${file}: tensor names`);
      for (const [name, bytes] of ours) assert.ok(bytes.equals(theirs.get(name)!), `${method} ${file}: bytes of ${name}`);
    }
  }
});

test('merged files record how they were made and read back with the Python safetensors library', { skip: noSafetensors }, async () => {
  const out = mkdtempSync(join(tmpdir(), 'weightscope-merge-py-'));
  const merged = join(out, 'merged.safetensors');
  const masks = join(out, 'masks.safetensors');
  weightscopeJson('merge', '--base', ft('base.safetensors'), '--models', ft('ft_a.safetensors'), ft('ft_b.safetensors'), '--method', 'ties', '--out', merged, '--masks', masks);
  const script = `
import json, sys
from safetensors import safe_open
out = {}
for path in sys.argv[1:]:
    with safe_open(path, "np") as f:
        loaded = {}
        for k in f.keys():
            s = f.get_slice(k)
            if s.get_dtype() != "BF16":
                loaded[k] = float(f.get_tensor(k).astype("float64").sum())
        out[path] = {"metadata": f.metadata(), "keys": list(f.keys()), "sums": loaded}
print(json.dumps(out))`;
  const read = JSON.parse(execFileSync('python3', ['-c', script, merged, masks]).toString()) as Record<string, { metadata: Json; keys: string[]; sums: Record<string, number> }>;
  const meta = read[merged]!.metadata;
  assert.equal(meta['weightscope.method'], 'ties');
  assert.deepEqual(JSON.parse(String(meta['weightscope.params'])), { density: 0.2, lambda: 1 });
  assert.equal(meta['weightscope.base'], ft('base.safetensors'));
  assert.deepEqual(JSON.parse(String(meta['weightscope.models'])), [ft('ft_a.safetensors'), ft('ft_b.safetensors')]);
  assert.match(String(meta['weightscope.version']), /^\d+\.\d+\.\d+/);
  const ours = await openCheckpoint(merged, nodeSourceOpener);
  assert.deepEqual(read[merged]!.keys.sort(), ours.tensors.map((t) => t.name).sort());
  assert.equal(read[masks]!.keys.length, 2 * ours.tensors.length);
  assert.ok(Object.keys(read[merged]!.sums).length > 20, 'non-BF16 tensors load as arrays');
  const header = readFileSync(merged);
  assert.equal(Number(header.readBigUInt64LE(0)) % 8, 0, 'header padded to 8 bytes like the Rust crate');
});

test('merges do not depend on the worker count or chunk size', { skip: noNumpy }, async () => {
  for (const method of ['ties', 'dare', 'consensus']) {
    const results = await Promise.all([['--workers', '1'], ['--workers', '3', '--chunk-size', '4096']].map(async (flags) => {
      const out = join(mkdtempSync(join(tmpdir(), 'weightscope-merge-det-')), 'm.safetensors');
      const doc = weightscopeJson('merge', '--base', ft('base.safetensors'), '--models', ft('ft_a.safetensors'), ft('ft_c.safetensors'), '--method', method, '--out', out, ...flags);
      return { doc, bytes: readFileSync(out) };
    }));
    assert.deepEqual(results[0]!.doc, results[1]!.doc, method);
    assert.ok(results[0]!.bytes.equals(results[1]!.bytes), `${method}: identical merged files`);
  }
});

test('LoRA adapters compare as ΔW = (α/r)·B·A with the scale from adapter_config.json', { skip: noNumpy }, () => {
  const [a, b] = ['adapter_1', 'adapter_2'].map((d) => join(fixtures, d, 'adapter_model.safetensors')) as [string, string];
  const got = weightscopeJson('diff', a, b, '--lora');
  const configs = ['adapter_1', 'adapter_2'].map((d) => join(fixtures, d, 'adapter_config.json'));
  assert.deepEqual(compareDiff(got, python('diff', a, b, '--lora', ...configs)), []);
  const names = (got.tensors as Json[]).map((t) => t.name);
  assert.deepEqual(names, ['base_model.model.model.layers.1.self_attn.q_proj.weight', 'base_model.model.lm_head.weight']);
  assert.deepEqual((got.tensors as Json[])[0]!.shape, [32, 32]);
});

// ---- the real checkpoint families -----------------------------------------------------------------------------

interface Family {
  a: string;
  b: string;
  cosine: number;
  minCosine: number;
  relL2: number;
}

/** The README's "Families" table: per-tensor cosine (median, min) and relative L2 (median). */
function readmeFamilies(): Family[] {
  const text = readFileSync(join(shared!, 'README.md'), 'utf8');
  const rows = [...text.matchAll(/^\| (\S+\.safetensors) vs (\S+\.safetensors) \| [^|]+ \| (-?[\d.]+) \(min (-?[\d.]+)\) \| ([\d.]+) \|$/gm)];
  return rows.map((m) => ({ a: m[1]!, b: m[2]!, cosine: Number(m[3]), minCosine: Number(m[4]), relL2: Number(m[5]) }));
}

/** The README's statistic: the upper median (element n/2 of the sorted values). */
function upperMedian(values: number[]): number {
  return [...values].sort((x, y) => x - y)[Math.floor(values.length / 2)]!;
}

test('real checkpoint families agree with the float64 reference and the README family table', (t) => {
  if (!shared) return t.skip('no ../shared/checkpoints folder beside the project');
  if (noNumpy) return t.skip(noNumpy);
  const families = readmeFamilies();
  assert.ok(families.length >= 9, `found ${families.length} family rows in the README`);
  for (const f of families) {
    const pa: string = join(shared, f.a);
    const pb: string = join(shared, f.b);
    const result = weightscope('diff', pa, pb, '--json');
    assert.equal(result.status, 0, result.stderr);
    const got = JSON.parse(result.stdout) as Json;
    assert.deepEqual(compareDiff(got, python('diff', pa, pb)), [], `${f.a} vs ${f.b}`);
    const same = (got.tensors as { cosine: number; rel_delta: number; dtype_a: string; dtype_b: string }[]).filter((x) => x.dtype_a === x.dtype_b);
    const where = `${f.a} vs ${f.b}`;
    assert.ok(Math.abs(upperMedian(same.map((x) => x.cosine)) - f.cosine) <= 6e-5, `${where}: median cosine vs README ${f.cosine}`);
    assert.ok(Math.abs(Math.min(...same.map((x) => x.cosine)) - f.minCosine) <= 6e-5, `${where}: min cosine vs README ${f.minCosine}`);
    assert.ok(Math.abs(upperMedian(same.map((x) => x.rel_delta)) - f.relL2) <= 6e-5, `${where}: median relative L2 vs README ${f.relL2}`);
    // The GPT-2 LoRA pairs (and the two cloneofsimo trainings) are independent runs: say so; trajectories are not.
    const independent = f.cosine < 0.2;
    assert.equal(result.stderr.includes('independent trainings'), independent, `${where}: the independent-trainings notice`);
  }
});

test('real LoRA adapters: the MLX iter100/iter200 pair as ΔW with its adapter config, and PEFT trajectories', (t) => {
  if (!shared) return t.skip('no ../shared/checkpoints folder beside the project');
  if (noNumpy) return t.skip(noNumpy);
  const configs = join(shared, 'extra/configs');
  // Adjacent adapter_config.json: a scratch folder with links to the real files and a copy of the config.
  const folders = ['iter100', 'iter200'].map((tag) => {
    const dir = mkdtempSync(join(tmpdir(), `weightscope-mlx-${tag}-`));
    symlinkSync(join(shared, `lora_mlx_qwen05b_${tag}.safetensors`), join(dir, 'adapters.safetensors'));
    copyFileSync(join(configs, 'lora_mlx_qwen05b.adapter_config.json'), join(dir, 'adapter_config.json'));
    return dir;
  });
  const [a, b] = folders.map((d) => join(d, 'adapters.safetensors')) as [string, string];
  const got = weightscopeJson('diff', a, b, '--lora');
  assert.deepEqual(compareDiff(got, python('diff', a, b, '--lora', ...folders.map((d) => join(d, 'adapter_config.json')))), []);
  const tensors = got.tensors as { name: string; shape: number[]; cosine: number }[];
  assert.equal(tensors.length, 8);
  assert.deepEqual(tensors[0]!.shape, [896, 896], 'q_proj ΔW is out × in');
  assert.deepEqual(tensors[1]!.shape, [128, 896], 'v_proj ΔW is out × in (MLX stores B as r × out)');
  assert.ok(tensors.every((x) => x.cosine > 0.8), 'one training trajectory');
  // The same comparison with the configs given explicitly (no adjacent file).
  const explicit = weightscopeJson('diff', join(shared, 'lora_mlx_qwen05b_iter100.safetensors'), join(shared, 'lora_mlx_qwen05b_iter200.safetensors'), '--lora',
    '--adapter-config-a', join(configs, 'lora_mlx_qwen05b.adapter_config.json'), '--adapter-config-b', join(configs, 'lora_mlx_qwen05b.adapter_config.json'));
  assert.deepEqual((explicit.tensors as Json[]).map((x) => x.l2_delta), tensors.map((x) => (x as Json).l2_delta));
  // RoBERTa checkpoints 500 → 2400 of one run: the steps shrink.
  const steps = [500, 1000, 1500, 2000, 2400].map((s) => join(shared, `lora_roberta_subro_ckpt${s}.safetensors`));
  const relative = steps.slice(1).map((b, i) => {
    const doc = weightscopeJson('diff', steps[i]!, b, '--lora', '--adapter-config-a', join(configs, 'lora_roberta_subro.adapter_config.json'),
      '--adapter-config-b', join(configs, 'lora_roberta_subro.adapter_config.json'));
    const l2 = (doc.tensors as { l2_a: number; l2_delta: number }[]).reduce((s, x) => s + x.l2_delta ** 2, 0);
    return Math.sqrt(l2);
  });
  for (let i = 1; i < relative.length; i++) assert.ok(relative[i]! < relative[i - 1]!, `step ${i}: ${relative.join(', ')}`);
});
