/**
 * The layer profile of a diff: layer index × module kind, each cell the relative change of the tensors in it
 * (‖Δ‖ / ‖A‖ over all of them), frozen when every one is bit-identical.
 */
import { MODULE_KINDS, type DiffRow, type ModuleKind, type PairStats } from '../../extension/protocol/messages';

export interface ProfileCell {
  layer: number | null;
  kind: ModuleKind;
  ids: number[];
  /** sqrt(Σ‖Δ‖²) / sqrt(Σ‖A‖²); null until every tensor of the cell has statistics, or when undefined. */
  relative: number | null;
  frozen: boolean;
  /** Every tensor of the cell has statistics. */
  complete: boolean;
}

export interface LayerProfile {
  /** Row labels: null (tensors outside numbered layers) first, then layer indices ascending. */
  layers: (number | null)[];
  kinds: ModuleKind[];
  cells: Map<string, ProfileCell>;
  /** Smallest and largest nonzero relative change over the cells (for the colour scale). */
  range: [number, number] | null;
}

export const cellKey = (layer: number | null, kind: ModuleKind): string => `${layer ?? '-'}:${kind}`;

export function layerProfile(rows: readonly DiffRow[], stats: ReadonlyMap<number, PairStats>): LayerProfile {
  const cells = new Map<string, ProfileCell>();
  for (const row of rows) {
    const key = cellKey(row.layer, row.kind);
    const cell = cells.get(key) ?? { layer: row.layer, kind: row.kind, ids: [], relative: null, frozen: true, complete: true };
    cell.ids.push(row.id);
    cells.set(key, cell);
  }
  let low = Infinity;
  let high = -Infinity;
  for (const cell of cells.values()) {
    let delta = 0;
    let base = 0;
    for (const id of cell.ids) {
      const s = stats.get(id);
      if (!s) {
        cell.complete = false;
        continue;
      }
      cell.frozen &&= s.identical;
      if (s.l2_delta === null || s.l2_a === null) continue;
      delta += s.l2_delta ** 2;
      base += s.l2_a ** 2;
    }
    if (!cell.complete) cell.frozen = false;
    cell.relative = cell.complete && base > 0 ? Math.sqrt(delta) / Math.sqrt(base) : null;
    if (cell.relative !== null && cell.relative > 0) {
      low = Math.min(low, cell.relative);
      high = Math.max(high, cell.relative);
    }
  }
  const layerSet = new Set(rows.map((r) => r.layer));
  const layers = [...layerSet].sort((x, y) => (x === null ? -1 : y === null ? 1 : x - y));
  const kinds = MODULE_KINDS.filter((k) => rows.some((r) => r.kind === k));
  return { layers, kinds, cells, range: Number.isFinite(low) ? [low, high] : null };
}

/** Where a relative change sits on the profile's log colour scale, 0–1 (0 for zero, 1 at the maximum). */
export function shade(relative: number | null, range: [number, number] | null): number {
  if (relative === null || relative <= 0 || !range) return 0;
  const [low, high] = range;
  if (high <= low) return 1;
  return 0.15 + (0.85 * (Math.log(relative) - Math.log(low))) / (Math.log(high) - Math.log(low));
}
