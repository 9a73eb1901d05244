/** The statistics contract's tolerances, and tensor-by-tensor comparison of stats documents, shared by every golden test. */
import assert from 'node:assert/strict';
import { basename } from 'node:path';
import { QUANTILE_KEYS, type TensorStats } from '../../extension/engine/statsTypes';

const EXACT_QUANTILE_TYPES = new Set(['F16', 'BF16', 'F8_E4M3', 'F8_E5M2', 'F8_E8M0', 'F8_E4M3FNUZ', 'F8_E5M2FNUZ', 'F6_E2M3', 'F6_E3M2', 'F4', 'I64', 'I32', 'I16', 'I8', 'U64', 'U32', 'U16', 'U8', 'BOOL']);

/** Compares one tensor's statistics with the documented tolerances; returns the differences found. */
export function compareStats(where: string, dtype: string, got: TensorStats, want: TensorStats): string[] {
  const problems: string[] = [];
  const check = (field: string, a: number | null, b: number | null, ok: (a: number, b: number) => boolean): void => {
    if (a === null || b === null ? a !== b : !ok(a, b)) problems.push(`${where} (${dtype}) ${field}: got ${a}, want ${b}`);
  };
  const exact = (a: number, b: number): boolean => a === b;
  const relative = (tolerance: number) => (a: number, b: number) => Math.abs(a - b) <= tolerance * Math.abs(b);
  for (const field of ['count', 'zeros', 'nan', 'posinf', 'neginf', 'min', 'max', 'absmax'] as const) check(field, got[field], want[field], exact);
  const spread = Math.abs(want.mean ?? 0) + (want.std ?? 0);
  check('mean', got.mean, want.mean, (a, b) => Math.abs(a - b) <= 1e-6 * spread);
  check('std', got.std, want.std, relative(1e-6));
  check('l2', got.l2, want.l2, relative(1e-6));
  check('skewness', got.skewness, want.skewness, (a, b) => Math.abs(a - b) <= 1e-4);
  check('kurtosis', got.kurtosis, want.kurtosis, (a, b) => Math.abs(a - b) <= 1e-4);
  const quantileOk = EXACT_QUANTILE_TYPES.has(dtype) ? exact : relative(2 ** -7);
  for (const q of QUANTILE_KEYS) check(`quantile ${q}`, got.quantiles[q], want.quantiles[q], quantileOk);
  return problems;
}

export interface TensorDoc {
  name: string;
  dtype: string;
  shape: number[];
  /** Absent from references that do not know where the bytes lie (ONNX). */
  offset?: number;
  bytes?: number;
  stats: TensorStats | null;
  error: { code: string } | null;
}

/** Where a tensor's bytes lie, as far as a reference can tell. */
export type LayoutKey = 'shape' | 'offset' | 'bytes';

/** Tensor by tensor: names in order, dtype and the `layout` fields equal, errors where the reference has them,
 *  statistics within the tolerances. */
export function compareDocuments(file: string, got: { tensors: TensorDoc[] }, want: { tensors: TensorDoc[] }, layout: readonly LayoutKey[] = ['offset', 'bytes']): string[] {
  const problems: string[] = [];
  assert.deepEqual(got.tensors.map((t) => t.name), want.tensors.map((t) => t.name), `${file}: tensor names`);
  const describe = (t: TensorDoc): string => [t.dtype, ...layout.map((k) => JSON.stringify(t[k]))].join('/');
  got.tensors.forEach((g, i) => {
    const w = want.tensors[i]!;
    const where = `${basename(file)}:${g.name}`;
    if (describe(g) !== describe(w)) problems.push(`${where}: dtype/${layout.join('/')} ${describe(g)} vs ${describe(w)}`);
    if (w.error) {
      if (g.error?.code !== w.error.code) problems.push(`${where}: expected error ${w.error.code}, got ${JSON.stringify(g.error)}`);
    } else if (!g.stats) problems.push(`${where}: no statistics (${JSON.stringify(g.error)})`);
    else problems.push(...compareStats(where, g.dtype, g.stats, w.stats!));
  });
  return problems;
}
