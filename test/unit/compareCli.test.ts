import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildSafetensors } from '../fixtures/safetensorsWriter';

const cli = join(__dirname, '../../dist/cli.js');
const dir = mkdtempSync(join(tmpdir(), 'weightscope-compare-cli-'));

function weightscope(...args: string[]) {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const f32 = (values: number[]) => new Uint8Array(Float32Array.from(values).buffer);

function write(name: string, tensors: [string, number[], number[]][]): string {
  const path = join(dir, name);
  writeFileSync(path, buildSafetensors(tensors.map(([n, shape, values]) => ({ name: n, dtype: 'F32', shape, data: f32(values) }))));
  return path;
}

const base = write('base.safetensors', [['w', [2, 2], [1, -2, 3, 0]], ['zero', [2], [0, 0]], ['empty', [0], []], ['b', [3], [1, 1, 1]]]);
const tuned = write('tuned.safetensors', [['w', [2, 2], [1, 2, 3, 0.5]], ['zero', [2], [1, 0]], ['empty', [0], []], ['b', [3], [1, 1, 1]]]);
const other = write('other.safetensors', [['encoder.x', [4], [1, 2, 3, 4]]]);

test('diff --json: exactly the documented keys, in order, with the null rules', () => {
  const { status, stdout, stderr } = weightscope('diff', base, tuned, '--json');
  assert.equal(status, 0, stderr);
  const doc = JSON.parse(stdout);
  assert.deepEqual(Object.keys(doc), ['a', 'b', 'only_a', 'only_b', 'mismatched', 'tensors']);
  assert.deepEqual(doc.a, { path: base });
  assert.deepEqual(doc.b, { path: tuned });
  const [w, zero, empty, b] = doc.tensors;
  assert.deepEqual(Object.keys(w), ['name', 'shape', 'dtype_a', 'dtype_b', 'l2_a', 'l2_b', 'l2_delta', 'rel_delta', 'cosine', 'max_abs_delta', 'changed_fraction', 'sign_flip_fraction', 'identical']);
  assert.deepEqual([w.name, w.shape, w.dtype_a, w.dtype_b], ['w', [2, 2], 'F32', 'F32']);
  assert.equal(w.l2_a, Math.sqrt(14));
  assert.equal(w.l2_delta, Math.sqrt(16.25));
  assert.equal(w.rel_delta, Math.sqrt(16.25) / Math.sqrt(14));
  assert.equal(w.max_abs_delta, 4);
  assert.equal(w.changed_fraction, 0.5);
  assert.equal(w.sign_flip_fraction, 1 / 3, 'one flip among the three elements nonzero on both sides');
  assert.equal(w.identical, false);
  assert.equal(zero.rel_delta, null, 'l2_a = 0');
  assert.equal(zero.cosine, null);
  assert.equal(zero.sign_flip_fraction, null, 'no element nonzero on both sides');
  assert.equal(empty.changed_fraction, null, 'no elements');
  assert.equal(empty.max_abs_delta, 0);
  assert.equal(b.identical, true);
  assert.equal(b.cosine, 1);
});

test('diff of different architectures: empty pairs, every name on its side, a note on stderr', () => {
  const { status, stdout, stderr } = weightscope('diff', base, other, '--json');
  assert.equal(status, 0);
  const doc = JSON.parse(stdout);
  assert.deepEqual(doc.tensors, []);
  assert.deepEqual(doc.only_a, ['w', 'zero', 'empty', 'b']);
  assert.deepEqual(doc.only_b, ['encoder.x']);
  assert.match(stderr, /different architectures/);
});

test('diff: missing files exit 3 naming the file; usage mistakes exit 2', () => {
  const missing = join(dir, 'missing.safetensors');
  const r = weightscope('diff', base, missing, '--json');
  assert.equal(r.status, 3);
  assert.equal(r.stdout, '');
  assert.ok(r.stderr.includes('FILE_NOT_FOUND') && r.stderr.includes(missing), r.stderr);
  assert.equal(r.stderr.trimEnd().split('\n').length, 1);
  for (const args of [['diff', base], ['diff', base, tuned, other], ['diff', base, tuned, '--rank', '0'], ['diff', base, tuned, '--adapter-config-a', 'x.json']]) {
    assert.equal(weightscope(...args).status, 2, args.join(' '));
  }
});

test('diff --lora with a broken adapter config exits 3 naming it', () => {
  const folder = mkdtempSync(join(tmpdir(), 'weightscope-bad-config-'));
  const config = join(folder, 'adapter_config.json');
  writeFileSync(config, '{ not json');
  const r = weightscope('diff', base, tuned, '--lora', '--adapter-config-a', config);
  assert.equal(r.status, 3);
  assert.ok(r.stderr.includes('INVALID_ADAPTER_CONFIG') && r.stderr.includes(config), r.stderr);
});

test('diff --lora says on stderr which scale each side used', () => {
  const adapter = (folder: string, config?: object): string => {
    mkdirSync(join(dir, folder));
    const path = join(dir, folder, 'adapter_model.safetensors');
    writeFileSync(path, buildSafetensors([
      { name: 'base_model.model.q.lora_A.weight', dtype: 'F32', shape: [2, 3], data: f32([1, 0, 0, 0, 1, 0]) },
      { name: 'base_model.model.q.lora_B.weight', dtype: 'F32', shape: [3, 2], data: f32([1, 0, 0, 1, 1, 1]) },
      { name: 'base_model.model.v.lora_A.weight', dtype: 'F32', shape: [1, 3], data: f32([1, 2, 3]) },
      { name: 'base_model.model.v.lora_B.weight', dtype: 'F32', shape: [3, 1], data: f32([1, 1, 1]) },
    ]));
    if (config) writeFileSync(join(dir, folder, 'adapter_config.json'), JSON.stringify(config));
    return path;
  };
  const a = adapter('scaled', { r: 2, lora_alpha: 8, rank_pattern: { v: 1 } });
  const b = adapter('unscaled');
  const r = weightscope('diff', a, b, '--lora', '--json');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /^weightscope: note: LoRA scale of A: .*adapter_config\.json: lora_alpha \/ r = 8 \/ 2 \(1 pair\); .*lora_alpha \/ r = 8 \/ 1 \(1 pair\)$/m);
  assert.match(r.stderr, /^weightscope: note: LoRA scale of B: no adapter_config\.json or alpha tensor: scale 1 \(2 pairs\)$/m);
  const doc = JSON.parse(r.stdout);
  // ΔW_q = (8/2)·B·A has ‖·‖ = 4·2; ΔW_v = (8/1)·B·A, every row [1, 2, 3]: 8·√42.
  assert.deepEqual(doc.tensors.map((t: { name: string }) => t.name), ['base_model.model.q.weight', 'base_model.model.v.weight']);
  assert.ok(Math.abs(doc.tensors[0].l2_a - 8) < 1e-12 && Math.abs(doc.tensors[1].l2_a - 8 * Math.sqrt(42)) < 1e-12, JSON.stringify(doc.tensors));
});

test('merge --json: the documented keys, params echoed with defaults, task counts of length N + 1', () => {
  const r = weightscope('merge', '--base', base, '--models', tuned, tuned, '--method', 'ties', '--json');
  assert.equal(r.status, 0, r.stderr);
  const doc = JSON.parse(r.stdout);
  assert.deepEqual(Object.keys(doc), ['method', 'params', 'tensors']);
  assert.equal(doc.method, 'ties');
  assert.deepEqual(doc.params, { density: 0.2, lambda: 1 });
  assert.deepEqual(doc.tensors.map((t: { name: string }) => t.name), ['w', 'zero', 'empty', 'b']);
  for (const t of doc.tensors) {
    assert.deepEqual(Object.keys(t), ['name', 'kept_fraction', 'sign_conflict_fraction', 'task_counts']);
    assert.equal(t.task_counts.length, 3);
  }
  // w: n = 4, k = round(0.8) = 1: τ = [0, 4, 0, 0.5] keeps |τ| ≥ 4 in both tasks.
  assert.deepEqual(doc.tensors[0], { name: 'w', kept_fraction: 0.25, sign_conflict_fraction: 0, task_counts: [3, 0, 1] });
  assert.deepEqual(doc.tensors[2], { name: 'empty', kept_fraction: null, sign_conflict_fraction: null, task_counts: [0, 0, 0] });
  const details = JSON.parse(weightscope('merge', '--base', base, '--models', tuned, '--method', 'task-arithmetic', '--json', '--details').stdout);
  assert.deepEqual(Object.keys(details.tensors[0]), ['name', 'kept_fraction', 'sign_conflict_fraction', 'task_counts', 'trimmed_mass', 'selfish', 'catastrophic']);
});

test('merge refuses bad usage with exit 2 and writes nothing', () => {
  const out = join(dir, 'refused.safetensors');
  const cases = [
    ['merge', '--models', tuned, '--method', 'ties'],
    ['merge', '--base', base, '--method', 'ties'],
    ['merge', '--base', base, '--models', tuned, '--method', 'slerp'],
    ['merge', '--base', base, '--models', tuned, '--method', 'task-arithmetic', '--density', '0.5'],
    ['merge', '--base', base, '--models', tuned, '--method', 'ties', '--density', '2'],
    ['merge', '--base', base, '--models', tuned, '--method', 'dare', '--drop', '1'],
    ['merge', '--base', base, '--models', tuned, '--method', 'ties', '--out', tuned],
    ['merge', '--base', base, '--models', tuned, '--method', 'ties', '--out', out, '--masks', out],
    ['merge', '--base', base, '--models', tuned, '--method', 'consensus', '--mergekit', join(dir, 'c.yml')],
    ['merge', '--base', base, '--models', ...Array(16).fill(tuned), '--method', 'ties'],
  ];
  const before = readFileSync(tuned);
  for (const args of cases) {
    const r = weightscope(...args);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stdout, '');
  }
  assert.ok(readFileSync(tuned).equals(before), 'the input is untouched');
  assert.equal(existsSync(out), false);
});

test('merge of another architecture or a missing file exits 3 naming the file; nothing is left behind', () => {
  const out = join(dir, 'never.safetensors');
  const r = weightscope('merge', '--base', base, '--models', tuned, other, '--method', 'task-arithmetic', '--out', out, '--json');
  assert.equal(r.status, 3);
  assert.ok(r.stderr.includes('INCOMPATIBLE_CHECKPOINTS') && r.stderr.includes(other), r.stderr);
  const reshaped = write('reshaped.safetensors', [['w', [4], [1, 2, 3, 4]], ['zero', [2], [0, 0]], ['empty', [0], []], ['b', [3], [1, 1, 1]]]);
  const s = weightscope('merge', '--base', base, '--models', reshaped, '--method', 'ties');
  assert.equal(s.status, 3);
  assert.match(s.stderr, /INCOMPATIBLE_CHECKPOINTS.*"w" has shape \[4\]/);
  const missing = weightscope('merge', '--base', base, '--models', join(dir, 'nope.safetensors'), '--method', 'ties');
  assert.equal(missing.status, 3);
  assert.match(missing.stderr, /FILE_NOT_FOUND/);
  assert.equal(existsSync(out), false);
  assert.deepEqual(readdirSync(dir).filter((f) => f.endsWith('.partial')), []);
});

test('merge writes the merged model, the masks and a mergekit configuration', () => {
  const out = join(dir, 'merged.safetensors');
  const masks = join(dir, 'masks.safetensors');
  const yaml = join(dir, 'merge.yml');
  const r = weightscope('merge', '--base', base, '--models', tuned, '--method', 'task-arithmetic', '--lambda', '2', '--out', out, '--masks', masks, '--mergekit', yaml);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /merged model: /);
  const stats = JSON.parse(weightscope('stats', out, '--json').stdout);
  assert.deepEqual(stats.tensors.map((t: { name: string }) => t.name), ['w', 'zero', 'empty', 'b']);
  // θ = θ₀ + 2τ with τ = [0, 4, 0, 0.5]: w = [1, 6, 3, 1].
  assert.deepEqual([stats.tensors[0].stats.min, stats.tensors[0].stats.max, stats.tensors[0].stats.mean], [1, 6, 2.75]);
  const maskStats = JSON.parse(weightscope('stats', masks, '--json').stdout);
  assert.deepEqual(maskStats.tensors.map((t: { name: string; dtype: string }) => `${t.name} ${t.dtype}`), ['mask.task1.w U8', 'mask.task1.zero U8', 'mask.task1.empty U8', 'mask.task1.b U8']);
  assert.equal(maskStats.tensors[0].stats.mean, 0.5, 'τ ≠ 0 in two of four weights');
  assert.match(readFileSync(yaml, 'utf8'), /^merge_method: task_arithmetic$/m);
});

test('merge outputs: missing folders are created, a folder as the target is refused', () => {
  const out = join(dir, 'made', 'by', 'merge', 'merged.safetensors');
  const masks = join(dir, 'made', 'masks', 'masks.safetensors');
  const yaml = join(dir, 'made', 'yaml', 'merge.yml');
  const r = weightscope('merge', '--base', base, '--models', tuned, '--method', 'ties', '--out', out, '--masks', masks, '--mergekit', yaml, '--json');
  assert.equal(r.status, 0, r.stderr);
  for (const path of [out, masks, yaml]) assert.ok(existsSync(path), path);
  assert.deepEqual(readdirSync(join(dir, 'made', 'yaml')), ['merge.yml'], 'no temporary file left behind');
  for (const flag of ['--out', '--masks', '--mergekit']) {
    const refused = weightscope('merge', '--base', base, '--models', tuned, '--method', 'ties', flag, dir);
    assert.equal(refused.status, 2, `${flag}: ${refused.stderr}`);
    assert.match(refused.stderr, /is a folder/);
  }
});

test('merge never overwrites the index of a sharded input', () => {
  const folder = mkdtempSync(join(tmpdir(), 'weightscope-sharded-'));
  writeFileSync(join(folder, 'model-1.safetensors'), buildSafetensors([{ name: 'w', dtype: 'F32', shape: [2], data: f32([1, 2]) }]));
  const index = join(folder, 'model.safetensors.index.json');
  const text = JSON.stringify({ metadata: {}, weight_map: { w: 'model-1.safetensors' } });
  writeFileSync(index, text);
  const tunedW = write('tuned-w.safetensors', [['w', [2], [1, 3]]]);
  // The index given, or found in the folder given.
  for (const [base, flag] of [[index, '--out'], [index, '--mergekit'], [folder, '--out']]) {
    const r = weightscope('merge', '--base', base!, '--models', tunedW, '--method', 'task-arithmetic', flag!, index);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /is an input/);
  }
  assert.equal(readFileSync(index, 'utf8'), text);
});

test('an interrupted merge leaves neither the target nor a temporary file', async () => {
  const folder = mkdtempSync(join(tmpdir(), 'weightscope-interrupt-'));
  // Large enough, in chunks small enough, that the merge is still running when it is interrupted.
  const n = 1 << 22;
  const values = (shift: number): Uint8Array => new Uint8Array(Float32Array.from({ length: n }, (_, i) => Math.sin(i + shift)).buffer);
  const big = (name: string, shift: number): string => {
    const path = join(folder, name);
    writeFileSync(path, buildSafetensors([{ name: 'w', dtype: 'F32', shape: [n / 1024, 1024], data: values(shift) }]));
    return path;
  };
  const bigBase = big('base.safetensors', 0);
  const bigTuned = big('tuned.safetensors', 0.001);
  const out = join(folder, 'out', 'merged.safetensors');
  const child = spawn(process.execPath, [cli, 'merge', '--base', bigBase, '--models', bigTuned, '--method', 'ties', '--out', out, '--workers', '1', '--chunk-size', '4096'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  let running = true;
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => ((running = false), resolve(code))));
  // Interrupt once the temporary file exists, i.e. while the merge writes.
  const writing = (): boolean => existsSync(join(folder, 'out')) && readdirSync(join(folder, 'out')).some((f) => f.endsWith('.partial'));
  while (running && !writing()) await new Promise((resolve) => setTimeout(resolve, 5));
  child.kill('SIGINT');
  const code = await exited;
  assert.equal(code, 130, stderr);
  assert.match(stderr, /interrupted/);
  assert.deepEqual(readdirSync(join(folder, 'out')), [], 'nothing at the target, no temporary file');
});
