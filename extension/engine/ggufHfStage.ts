/**
 * The alignment stage that pairs a GGUF file with the Hugging Face checkpoint it was converted from (either side of
 * a diff): llama.cpp names mapped to HF names, and permuted Q/K tensors read through views that walk both in the
 * GGUF's row order (`formats/ggufNames.ts`). Items keep their own names and logical shapes; only what is streamed
 * changes, so a quantized GGUF tensor compared with its source gives the dequantization error.
 */
import type { AlignStage, StageMatch } from '../compare/align';
import type { Checkpoint, TensorLocation } from '../formats/checkpoint';
import { pairGgufWithHf } from '../formats/ggufNames';
import type { DiffItem } from './diffEngine';

/** The extra alignment stages for a diff of `a` against `b`: the GGUF ↔ HF stage when exactly one is a GGUF file. */
export function ggufHfStages(a: Checkpoint, b: Checkpoint): AlignStage<DiffItem>[] {
  if ((a.format === 'gguf') === (b.format === 'gguf')) return [];
  return [a.format === 'gguf' ? ggufHfStage(a, b, 'a') : ggufHfStage(b, a, 'b')];
}

function ggufHfStage(gguf: Checkpoint, hf: Checkpoint, ggufSide: 'a' | 'b'): AlignStage<DiffItem> {
  return {
    name: 'gguf-hf',
    match(unmatchedA, unmatchedB) {
      const [ggufItems, hfItems] = ggufSide === 'a' ? [unmatchedA, unmatchedB] : [unmatchedB, unmatchedA];
      const ggufIndex = indexByName(ggufItems);
      const hfIndex = indexByName(hfItems);
      const pairing = pairGgufWithHf(
        { ...gguf, tensors: gguf.tensors.filter((t) => ggufIndex.has(t.name)) },
        { ...hf, tensors: hf.tensors.filter((t) => hfIndex.has(t.name)) },
      );
      /** The match of GGUF tensor `name` with HF tensor `hfName`, each side optionally replaced by a view. */
      const match = (name: string, hfName: string, view?: { gguf: (item: DiffItem) => DiffItem; hf: (item: DiffItem) => DiffItem }): StageMatch<DiffItem> => {
        const [g, h] = [ggufIndex.get(name)!, hfIndex.get(hfName)!];
        const views = view ? { gguf: view.gguf(ggufItems[g]!), hf: view.hf(hfItems[h]!) } : undefined;
        if (ggufSide === 'a') return { a: g, b: h, ...(views ? { aView: views.gguf, bView: views.hf } : {}) };
        return { a: h, b: g, ...(views ? { aView: views.hf, bView: views.gguf } : {}) };
      };
      return [
        ...pairing.pairs.map((p) => match(p.name, p.hfName, { gguf: (item) => streaming(item, p.gguf), hf: (item) => streaming(item, p.hf) })),
        // Shapes differ: the alignment lists them as mismatched.
        ...pairing.mismatched.map((m) => match(m.name, m.hfName)),
        // The rows cannot be read in one order: the pair reports the problem instead of statistics.
        ...pairing.unpermutable.map((u) => match(u.name, u.hfName, {
          gguf: (item) => unreadable(item, `the Q/K rows cannot be un-permuted: ${u.reason} (GGUF head count metadata)`),
          hf: (item) => item,
        })),
      ];
    },
  };
}

/** Item index by name, for the items that stand for a stored tensor (LoRA deltas are not converted tensors). */
function indexByName(items: readonly DiffItem[]): Map<string, number> {
  return new Map(items.flatMap((item, i) => (item.lora ? [] : [[item.name, i] as const])));
}

/** The item streamed through `location` (a view of its tensor); its name and logical shape stay. */
function streaming(item: DiffItem, location: TensorLocation): DiffItem {
  return item.operand ? { ...item, operand: { kind: 'tensor', location } } : item;
}

function unreadable(item: DiffItem, message: string): DiffItem {
  return { name: item.name, shape: item.shape, dtype: item.dtype, problem: { code: 'INVALID_METADATA', message } };
}
