/** llama.cpp ↔ Hugging Face names and the Q/K row permutation undone as a strided view, on a generated pair. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TensorLocation } from '../../extension/formats/checkpoint';
import { ggufToHfName, pairGgufWithHf } from '../../extension/formats/ggufNames';
import { openCheckpoint } from '../../extension/formats/openCheckpoint';
import { FileTable, openTensorReader } from '../../extension/engine/tensorReader';
import { nodeSourceOpener } from '../../extension/source/nodeFileSource';
import { buildGguf, gguf, type GgufTensor } from '../fixtures/ggufWriter';
import { buildSafetensors, type TensorData } from '../fixtures/safetensorsWriter';

test('llama.cpp names map to Hugging Face names', () => {
  assert.equal(ggufToHfName('token_embd.weight'), 'model.embed_tokens.weight');
  assert.equal(ggufToHfName('output_norm.weight'), 'model.norm.weight');
  assert.equal(ggufToHfName('output.weight'), 'lm_head.weight');
  assert.equal(ggufToHfName('blk.12.attn_q.weight'), 'model.layers.12.self_attn.q_proj.weight');
  assert.equal(ggufToHfName('blk.0.attn_k.bias'), 'model.layers.0.self_attn.k_proj.bias');
  assert.equal(ggufToHfName('blk.3.attn_output.weight'), 'model.layers.3.self_attn.o_proj.weight');
  assert.equal(ggufToHfName('blk.3.attn_norm.weight'), 'model.layers.3.input_layernorm.weight');
  assert.equal(ggufToHfName('blk.3.ffn_norm.weight'), 'model.layers.3.post_attention_layernorm.weight');
  assert.equal(ggufToHfName('blk.7.ffn_down.weight'), 'model.layers.7.mlp.down_proj.weight');
  assert.equal(ggufToHfName('blk.7.attn_q_norm.weight'), 'model.layers.7.self_attn.q_norm.weight');
  assert.equal(ggufToHfName('rope_freqs.weight'), undefined);
  assert.equal(ggufToHfName('blk.x.attn_q.weight'), undefined);
});

/** F32 bytes of rows × cols values 100·row + col (+ 0.5 for biases' sake of distinctness). */
function matrix(rows: number, cols: number): Float32Array {
  return Float32Array.from({ length: rows * cols }, (_, i) => 100 * Math.floor(i / cols) + (i % cols));
}

/** convert_hf_to_gguf.py's LlamaModel.permute, written as its reshape/swapaxes: GGUF row r ← HF row. */
function permuteRows(values: Float32Array, rows: number, cols: number, heads: number): Float32Array {
  const half = rows / heads / 2;
  const out = new Float32Array(values.length);
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < half; i++) {
      for (let j = 0; j < 2; j++) {
        const ggufRow = h * 2 * half + i * 2 + j;
        const hfRow = h * 2 * half + j * half + i;
        out.set(values.subarray(hfRow * cols, (hfRow + 1) * cols), ggufRow * cols);
      }
    }
  }
  return out;
}

const bytes = (a: Float32Array): Uint8Array => new Uint8Array(a.buffer);

async function readAll(location: TensorLocation, files: FileTable): Promise<Uint8Array> {
  const reader = openTensorReader(location, files);
  const out = new Uint8Array(location.bytes);
  await reader.read(0, out);
  reader.close();
  return out;
}

test('pairs a GGUF file with its HF source and reads permuted Q/K tensors in the same element order', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'weightscope-names-'));
  const [heads, kvHeads, hidden] = [2, 1, 3];
  const q = matrix(8, hidden);
  const k = matrix(4, hidden);
  const qBias = matrix(8, 1);
  const embed = matrix(5, hidden);
  const hf: TensorData[] = [
    { name: 'model.embed_tokens.weight', dtype: 'F32', shape: [5, hidden], data: bytes(embed) },
    { name: 'model.layers.0.self_attn.q_proj.weight', dtype: 'F32', shape: [8, hidden], data: bytes(q) },
    { name: 'model.layers.0.self_attn.q_proj.bias', dtype: 'F32', shape: [8], data: bytes(qBias) },
    { name: 'model.layers.0.self_attn.k_proj.weight', dtype: 'F32', shape: [4, hidden], data: bytes(k) },
    { name: 'model.layers.0.self_attn.v_proj.weight', dtype: 'F32', shape: [2, hidden], data: bytes(matrix(2, hidden)) },
    { name: 'model.layers.0.mlp.up_proj.weight', dtype: 'F32', shape: [6, hidden], data: bytes(matrix(6, hidden)) },
    { name: 'model.extra.weight', dtype: 'F32', shape: [1], data: bytes(matrix(1, 1)) },
  ];
  const ggufTensors: GgufTensor[] = [
    { name: 'token_embd.weight', type: 'F32', shape: [5, hidden], data: bytes(embed) },
    { name: 'blk.0.attn_q.weight', type: 'F32', shape: [8, hidden], data: bytes(permuteRows(q, 8, hidden, heads)) },
    { name: 'blk.0.attn_q.bias', type: 'F32', shape: [8], data: bytes(permuteRows(qBias, 8, 1, heads)) },
    { name: 'blk.0.attn_k.weight', type: 'F32', shape: [4, hidden], data: bytes(permuteRows(k, 4, hidden, kvHeads)) },
    { name: 'blk.0.attn_v.weight', type: 'F32', shape: [2, hidden], data: bytes(matrix(2, hidden)) },
    { name: 'blk.0.ffn_up.weight', type: 'F32', shape: [3, hidden], data: bytes(matrix(3, hidden)) },
    { name: 'rope_freqs.weight', type: 'F32', shape: [2], data: bytes(matrix(2, 1)) },
  ];
  writeFileSync(join(dir, 'model.safetensors'), buildSafetensors(hf));
  writeFileSync(join(dir, 'model.gguf'), buildGguf([
    ['general.architecture', gguf.str('llama')], ['llama.attention.head_count', gguf.u32(heads)], ['llama.attention.head_count_kv', gguf.u32(kvHeads)],
  ], ggufTensors));
  const ggufCheckpoint = await openCheckpoint(join(dir, 'model.gguf'), nodeSourceOpener);
  const hfCheckpoint = await openCheckpoint(join(dir, 'model.safetensors'), nodeSourceOpener);
  const pairing = pairGgufWithHf(ggufCheckpoint, hfCheckpoint);
  assert.deepEqual(pairing.pairs.map((p) => [p.name, p.hfName, p.permuted]), [
    ['token_embd.weight', 'model.embed_tokens.weight', false],
    ['blk.0.attn_q.weight', 'model.layers.0.self_attn.q_proj.weight', true],
    ['blk.0.attn_q.bias', 'model.layers.0.self_attn.q_proj.bias', true],
    ['blk.0.attn_k.weight', 'model.layers.0.self_attn.k_proj.weight', true],
    ['blk.0.attn_v.weight', 'model.layers.0.self_attn.v_proj.weight', false],
  ]);
  assert.deepEqual(pairing.mismatched, [{ name: 'blk.0.ffn_up.weight', hfName: 'model.layers.0.mlp.up_proj.weight', reason: 'shape [3, 3] vs [6, 3]' }]);
  assert.deepEqual(pairing.unpairedGguf, ['rope_freqs.weight']);
  assert.deepEqual(pairing.unpairedHf, ['model.extra.weight']);
  const files = new FileTable();
  for (const pair of pairing.pairs) {
    assert.deepEqual(pair.gguf.shape, pair.hf.shape, pair.name);
    assert.deepEqual(await readAll(pair.gguf, files), await readAll(pair.hf, files), pair.name);
  }
  // Without the permutation the Q rows would not line up: the view is what makes them equal.
  const qPair = pairing.pairs[1]!;
  assert.notDeepEqual(await readAll(qPair.gguf, files), bytes(q));
  files.closeAll();
});
