/**
 * Heatmap tiles on the host: validates a tile request, splits a large row band across the pool's workers (each
 * computes a slice of the output rows, so cells never need merging), and joins the parts with the marginals.
 * Knows nothing about VS Code; the editor, the CLI and the benchmark use it alike.
 */
import { matrixShape, type TensorLocation } from '../formats/checkpoint';
import type { ComputePool, RunOptions } from './computePool';
import type { TileCells, TileReducer } from './wasmCore';
import type { MaskTileSpec } from './tasks/maskTile';
import { operandBytes, type Operand } from './tasks/operands';

export const TILE_REDUCERS: readonly TileReducer[] = ['mean', 'absmax', 'min', 'max'];
/** Largest tile, in cells (the core's limit). */
export const MAX_TILE_CELLS = 1 << 22;
/** Below this many bytes of source rows a tile runs on one worker: splitting costs more than it saves. */
const SPLIT_MIN_BYTES = 2 << 20;

/** A request that cannot be served as asked (bad range, size, reducer): a usage error, not a file problem. */
export class ArgumentError extends Error {}

/** Where a tile's values come from: a tensor, the difference B − A of two operands of one shape (a diff), or how
 *  many tasks of a merge keep each weight (a mask heatmap). */
export type TileSource =
  | { kind: 'tensor'; location: TensorLocation }
  | { kind: 'delta'; a: Operand; b: Operand; shape: readonly number[] }
  | { kind: 'maskCount'; merge: Omit<MaskTileSpec, 'rows' | 'cols' | 'size' | 'outRows' | 'reduce' | 'chunkBytes'> };

/** A tile as asked: ranges may leave either end open (`[undefined, B]`), meaning the start or the end. */
export interface TileRequest {
  rows?: readonly [number | undefined, number | undefined];
  cols?: readonly [number | undefined, number | undefined];
  size: readonly [number, number];
  reduce: TileReducer;
}

/** A validated tile request: half-open source ranges and the output size. */
export interface TileRect {
  rows: [number, number];
  cols: [number, number];
  size: [number, number];
  reduce: TileReducer;
}

export interface Tile extends TileRect {
  /** Row-major H × W cells; NaN where a cell has no finite value. */
  values: Float64Array;
  /** Per output row and per output column over the rectangle: absmax and sqrt(mean x²); NaN when empty. */
  rowAbsmax: Float64Array;
  rowRms: Float64Array;
  colAbsmax: Float64Array;
  colRms: Float64Array;
}

/** Checks a request against a tensor's matrix view and fills in open range ends. Throws ArgumentError. */
export function resolveTileRequest(shape: readonly number[], request: TileRequest): TileRect {
  const { rows, cols } = matrixShape(shape);
  if (rows === 0 || cols === 0) throw new ArgumentError(`the tensor has no elements (shape [${shape.join(', ')}])`);
  if (!TILE_REDUCERS.includes(request.reduce)) throw new ArgumentError(`the reducer is one of ${TILE_REDUCERS.join(', ')}, not "${request.reduce}"`);
  const [h, w] = request.size;
  for (const [value, what] of [[h, 'height'], [w, 'width']] as const) {
    if (!Number.isInteger(value) || value < 1) throw new ArgumentError(`the tile ${what} must be a whole number of at least 1, not ${value}`);
  }
  if (h * w > MAX_TILE_CELLS) throw new ArgumentError(`a tile has at most ${MAX_TILE_CELLS} cells, not ${h} × ${w}`);
  return {
    rows: resolveRange(request.rows, rows, 'rows'),
    cols: resolveRange(request.cols, cols, 'columns'),
    size: [h, w],
    reduce: request.reduce,
  };
}

function resolveRange(range: TileRequest['rows'], n: number, what: string): [number, number] {
  const a = range?.[0] ?? 0;
  const b = range?.[1] ?? n;
  if (!Number.isInteger(a) || !Number.isInteger(b)) throw new ArgumentError(`${what} ${a}:${b} must be whole numbers`);
  if (a < 0 || b > n || a >= b) throw new ArgumentError(`${what} ${a}:${b} are not a range within 0:${n} with start < end`);
  return [a, b];
}

export interface TileOptions extends Pick<RunOptions, 'signal' | 'priority'> {
  chunkBytes: number;
  /** Most workers one tile may use (default: the whole pool). */
  maxParts?: number;
}

/** Computes a tile, splitting its output rows across workers when the band is large. */
export async function computeTile(pool: ComputePool, source: TileSource, rect: TileRect, options: TileOptions): Promise<Tile> {
  const [h] = rect.size;
  const shape = source.kind === 'tensor' ? source.location.shape : source.kind === 'delta' ? source.shape : source.merge.base.shape;
  const bytes = source.kind === 'tensor'
    ? source.location.bytes
    : source.kind === 'delta'
      ? operandBytes(source.a) + operandBytes(source.b)
      : [source.merge.base, ...source.merge.tasks].reduce((s, t) => s + t.bytes, 0);
  const bandBytes = ((rect.rows[1] - rect.rows[0]) / matrixShape(shape).rows) * bytes;
  const parts = bandBytes < SPLIT_MIN_BYTES ? 1 : Math.max(1, Math.min(options.maxParts ?? pool.workerCount, pool.workerCount, h));
  const cuts = Array.from({ length: parts + 1 }, (_, k) => Math.round((k * h) / parts));
  const run = { signal: options.signal, priority: options.priority };
  const results = await Promise.all(
    cuts.slice(0, -1).map((from, k) => {
      const part = { rows: rect.rows, cols: rect.cols, size: rect.size, outRows: [from, cuts[k + 1]!] as [number, number], reduce: rect.reduce, chunkBytes: options.chunkBytes };
      switch (source.kind) {
        case 'tensor': return pool.run('tile', { location: source.location, ...part }, run);
        case 'delta': return pool.run('deltaTile', { a: source.a, b: source.b, shape: [...source.shape], ...part }, run);
        case 'maskCount': return pool.run('maskTile', { ...source.merge, ...part }, run);
      }
    }),
  );
  return joinTileParts(rect, results);
}

/** Joins parts that cover consecutive output rows: cells and row marginals concatenate, column totals add up. */
export function joinTileParts(rect: TileRect, parts: readonly TileCells[]): Tile {
  const [h, w] = rect.size;
  const values = new Float64Array(h * w);
  const rowAbsmax = new Float64Array(h);
  const rowRms = new Float64Array(h);
  const colAbsmax = new Float64Array(w).fill(Number.NaN);
  const colSquares = new Float64Array(w);
  const colCount = new Float64Array(w);
  let row = 0;
  for (const part of parts) {
    values.set(part.values, row * w);
    rowAbsmax.set(part.rowAbsmax, row);
    for (let i = 0; i < part.rows; i++) rowRms[row + i] = rms(part.rowSquares[i]!, part.rowCount[i]!);
    for (let j = 0; j < w; j++) {
      const a = part.colAbsmax[j]!;
      if (!(colAbsmax[j]! >= a)) colAbsmax[j] = Number.isNaN(a) ? colAbsmax[j]! : a;
      colSquares[j]! += part.colSquares[j]!;
      colCount[j]! += part.colCount[j]!;
    }
    row += part.rows;
  }
  const colRms = colSquares.map((s, j) => rms(s, colCount[j]!));
  return { ...rect, values, rowAbsmax, rowRms, colAbsmax, colRms };
}

function rms(squares: number, count: number): number {
  return count > 0 ? Math.sqrt(squares / count) : Number.NaN;
}

