/**
 * Which weight each activation entry belongs to. Calibration tools name entries after the weight (llama.cpp:
 * `blk.0.attn_q.weight`), after the module (SmoothQuant: `model.layers.0.self_attn.q_proj`) or in the other naming
 * scheme than the checkpoint's (an imatrix for a safetensors model, act_scales for a GGUF file): the first of these
 * candidates that names a tensor of the checkpoint wins —
 *   the name itself, the name + ".weight", then each of those through the llama.cpp ↔ Hugging Face table
 *   (ggufNames.ts), with and without the "model." prefix.
 * Entries that name no tensor, or a tensor an earlier entry already claimed, are unmatched.
 */
import type { Checkpoint } from '../formats/checkpoint';
import { ggufToHfName, hfToGgufName } from '../formats/ggufNames';
import type { ActivationStats } from './activationStats';

export interface ActivationMatch {
  /** Checkpoint tensor index → entry index. */
  readonly byTensor: ReadonlyMap<number, number>;
  /** Names of the entries that match no tensor, in file order. */
  readonly unmatched: readonly string[];
}

/** Tensor names an activation entry may stand for, most literal first. */
export function weightNameCandidates(name: string): string[] {
  const direct = name.endsWith('.weight') ? [name] : [name, `${name}.weight`];
  const mapped = direct.flatMap((n) => {
    const hf = ggufToHfName(n);
    const gguf = hfToGgufName(n) ?? hfToGgufName(`model.${n}`);
    return [hf, hf?.replace(/^model\./, ''), gguf];
  });
  return [...new Set([...direct, ...mapped].filter((n): n is string => n !== undefined))];
}

export function matchActivations(checkpoint: Checkpoint, stats: ActivationStats): ActivationMatch {
  const tensorIndex = new Map(checkpoint.tensors.map((t, i) => [t.name, i]));
  const byTensor = new Map<number, number>();
  const unmatched: string[] = [];
  stats.entries.forEach((entry, e) => {
    const index = weightNameCandidates(entry.name).map((n) => tensorIndex.get(n)).find((i) => i !== undefined);
    if (index === undefined || byTensor.has(index)) unmatched.push(entry.name);
    else byTensor.set(index, e);
  });
  return { byTensor, unmatched };
}
