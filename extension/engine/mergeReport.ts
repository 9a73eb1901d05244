/** The `weightscope merge --json` document: exactly the documented keys, in the documented order. */
import type { MergeTensorStats } from './diffTypes';
import type { MergeRow } from './mergeEngine';

export interface MergeTensorEntry {
  name: string;
  kept_fraction: number | null;
  sign_conflict_fraction: number | null;
  task_counts: number[];
  /** Only with --details. */
  trimmed_mass?: number | null;
  /** Only with --details: weights kept by exactly one task. */
  selfish?: number;
  /** Only with --details: weights kept by no task. */
  catastrophic?: number;
}

export interface MergeReport {
  method: string;
  params: Record<string, number>;
  tensors: MergeTensorEntry[];
}

export function buildMergeReport(method: string, params: Record<string, number>, rows: readonly MergeRow[], stats: ReadonlyMap<number, MergeTensorStats>, details = false): MergeReport {
  return {
    method,
    params,
    tensors: rows.map(({ base }, i) => {
      const s = stats.get(i);
      const counts = s?.task_counts ?? [];
      return {
        name: base.name,
        kept_fraction: s?.kept_fraction ?? null,
        sign_conflict_fraction: s?.sign_conflict_fraction ?? null,
        task_counts: counts,
        ...(details ? { trimmed_mass: s?.trimmed_mass ?? null, selfish: counts[1] ?? 0, catastrophic: counts[0] ?? 0 } : {}),
      };
    }),
  };
}
