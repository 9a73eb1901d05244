/**
 * A GGUF file against the Hugging Face checkpoint it was converted from, both written by gguf_reference.py the way
 * convert_hf_to_gguf.py does (gguf-py's name map and quantizers, LlamaModel.permute on Q/K, GQA): `weightscope diff`
 * in both orders against an independent float64 reference (gguf-py's name map and `gguf.quants.dequantize`, the
 * converter's permutation applied to the HF values, numpy statistics), so each quantized tensor's relative change
 * is its dequantization error; and the real llama GGUF files of ../shared/checkpoints against the HF checkpoints
 * they were converted from (rebuilt by inverting the conversion in numpy). Skipped with a message when python3 with gguf
 * is not installed, or the shared checkpoints are not there.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compareDiff } from './diffDocument';
import { ReferenceScript, cliPath, missingPython, sharedCheckpoints } from './harness';

const reference = new ReferenceScript('gguf_reference.py');
const skip = missingPython('gguf', 'numpy');
const shared = sharedCheckpoints;

type Json = Record<string, unknown>;

function diffJson(...args: string[]): Json {
  const r = spawnSync(process.execPath, [cliPath, 'diff', ...args, '--json'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as Json;
}

test('GGUF vs its HF source, both orders: pairs, un-permuted Q/K and dequantization errors match the float64 reference', { skip }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'weightscope-gguf-hf-'));
  reference.text('make-llama', dir);
  const [gguf, hf] = [join(dir, 'model.gguf'), join(dir, 'hf', 'model.safetensors')];
  for (const [a, b] of [[gguf, hf], [hf, gguf]] as const) {
    const want = reference.json<Json>('diff-hf', a, b);
    const got = diffJson(a, b);
    assert.deepEqual(compareDiff(got, want), [], `${a} vs ${b}`);
    assert.deepEqual(diffJson(a, b, '--workers', '1', '--chunk-size', '4096'), got, `${a} vs ${b}: one worker, 4 KiB chunks`);
    const tensors = got.tensors as { name: string; dtype_a: string; identical: boolean; rel_delta: number }[];
    // Every tensor found its counterpart; the F32 Q/K of layer 0 are bit-identical once un-permuted.
    assert.equal(tensors.length, 21);
    const q0 = tensors.find((t) => t.name === (a === gguf ? 'blk.0.attn_q.weight' : 'model.layers.0.self_attn.q_proj.weight'))!;
    assert.equal(q0.identical, true);
    // The permuted Q8_0 q_proj of layer 1 carries a Q8_0-sized error, not the error of mismatched rows.
    const q1 = tensors.find((t) => t.name === (a === gguf ? 'blk.1.attn_q.weight' : 'model.layers.1.self_attn.q_proj.weight'))!;
    assert.ok(q1.rel_delta > 0 && q1.rel_delta < 0.01, String(q1.rel_delta));
  }
});

test('real llama GGUF files (GQA stories260K, llama-2-tiny-random) against their HF source: every tensor identical', { skip: skip || (!shared && 'no ../shared/checkpoints folder') }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'weightscope-gguf-hf-real-'));
  for (const file of ['gguf_stories260K_f32.gguf', 'gguf_ollama_llama-2-tiny-random_f16.gguf']) {
    const gguf = join(shared!, file);
    const hf = join(dir, file.replace(/\.gguf$/, '.safetensors'));
    reference.text('hf-from-gguf', gguf, hf);
    for (const [a, b] of [[gguf, hf], [hf, gguf]] as const) {
      const got = diffJson(a, b);
      const want = reference.json<Json>('diff-hf', a, b);
      assert.deepEqual(compareDiff(got, want), [], `${a} vs ${b}`);
      assert.deepEqual([got.only_a, got.only_b, got.mismatched], [[], [], []], file);
      const tensors = got.tensors as { name: string; identical: boolean }[];
      assert.ok(tensors.length >= 12 && tensors.every((t) => t.identical), `${file}: ${tensors.filter((t) => !t.identical).map((t) => t.name).join(', ')}`);
    }
  }
});
