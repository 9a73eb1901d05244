/**
 * Diffing a GGUF file against the Hugging Face checkpoint it was converted from: the alignment stage on its own, and
 * `weightscope diff` in both orders on a generated Llama-shaped pair (GQA, permuted Q/K rows, F32/F16/Q8_0).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { align } from '../../extension/compare/align';
import { tensorItems } from '../../extension/engine/diffEngine';
import { ggufHfStages } from '../../extension/engine/ggufHfStage';
import type { Checkpoint } from '../../extension/formats/checkpoint';
import { openCheckpoint } from '../../extension/formats/openCheckpoint';
import { nodeSourceOpener } from '../../extension/source/nodeFileSource';
import { writeLlamaGgufPair } from '../fixtures/llamaGgufPair';

const cli = join(__dirname, '../../dist/cli.js');
const fixture = writeLlamaGgufPair(mkdtempSync(join(tmpdir(), 'weightscope-gguf-diff-')));
const hfFile = join(fixture.hfDir, 'model.safetensors');

const open = (path: string): Promise<Checkpoint> => openCheckpoint(path, nodeSourceOpener);

test('the GGUF ↔ HF stage runs only when exactly one side is a GGUF file', async () => {
  const [g, h] = await Promise.all([open(fixture.ggufPath), open(hfFile)]);
  assert.equal(ggufHfStages(g, h).length, 1);
  assert.equal(ggufHfStages(h, g).length, 1);
  assert.equal(ggufHfStages(g, g).length, 0);
  assert.equal(ggufHfStages(h, h).length, 0);
});

test('the stage pairs llama.cpp names with HF names on either side, streaming permuted Q/K through views', async () => {
  const [g, h] = await Promise.all([open(fixture.ggufPath), open(hfFile)]);
  for (const ggufFirst of [true, false]) {
    const [a, b] = ggufFirst ? [g, h] : [h, g];
    const alignment = align(tensorItems(a), tensorItems(b), ggufHfStages(a, b));
    const names = alignment.pairs.map((p) => (ggufFirst ? [p.a.name, p.b.name] : [p.b.name, p.a.name]));
    assert.deepEqual(new Set(names.map((n) => n.join(' '))), new Set(fixture.pairs.map((n) => n.join(' '))));
    assert.ok(alignment.pairs.every((p) => p.stage === 'gguf-hf'));
    const q = alignment.pairs.find((p) => p.a.name.includes('layers.0.self_attn.q_proj') || p.a.name === 'blk.0.attn_q.weight')!;
    // Items keep their logical shape; the HF side is streamed as a strided view in the GGUF's row order.
    assert.deepEqual(q.a.shape, [64, 64]);
    const hfSide = ggufFirst ? q.b : q.a;
    assert.ok(hfSide.operand?.kind === 'tensor' && hfSide.operand.location.strides !== undefined);
    assert.deepEqual(alignment.onlyA.map((t) => t.name), ggufFirst ? fixture.onlyGguf : fixture.onlyHf);
    assert.deepEqual(alignment.onlyB.map((t) => t.name), ggufFirst ? fixture.onlyHf : fixture.onlyGguf);
    const [mismatchA, mismatchB] = ggufFirst ? fixture.mismatched : [...fixture.mismatched].reverse();
    assert.ok(alignment.mismatched.some((m) => m.a.name === mismatchA && m.b.name === mismatchB && m.a.shape.length === 1));
  }
});

test('Q/K rows that do not split into the metadata head count pair with a problem, not with wrong numbers', async () => {
  const [g, h] = await Promise.all([open(fixture.ggufPath), open(hfFile)]);
  const wrongHeads: Checkpoint = { ...g, metadata: { ...g.metadata, 'llama.attention.head_count': '5' } };
  const alignment = align(tensorItems(wrongHeads), tensorItems(h), ggufHfStages(wrongHeads, h));
  const q = alignment.pairs.find((p) => p.a.name === 'blk.0.attn_q.weight')!;
  assert.equal(q.a.operand, undefined);
  assert.equal(q.a.problem?.code, 'INVALID_METADATA');
  assert.match(q.a.problem?.message ?? '', /64 rows do not split into 5 heads/);
  // The key heads (head_count_kv) are still right: K pairs as usual.
  assert.ok(alignment.pairs.find((p) => p.a.name === 'blk.0.attn_k.weight')?.a.operand);
});

function diffJson(a: string, b: string, ...flags: string[]): Record<string, any> {
  const r = spawnSync(process.execPath, [cli, 'diff', a, b, '--json', ...flags], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}

/** ‖x‖ in float64. */
const norm = (x: Float64Array): number => Math.sqrt(x.reduce((s, v) => s + v * v, 0));

test('weightscope diff GGUF HF (and HF GGUF): every pair, Q/K un-permuted, the dequantization error per tensor', () => {
  for (const ggufFirst of [true, false]) {
    const [a, b] = ggufFirst ? [fixture.ggufPath, fixture.hfDir] : [fixture.hfDir, fixture.ggufPath];
    const doc = diffJson(a, b);
    assert.deepEqual(Object.keys(doc), ['a', 'b', 'only_a', 'only_b', 'mismatched', 'tensors']);
    assert.deepEqual(doc.only_a, ggufFirst ? fixture.onlyGguf : fixture.onlyHf);
    assert.deepEqual(doc.only_b, ggufFirst ? fixture.onlyHf : fixture.onlyGguf);
    const [mismatchA] = ggufFirst ? fixture.mismatched : [...fixture.mismatched].reverse();
    assert.deepEqual(doc.mismatched.find((m: { name: string }) => m.name === mismatchA), {
      name: mismatchA, shape_a: ggufFirst ? [16] : [8], shape_b: ggufFirst ? [8] : [16], dtype_a: 'F32', dtype_b: 'F32',
    });
    // Tensors are named after A's tensor, in A's order.
    const names = fixture.pairs.map(([gguf, hf]) => (ggufFirst ? gguf : hf));
    assert.deepEqual(new Set(doc.tensors.map((t: { name: string }) => t.name)), new Set(names));
    for (const [ggufName, hfName] of fixture.pairs) {
      const t = doc.tensors.find((x: { name: string }) => x.name === (ggufFirst ? ggufName : hfName));
      const { type, hf, gguf } = fixture.expected.get(ggufName)!;
      if (type !== 'Q8_0' && t.dtype_a === t.dtype_b) {
        // Same dtype, same values: the permutation is undone exactly (F32 Q/K of layer 0, F16 K of layer 1).
        assert.equal(t.identical, true, ggufName);
        assert.equal(t.l2_delta, 0, ggufName);
        continue;
      }
      const [x, y] = ggufFirst ? [gguf, hf] : [hf, gguf];
      const delta = y.map((v, i) => v - x[i]!);
      const want = norm(delta) / norm(x);
      assert.ok(Math.abs(t.rel_delta - want) <= 1e-9 * want, `${ggufName}: rel_delta ${t.rel_delta}, want ${want}`);
      assert.ok(t.rel_delta > 0 && t.rel_delta < 0.02, `${ggufName}: ${t.rel_delta} is a quantization error`);
    }
  }
});

test('the GGUF diff is the same with one worker and 4 KiB chunks (reads that end inside a head of the Q/K views)', () => {
  const whole = diffJson(fixture.ggufPath, fixture.hfDir);
  assert.deepEqual(diffJson(fixture.ggufPath, fixture.hfDir, '--workers', '1', '--chunk-size', '4096'), whole);
});

test('the table output of a GGUF diff names both checkpoints and lists the unpaired tensors', () => {
  const r = spawnSync(process.execPath, [cli, 'diff', fixture.ggufPath, fixture.hfDir], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /blk\.1\.attn_q\.weight .*Q8_0→F32/);
  assert.match(r.stdout, /only in A: rope_freqs\.weight/);
  assert.match(r.stdout, /only in B: model\.layers\.0\.self_attn\.rotary_emb\.inv_freq/);
});

test('a GGUF whose metadata head count does not split the Q rows: exit 3 with INVALID_METADATA naming the tensor', () => {
  const broken = writeLlamaGgufPair(mkdtempSync(join(tmpdir(), 'weightscope-gguf-diff-heads-')), 5);
  const r = spawnSync(process.execPath, [cli, 'diff', broken.ggufPath, broken.hfDir, '--json'], { encoding: 'utf8' });
  assert.equal(r.status, 3, r.stderr);
  assert.match(r.stderr, /INVALID_METADATA/);
  assert.match(r.stderr, /attn_q\.weight/);
  assert.match(r.stderr, /64 rows do not split into 5 heads/);
  assert.equal(r.stdout, '');
});
