/**
 * Which tensor of checkpoint A corresponds to which of B. Stages run in order, each over the names no earlier stage
 * matched: exact names first, then names equal once the usual wrapper prefixes are stripped. Another mapping (GGUF's
 * llama.cpp names ↔ Hugging Face names, with the Q/K rows permuted as a strided view) plugs in as an extra stage.
 */

/** What alignment needs to know of an item: its name, and shape and dtype for the classification. */
export interface Alignable {
  readonly name: string;
  readonly shape: readonly number[];
  readonly dtype: string;
}

/** A match found by a stage, as indices into the lists it was given; `b` may be replaced by a view of it. */
export interface StageMatch<T> {
  a: number;
  b: number;
  bView?: T;
}

export interface AlignStage<T extends Alignable> {
  readonly name: string;
  match(unmatchedA: readonly T[], unmatchedB: readonly T[]): StageMatch<T>[];
}

/** A stage that looks at names only (the built-in ones). */
export interface NameStage {
  readonly name: string;
  match(unmatchedA: readonly Alignable[], unmatchedB: readonly Alignable[]): { a: number; b: number }[];
}

export interface AlignedPair<T> {
  a: T;
  b: T;
  /** The stage that matched them. */
  stage: string;
}

export interface Alignment<T> {
  /** Pairs with the same shape, in A's order (the dtypes may differ). */
  pairs: AlignedPair<T>[];
  /** Pairs whose shape or dtype differ, in A's order. */
  mismatched: AlignedPair<T>[];
  onlyA: T[];
  onlyB: T[];
}

/** Wrapper prefixes PEFT, transformers and GPT-2 style checkpoints put before the module path. */
export const STRIPPED_PREFIXES = ['base_model.model.', 'model.', 'transformer.'];

export const EXACT_NAMES: NameStage = {
  name: 'exact',
  match(a, b) {
    const byName = new Map(b.map((t, i) => [t.name, i]));
    return a.flatMap((t, i) => (byName.has(t.name) ? [{ a: i, b: byName.get(t.name)! }] : []));
  },
};

/** The name with every listed prefix stripped from its start, repeatedly and in any order. */
export function strippedName(name: string, prefixes: readonly string[] = STRIPPED_PREFIXES): string {
  let current = name;
  for (;;) {
    const prefix = prefixes.find((p) => current.startsWith(p) && current.length > p.length);
    if (!prefix) return current;
    current = current.slice(prefix.length);
  }
}

/** Names equal after stripping prefixes, when the stripped name is unique among the unmatched names of each side. */
export const STRIPPED_NAMES: NameStage = {
  name: 'stripped-prefixes',
  match(a, b) {
    const unique = (items: readonly Alignable[]): Map<string, number> => {
      const seen = new Map<string, number>();
      const repeated = new Set<string>();
      items.forEach((t, i) => {
        const key = strippedName(t.name);
        if (seen.has(key)) repeated.add(key);
        seen.set(key, i);
      });
      for (const key of repeated) seen.delete(key);
      return seen;
    };
    const left = unique(a);
    const right = unique(b);
    return [...left].flatMap(([key, i]) => (right.has(key) ? [{ a: i, b: right.get(key)! }] : []));
  },
};

export function align<T extends Alignable>(a: readonly T[], b: readonly T[], extraStages: readonly AlignStage<T>[] = []): Alignment<T> {
  const stages: readonly (NameStage | AlignStage<T>)[] = [EXACT_NAMES, STRIPPED_NAMES, ...extraStages];
  const matchedA = new Map<number, { b: number; view: T; stage: string }>();
  const matchedB = new Set<number>();
  for (const stage of stages) {
    const freeA = a.map((_, i) => i).filter((i) => !matchedA.has(i));
    const freeB = b.map((_, i) => i).filter((i) => !matchedB.has(i));
    if (freeA.length === 0 || freeB.length === 0) break;
    for (const m of stage.match(freeA.map((i) => a[i]!), freeB.map((i) => b[i]!)) as StageMatch<T>[]) {
      const ai = freeA[m.a];
      const bi = freeB[m.b];
      if (ai === undefined || bi === undefined || matchedA.has(ai) || matchedB.has(bi)) continue;
      matchedA.set(ai, { b: bi, view: m.bView ?? b[bi]!, stage: stage.name });
      matchedB.add(bi);
    }
  }
  const pairs: AlignedPair<T>[] = [];
  const mismatched: AlignedPair<T>[] = [];
  a.forEach((t, i) => {
    const m = matchedA.get(i);
    if (!m) return;
    const pair = { a: t, b: m.view, stage: m.stage };
    const sameShape = sameDims(t.shape, m.view.shape);
    if (sameShape) pairs.push(pair);
    if (!sameShape || t.dtype !== m.view.dtype) mismatched.push(pair);
  });
  return {
    pairs,
    mismatched,
    onlyA: a.filter((_, i) => !matchedA.has(i)),
    onlyB: b.filter((_, i) => !matchedB.has(i)),
  };
}

function sameDims(x: readonly number[], y: readonly number[]): boolean {
  return x.length === y.length && x.every((d, i) => d === y[i]);
}
