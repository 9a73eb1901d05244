/**
 * Where a tensor sits in a transformer, from its name alone: the layer index and the kind of module. Names follow
 * many conventions (Llama/Mistral/Qwen, GPT-2, BERT/RoBERTa, DistilBERT, T5, llama.cpp's GGUF names, diffusers,
 * LoRA adapters); anything not recognised is "other".
 */

export const MODULE_KINDS = ['embedding', 'q', 'k', 'v', 'qkv', 'o', 'gate', 'up', 'down', 'norm', 'head', 'other'] as const;
export type ModuleKind = (typeof MODULE_KINDS)[number];

/** The first ".<number>." of the name (model.layers.7.…, transformer.h.7.…, encoder.layer.7.…, blk.7.…). */
export function layerIndex(name: string): number | null {
  const match = /(?:^|[.:_])(\d+)(?=[.:_])/.exec(name);
  return match ? Number(match[1]) : null;
}

/** Patterns tried in order; the first match names the kind. Matched against the dotted name in lower case. */
const KIND_PATTERNS: readonly [ModuleKind, RegExp][] = [
  ['norm', /(norm|ln_\w*|ln\d*|layernorm|layer_norm)(\.|$)|\.ln_|_norm\./],
  ['embedding', /(embed\w*|wte|wpe|token_embd|shared)(\.|$)/],
  ['head', /(^|\.)(lm_head|classifier|score|pooler|cls)(\.|$)|^output\./],
  ['qkv', /(c_attn|qkv|query_key_value|attn_qkv|wqkv)(\.|$|_)/],
  ['q', /(q_proj|query|q_lin|to_q|wq|attn_q|\.q)(\.|$|_)/],
  ['k', /(k_proj|key|k_lin|to_k|wk|attn_k|\.k)(\.|$|_)/],
  ['v', /(v_proj|value|v_lin|to_v|wv|attn_v|\.v)(\.|$|_)/],
  ['o', /(o_proj|out_proj|out_lin|to_out|wo|attn_output|attn\.c_proj|\.o)(\.|$|_)/],
  ['gate', /(gate_proj|w1|ffn_gate|gate)(\.|$|_)/],
  ['up', /(up_proj|w3|ffn_up|fc1|c_fc|lin1|intermediate\.dense|wi)(\.|$|_)/],
  ['down', /(down_proj|w2|ffn_down|fc2|mlp\.c_proj|lin2|output\.dense|wo)(\.|$|_)/],
];

export function moduleKind(name: string): ModuleKind {
  const lower = name.toLowerCase();
  // BERT: "attention.output.dense" is the attention output, "output.dense" alone the FFN down projection.
  if (/attention\.output\.dense/.test(lower)) return 'o';
  for (const [kind, pattern] of KIND_PATTERNS) if (pattern.test(lower)) return kind;
  return 'other';
}
