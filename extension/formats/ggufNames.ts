/**
 * A GGUF file next to the Hugging Face checkpoint it was converted from: llama.cpp tensor names mapped to HF names
 * (llama-family layouts, as gguf-py's tensor_mapping.py lists them), and the Q/K row permutation llama.cpp's
 * convert_hf_to_gguf.py applies for rotary embeddings (`LlamaModel.permute`) undone as a strided view of the HF
 * tensor, so any analysis can read both tensors element by element in the same order.
 *
 * The converter reshapes the rows of q_proj/k_proj (and their biases) as (heads, 2, rows/heads/2) and swaps the
 * last two axes: GGUF row h·2·half + 2i + j holds HF row h·2·half + j·half + i. Viewing the HF tensor with shape
 * [heads, half, 2, …rest] and strides [2·half·s, s, half·s, …] (s = its row stride) walks it in GGUF order.
 */
import type { Checkpoint, TensorEntry, TensorLocation } from './checkpoint';
import { elementCount } from './checkpoint';

/** llama.cpp names → HF names, `{n}` standing for the block number; `.weight`/`.bias` suffixes carry over. */
const NAME_MAP: readonly (readonly [string, string])[] = [
  ['token_embd', 'model.embed_tokens'],
  ['output_norm', 'model.norm'],
  ['output', 'lm_head'],
  ['blk.{n}.attn_norm', 'model.layers.{n}.input_layernorm'],
  ['blk.{n}.attn_q', 'model.layers.{n}.self_attn.q_proj'],
  ['blk.{n}.attn_k', 'model.layers.{n}.self_attn.k_proj'],
  ['blk.{n}.attn_v', 'model.layers.{n}.self_attn.v_proj'],
  ['blk.{n}.attn_output', 'model.layers.{n}.self_attn.o_proj'],
  ['blk.{n}.attn_q_norm', 'model.layers.{n}.self_attn.q_norm'],
  ['blk.{n}.attn_k_norm', 'model.layers.{n}.self_attn.k_norm'],
  ['blk.{n}.ffn_norm', 'model.layers.{n}.post_attention_layernorm'],
  ['blk.{n}.ffn_gate', 'model.layers.{n}.mlp.gate_proj'],
  ['blk.{n}.ffn_up', 'model.layers.{n}.mlp.up_proj'],
  ['blk.{n}.ffn_down', 'model.layers.{n}.mlp.down_proj'],
];

/** Architectures whose converter permutes Q/K rows (llama.cpp's LlamaModel and the models converted through it). */
const PERMUTED_ARCHITECTURES = new Set(['llama', 'granite', 'granitemoe']);

const SUFFIX = /\.(weight|bias)$/;

function pattern(template: string): RegExp {
  return new RegExp(`^${template.replace(/\./g, '\\.').replace('{n}', '(\\d+)')}$`);
}

const FORWARD = NAME_MAP.map(([gguf, hf]) => ({ from: pattern(gguf), to: hf }));
const BACKWARD = NAME_MAP.map(([gguf, hf]) => ({ from: pattern(hf), to: gguf }));

function mapName(name: string, table: typeof FORWARD): string | undefined {
  const suffix = SUFFIX.exec(name);
  const stem = suffix ? name.slice(0, suffix.index) : name;
  for (const { from, to } of table) {
    const m = from.exec(stem);
    if (m) return to.replace('{n}', m[1] ?? '') + (suffix?.[0] ?? '');
  }
  return undefined;
}

/** The HF name of a llama.cpp tensor name, or undefined when the table has no such tensor. */
export function ggufToHfName(name: string): string | undefined {
  return mapName(name, FORWARD);
}

/** The llama.cpp name of an HF tensor name, or undefined when the table has no such tensor. */
export function hfToGgufName(name: string): string | undefined {
  return mapName(name, BACKWARD);
}

/** Whether the converter permuted this tensor's rows, and with how many heads. */
function permutationHeads(name: string, metadata: Readonly<Record<string, string>>): number | undefined {
  const arch = metadata['general.architecture'] ?? '';
  if (!PERMUTED_ARCHITECTURES.has(arch)) return undefined;
  const kind = /^blk\.\d+\.attn_([qk])\.(weight|bias)$/.exec(name)?.[1];
  if (!kind) return undefined;
  const heads = Number(metadata[`${arch}.attention.head_count`]);
  const kvHeads = Number(metadata[`${arch}.attention.head_count_kv`] ?? heads);
  const n = kind === 'q' ? heads : kvHeads;
  return Number.isInteger(n) && n > 0 ? n : undefined;
}

function rowMajorStrides(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length);
  let stride = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    strides[d] = stride;
    stride *= shape[d]!;
  }
  return strides;
}

/**
 * The inverse of `LlamaModel.permute(…, heads)` as views: the GGUF tensor reshaped to [heads, half, 2, …rest]
 * (contiguous, free) and the HF tensor viewed in the same shape with strides that walk it in GGUF row order.
 */
export function unpermutedViews(gguf: TensorLocation, hf: TensorLocation, heads: number): { gguf: TensorLocation; hf: TensorLocation } | string {
  const rows = hf.shape[0] ?? 0;
  if (rows % (2 * heads) !== 0) return `${rows} rows do not split into ${heads} heads of row pairs`;
  const half = rows / heads / 2;
  const rest = hf.shape.slice(1);
  const shape = [heads, half, 2, ...rest];
  const strides = hf.strides ?? rowMajorStrides(hf.shape);
  const s = strides[0]!;
  return { gguf: { ...gguf, shape }, hf: { ...hf, shape, strides: [2 * half * s, s, half * s, ...strides.slice(1)] } };
}

/** A GGUF tensor and its HF source, both as locations whose elements come in the same order. */
export interface TensorPair {
  /** The GGUF name. */
  name: string;
  hfName: string;
  gguf: TensorLocation;
  /** The HF tensor in the GGUF tensor's element order (a strided view when `permuted`). */
  hf: TensorLocation;
  permuted: boolean;
}

export interface GgufHfPairing {
  pairs: TensorPair[];
  /** Pairs found by name whose shapes disagree (or whose rows cannot be un-permuted), with the reason. */
  mismatched: { name: string; hfName: string; reason: string }[];
  /** GGUF tensors with no HF counterpart (not in the table, or absent from the HF checkpoint). */
  unpairedGguf: string[];
  /** HF tensors no GGUF tensor maps to. */
  unpairedHf: string[];
}

/** Pairs every GGUF tensor with its HF source tensor, by the name table; HF names are also tried without "model.". */
export function pairGgufWithHf(gguf: Checkpoint, hf: Checkpoint): GgufHfPairing {
  const hfByName = new Map<string, TensorEntry>(hf.tensors.map((t) => [t.name, t]));
  const used = new Set<string>();
  const result: GgufHfPairing = { pairs: [], mismatched: [], unpairedGguf: [], unpairedHf: [] };
  for (const g of gguf.tensors) {
    const mapped = ggufToHfName(g.name);
    const hfName = mapped && [mapped, mapped.replace(/^model\./, '')].find((n) => hfByName.has(n));
    if (!mapped || !hfName) {
      result.unpairedGguf.push(g.name);
      continue;
    }
    used.add(hfName);
    const h = hfByName.get(hfName)!;
    if (g.shape.length !== h.shape.length || g.shape.some((d, i) => d !== h.shape[i]) || elementCount(g.shape) !== elementCount(h.shape)) {
      result.mismatched.push({ name: g.name, hfName, reason: `shape [${g.shape.join(', ')}] vs [${h.shape.join(', ')}]` });
      continue;
    }
    const heads = permutationHeads(g.name, gguf.metadata);
    if (heads === undefined) {
      result.pairs.push({ name: g.name, hfName, gguf: g, hf: h, permuted: false });
      continue;
    }
    const views = unpermutedViews(g, h, heads);
    if (typeof views === 'string') result.mismatched.push({ name: g.name, hfName, reason: views });
    else result.pairs.push({ name: g.name, hfName, ...views, permuted: true });
  }
  result.unpairedHf = hf.tensors.map((t) => t.name).filter((n) => !used.has(n));
  return result;
}
