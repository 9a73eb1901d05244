/**
 * Heatmap geometry, as pure functions. The matrix fills the plot area (columns across, rows down; each axis
 * stretched on its own, since weight matrices range from square to 1 × n strips); a d3-zoom transform
 * (screen = k · base + (x, y)) pans and zooms it. From that: the source rectangle on screen, the tile size that
 * matches the screen's pixels, where a tile lands, and which element, cell and file byte lie under the pointer.
 */
import { lookupDType } from '../../extension/formats/dtypes';

export interface MatrixSize {
  rows: number;
  cols: number;
}

/** The plot area in CSS pixels. */
export interface View {
  width: number;
  height: number;
}

/** A d3-zoom transform. */
export interface Zoom {
  k: number;
  x: number;
  y: number;
}

/** Half-open source ranges. */
export interface SourceRect {
  rows: [number, number];
  cols: [number, number];
}

export interface ScreenRect {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** The matrix as the heatmap shows it: `[dim0, product of the rest]`, 1-D as one row, 0-D as one cell. */
export function matrixOf(shape: readonly number[]): MatrixSize {
  if (shape.length === 0) return { rows: 1, cols: 1 };
  if (shape.length === 1) return { rows: 1, cols: shape[0]! };
  return { rows: shape[0]!, cols: shape.slice(1).reduce((a, b) => a * b, 1) };
}

/** The source rectangle covering the plot area (whole elements, clamped, never empty). */
export function visibleRect(m: MatrixSize, view: View, z: Zoom): SourceRect {
  const col = (sx: number): number => ((sx - z.x) / z.k / view.width) * m.cols;
  const row = (sy: number): number => ((sy - z.y) / z.k / view.height) * m.rows;
  const range = (a: number, b: number, n: number): [number, number] => {
    const lo = Math.max(0, Math.min(n - 1, Math.floor(a + 1e-9)));
    const hi = Math.max(lo + 1, Math.min(n, Math.ceil(b - 1e-9)));
    return [lo, hi];
  };
  return { rows: range(row(0), row(view.height), m.rows), cols: range(col(0), col(view.width), m.cols) };
}

/** Where a source rectangle lands on screen. */
export function screenRect(rect: SourceRect, m: MatrixSize, view: View, z: Zoom): ScreenRect {
  const x = (c: number): number => z.k * (c / m.cols) * view.width + z.x;
  const y = (r: number): number => z.k * (r / m.rows) * view.height + z.y;
  return { x: x(rect.cols[0]), y: y(rect.rows[0]), width: x(rect.cols[1]) - x(rect.cols[0]), height: y(rect.rows[1]) - y(rect.rows[0]) };
}

/** Cells to ask for: one per device pixel the rectangle covers, but never more than it has elements. */
export function tileSizeFor(rect: SourceRect, m: MatrixSize, view: View, z: Zoom, pixelRatio: number): [number, number] {
  const s = screenRect(rect, m, view, z);
  const fit = (pixels: number, elements: number): number => Math.max(1, Math.min(elements, Math.round(pixels * pixelRatio)));
  return [fit(Math.min(s.height, view.height), rect.rows[1] - rect.rows[0]), fit(Math.min(s.width, view.width), rect.cols[1] - rect.cols[0])];
}

/** Largest zoom: one element spans this many pixels along the denser axis. */
export function maxZoom(m: MatrixSize, view: View, elementPixels = 40): number {
  return Math.max(1, (m.cols / view.width) * elementPixels, (m.rows / view.height) * elementPixels);
}

/** The element under a point of the plot area, or undefined outside the matrix. */
export function elementAt(px: number, py: number, m: MatrixSize, view: View, z: Zoom): { row: number; col: number } | undefined {
  const col = Math.floor(((px - z.x) / z.k / view.width) * m.cols);
  const row = Math.floor(((py - z.y) / z.k / view.height) * m.rows);
  return row >= 0 && row < m.rows && col >= 0 && col < m.cols ? { row, col } : undefined;
}

/** The tile's output cell (i, j) holding source element (row, col), or undefined outside its rectangle. */
export function cellOf(tile: SourceRect & { size: [number, number] }, row: number, col: number): { i: number; j: number } | undefined {
  const find = (v: number, [a, b]: [number, number], n: number): number | undefined => {
    if (v < a || v >= b) return undefined;
    const span = b - a;
    let i = Math.min(n - 1, Math.floor(((v - a) * n) / span));
    while (i + 1 < n && a + Math.floor(((i + 1) * span) / n) <= v) i++;
    while (i > 0 && a + Math.floor((i * span) / n) > v) i--;
    return i;
  };
  const i = find(row, tile.rows, tile.size[0]);
  const j = find(col, tile.cols, tile.size[1]);
  return i === undefined || j === undefined ? undefined : { i, j };
}

/** Source rows and columns reduced into output cell (i, j). */
export function cellRange(tile: SourceRect & { size: [number, number] }, i: number, j: number): SourceRect {
  const edge = ([a, b]: [number, number], n: number, k: number): number => a + Math.floor((k * (b - a)) / n);
  return {
    rows: [edge(tile.rows, tile.size[0], i), edge(tile.rows, tile.size[0], i + 1)],
    cols: [edge(tile.cols, tile.size[1], j), edge(tile.cols, tile.size[1], j + 1)],
  };
}

/** Where an element's bytes start in the file: its own bytes, or the start of the block (group) holding it. */
export interface ElementBytes {
  offset: number;
  /** Elements per stored group (1 for byte-sized types; 2 for F4, 4 for F6, a block for GGUF types). */
  groupElements: number;
  groupBytes: number;
}

/** The byte offset of element (row, col) of the matrix view of a tensor at `offset` with `shape` (and `strides`). */
export function elementBytes(tensor: { dtype: string; shape: readonly number[]; offset: number; strides?: readonly number[] }, row: number, col: number): ElementBytes | undefined {
  const info = lookupDType(tensor.dtype);
  if (!info) return undefined;
  const { cols } = matrixOf(tensor.shape);
  let index = row * cols + col;
  if (tensor.strides) {
    // Logical position → storage position through the strides.
    let rest = index;
    index = 0;
    for (let d = tensor.shape.length - 1; d >= 0; d--) {
      index += (rest % tensor.shape[d]!) * tensor.strides[d]!;
      rest = Math.floor(rest / tensor.shape[d]!);
    }
  }
  return { offset: tensor.offset + Math.floor(index / info.groupElements) * info.groupBytes, groupElements: info.groupElements, groupBytes: info.groupBytes };
}
