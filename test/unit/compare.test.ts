import { test } from 'node:test';
import assert from 'node:assert/strict';
import { align, strippedName, type AlignStage, type Alignable } from '../../extension/compare/align';
import { findLoraPairs, loraScale } from '../../extension/compare/lora';
import { layerIndex, moduleKind } from '../../extension/compare/modules';
import { independentTrainings } from '../../extension/compare/verdict';
import type { TensorEntry } from '../../extension/formats/checkpoint';

const t = (name: string, shape: number[] = [2, 2], dtype = 'F32'): Alignable => ({ name, shape, dtype });

test('alignment: exact names first, then stripped prefixes among the unmatched, in A order', () => {
  const a = [t('model.layers.0.q.weight'), t('lm_head.weight'), t('model.norm.weight', [4]), t('only.a')];
  const b = [t('base_model.model.model.layers.0.q.weight'), t('lm_head.weight', [2, 2], 'BF16'), t('transformer.model.norm.weight', [5]), t('only.b')];
  const r = align(a, b);
  assert.deepEqual(r.pairs.map((p) => [p.a.name, p.b.name, p.stage]), [
    ['model.layers.0.q.weight', 'base_model.model.model.layers.0.q.weight', 'stripped-prefixes'],
    ['lm_head.weight', 'lm_head.weight', 'exact'],
  ]);
  assert.deepEqual(r.mismatched.map((p) => p.a.name), ['lm_head.weight', 'model.norm.weight'], 'dtype mismatch is also listed; shape mismatch only there');
  assert.deepEqual(r.onlyA.map((x) => x.name), ['only.a']);
  assert.deepEqual(r.onlyB.map((x) => x.name), ['only.b']);
});

test('alignment: stripped names must be unique on each side, and exact matches are taken first', () => {
  const a = [t('model.x'), t('transformer.x'), t('y')];
  const b = [t('base_model.model.x'), t('model.y')];
  const r = align(a, b);
  assert.deepEqual(r.pairs.map((p) => [p.a.name, p.b.name]), [['y', 'model.y']], '"x" is ambiguous in A');
  assert.deepEqual(r.onlyA.map((x) => x.name), ['model.x', 'transformer.x']);
  const exactFirst = align([t('model.z'), t('z')], [t('z')]);
  assert.deepEqual(exactFirst.pairs.map((p) => p.a.name), ['z']);
  assert.equal(strippedName('base_model.model.model.layers.1'), 'layers.1');
  assert.equal(strippedName('model.'), 'model.', 'never strips to nothing');
});

test('alignment: an extra stage sees only unmatched names and may substitute a view of B', () => {
  const renames: AlignStage<Alignable> = {
    name: 'gguf',
    match: (a, b) => a.flatMap((x, i) => {
      const j = b.findIndex((y) => y.name === x.name.replace('model.layers.', 'blk.'));
      return j < 0 ? [] : [{ a: i, b: j, bView: { ...b[j]!, name: `${b[j]!.name} (permuted)` } }];
    }),
  };
  const r = align([t('model.layers.3.attn_q.weight'), t('same')], [t('blk.3.attn_q.weight'), t('same')], [renames]);
  assert.deepEqual(r.pairs.map((p) => [p.a.name, p.b.name, p.stage]), [['model.layers.3.attn_q.weight', 'blk.3.attn_q.weight (permuted)', 'gguf'], ['same', 'same', 'exact']]);
});

test('module kinds and layer indices across naming conventions', () => {
  const cases: [string, string, number | null][] = [
    ['model.layers.3.self_attn.q_proj.weight', 'q', 3], ['model.layers.3.mlp.down_proj.weight', 'down', 3],
    ['model.embed_tokens.weight', 'embedding', null], ['lm_head.weight', 'head', null], ['model.norm.weight', 'norm', null],
    ['transformer.h.11.attn.c_attn.weight', 'qkv', 11], ['transformer.h.0.mlp.c_proj.weight', 'down', 0], ['transformer.h.0.attn.c_proj.weight', 'o', 0],
    ['roberta.encoder.layer.5.attention.output.dense.weight', 'o', 5], ['roberta.encoder.layer.5.output.dense.weight', 'down', 5],
    ['roberta.encoder.layer.5.intermediate.dense.weight', 'up', 5], ['blk.7.ffn_gate.weight', 'gate', 7], ['token_embd.weight', 'embedding', null],
    ['output.weight', 'head', null], ['distilbert.transformer.layer.2.attention.v_lin.weight', 'v', 2], ['weird_thing', 'other', null],
  ];
  for (const [name, kind, layer] of cases) {
    assert.equal(moduleKind(name), kind, name);
    assert.equal(layerIndex(name), layer, name);
  }
});

const entry = (name: string, shape: number[], dtype = 'F32'): TensorEntry => ({ name, shape, dtype, file: 'f', offset: 0, bytes: shape.reduce((a, b) => a * b, 4) });

test('LoRA pairs in every convention, with ΔW shapes', () => {
  const { pairs, others } = findLoraPairs([
    entry('base_model.model.q.lora_A.weight', [8, 768]), entry('base_model.model.q.lora_B.weight', [2304, 8]),
    entry('base_model.model.head.weight', [2, 768]),
    entry('model.layers.20.self_attn.v_proj.lora_a', [896, 8]), entry('model.layers.20.self_attn.v_proj.lora_b', [8, 128]),
    entry('lora_unet_down.lora_down.weight', [4, 320, 3, 3]), entry('lora_unet_down.lora_up.weight', [640, 4, 1, 1]), entry('lora_unet_down.alpha', []),
    entry('unet.attn1.processor.to_k_lora.down.weight', [4, 320]), entry('unet.attn1.processor.to_k_lora.up.weight', [320, 4]),
    entry('text_encoder:0:down', [4, 768]), entry('text_encoder:0:up', [768, 4]),
    entry('text_encoder.text_model.encoder.layers.0.self_attn.q_proj.lora_linear_layer.down.weight', [4, 768]),
    entry('text_encoder.text_model.encoder.layers.0.self_attn.q_proj.lora_linear_layer.up.weight', [768, 4]),
    entry('unet.mid_block.attentions.0.proj_in.lora_layer.down.weight', [4, 320]), entry('unet.mid_block.attentions.0.proj_in.lora_layer.up.weight', [320, 4]),
    entry('lonely.lora_A.weight', [4, 16]),
  ]);
  assert.deepEqual(pairs.map((p) => [p.name, p.convention, p.rank, p.rows, p.cols, p.shape]), [
    ['base_model.model.q.weight', 'peft', 8, 2304, 768, [2304, 768]],
    ['model.layers.20.self_attn.v_proj.weight', 'mlx', 8, 128, 896, [128, 896]],
    ['lora_unet_down.weight', 'kohya', 4, 640, 2880, [640, 320, 3, 3]],
    ['unet.attn1.processor.to_k.weight', 'diffusers', 4, 320, 320, [320, 320]],
    ['text_encoder:0', 'cloneofsimo', 4, 768, 768, [768, 768]],
    ['text_encoder.text_model.encoder.layers.0.self_attn.q_proj.weight', 'diffusers', 4, 768, 768, [768, 768]],
    ['unet.mid_block.attentions.0.proj_in.weight', 'diffusers', 4, 320, 320, [320, 320]],
  ]);
  assert.equal(pairs[1]!.transposedA && pairs[1]!.transposedB, true);
  assert.equal(pairs[2]!.alpha?.name, 'lora_unet_down.alpha');
  assert.deepEqual(others.map((o) => o.name), ['base_model.model.head.weight', 'lonely.lora_A.weight']);
});

test('LoRA scales: PEFT alpha/r with patterns and rsLoRA, MLX scale (× alpha/rank when both), kohya alpha, else 1', () => {
  const [peft] = findLoraPairs([entry('base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight', [8, 16]), entry('base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight', [16, 8])]).pairs;
  const config = (json: Record<string, unknown>) => ({ path: 'adapter_config.json', json });
  assert.equal(loraScale(peft!, config({ r: 8, lora_alpha: 16 })).scale, 2);
  assert.match(loraScale(peft!, config({ r: 8, lora_alpha: 16 })).source, /lora_alpha \/ r = 16 \/ 8/);
  assert.equal(loraScale(peft!, config({ r: 8, lora_alpha: 16, use_rslora: true })).scale, 16 / Math.sqrt(8));
  assert.equal(loraScale(peft!, config({ r: 8, lora_alpha: 16, rank_pattern: { q_proj: 4 }, alpha_pattern: { 'layers.0.self_attn.q_proj': 32 } })).scale, 8);
  assert.equal(loraScale(peft!, config({ r: 8, lora_alpha: 16, rank_pattern: { k_proj: 4 } })).scale, 2, 'a pattern for another module does not apply');
  assert.equal(loraScale(peft!, config({ lora_parameters: { rank: 8, alpha: 16, scale: 10 } })).scale, 20);
  assert.equal(loraScale(peft!, config({ lora_parameters: { rank: 8, scale: 20 } })).scale, 20);
  assert.equal(loraScale(peft!, undefined, 4).scale, 0.5);
  const none = loraScale(peft!, undefined);
  assert.equal(none.scale, 1);
  assert.match(none.source, /scale 1/);
});

test('independent trainings: nearly all comparable cosines near 0', () => {
  const p = (cosine: number | null, identical = false) => ({ cosine, identical });
  assert.equal(independentTrainings([p(0.01), p(-0.05), p(0.1), p(-0.3), p(0.02)]), true);
  assert.equal(independentTrainings([p(0.99), p(0.98), p(0.01)]), false);
  assert.equal(independentTrainings([p(0.01)]), false, 'one pair is not evidence');
  assert.equal(independentTrainings([p(0.01), p(0.0), p(1, true), p(1, true), p(null)]), true, 'identical and undefined pairs do not count');
});
