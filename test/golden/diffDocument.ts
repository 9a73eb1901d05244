/** Checking `weightscope diff --json` documents against the float64 references, shared by the golden diff tests. */
import assert from 'node:assert/strict';

type Json = Record<string, unknown>;

const DIFF_KEYS = ['name', 'shape', 'dtype_a', 'dtype_b', 'l2_a', 'l2_b', 'l2_delta', 'rel_delta', 'cosine', 'max_abs_delta', 'changed_fraction', 'sign_flip_fraction', 'identical'];

/** The documented document: same keys in the same order, lists equal, numbers within `tolerance` relative. */
export function compareDiff(got: Json, want: Json, tolerance = 1e-9): string[] {
  const problems: string[] = [];
  assert.deepEqual(Object.keys(got), ['a', 'b', 'only_a', 'only_b', 'mismatched', 'tensors']);
  for (const key of ['a', 'b', 'only_a', 'only_b', 'mismatched']) assert.deepEqual(got[key], want[key], key);
  const gotTensors = got.tensors as Json[];
  const wantTensors = want.tensors as Json[];
  assert.deepEqual(gotTensors.map((t) => t.name), wantTensors.map((t) => t.name));
  gotTensors.forEach((g, i) => {
    const w = wantTensors[i]!;
    assert.deepEqual(Object.keys(g), DIFF_KEYS, `keys of ${String(g.name)}`);
    for (const key of DIFF_KEYS) {
      const [a, b] = [g[key], w[key]];
      const ok = typeof a === 'number' && typeof b === 'number' ? Math.abs(a - b) <= tolerance * Math.max(Math.abs(b), 1e-300) : JSON.stringify(a) === JSON.stringify(b);
      if (!ok) problems.push(`${String(g.name)} ${key}: got ${JSON.stringify(a)}, want ${JSON.stringify(b)}`);
    }
  });
  return problems;
}
