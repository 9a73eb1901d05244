/** The heatmap's pure parts: colours and scales, geometry, byte offsets. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { colorAt, legendTicks, parseColor, scalePosition, scaleValue, tileToRgba, type HeatPalette } from '../../webview/lib/heatmapColors';
import { cellOf, cellRange, elementAt, elementBytes, matrixOf, maxZoom, screenRect, tileSizeFor, visibleRect } from '../../webview/lib/heatmapGeometry';

const palette: HeatPalette = { negative: [0, 0, 255], zero: [255, 255, 255], positive: [255, 0, 0], missing: [0, 0, 0] };

test('theme colours parse from every CSS spelling VS Code uses', () => {
  assert.deepEqual(parseColor('#1e1e1e'), [30, 30, 30]);
  assert.deepEqual(parseColor(' #FFF '), [255, 255, 255]);
  assert.deepEqual(parseColor('#3794ff80'), [55, 148, 255]);
  assert.deepEqual(parseColor('rgb(12, 34, 56)'), [12, 34, 56]);
  assert.deepEqual(parseColor('rgba(12 34 56 / 50%)'), [12, 34, 56]);
  assert.equal(parseColor('transparent'), undefined);
  assert.equal(parseColor('#12345'), undefined);
});

test('the diverging scale is symmetric, clamps beyond the limit and inverts', () => {
  const linear = { kind: 'linear' as const, limit: 4, threshold: 1 };
  assert.equal(scalePosition(linear, 2), 0.5);
  assert.equal(scalePosition(linear, -4), -1);
  assert.equal(scalePosition(linear, 9), 1);
  assert.ok(Number.isNaN(scalePosition(linear, Number.NaN)));
  const symlog = { kind: 'symlog' as const, limit: 1000, threshold: 1 };
  assert.equal(scalePosition(symlog, 1000), 1);
  assert.equal(scalePosition(symlog, -1000), -1);
  assert.ok(Math.abs(scalePosition(symlog, 1) - Math.log1p(1) / Math.log1p(1000)) < 1e-15);
  for (const v of [-500, -3, 0, 0.25, 7, 999]) assert.ok(Math.abs(scaleValue(symlog, scalePosition(symlog, v)) - v) < 1e-9 * Math.max(1, Math.abs(v)));
  assert.equal(scalePosition({ kind: 'linear', limit: 0, threshold: 1 }, 3), 0, 'a zero limit maps everything to zero');
});

test('colours run from zero toward the sign; missing cells are transparent pixels', () => {
  assert.deepEqual(colorAt(palette, 0), [255, 255, 255]);
  assert.deepEqual(colorAt(palette, 1), [255, 0, 0]);
  assert.deepEqual(colorAt(palette, -1), [0, 0, 255]);
  assert.deepEqual(colorAt(palette, -0.5), [128, 128, 255]);
  const rgba = tileToRgba(Float64Array.from([-2, 0, 2, Number.NaN]), { kind: 'linear', limit: 2, threshold: 1 }, palette);
  assert.deepEqual([...rgba], [0, 0, 255, 255, 255, 255, 255, 255, 255, 0, 0, 255, 0, 0, 0, 0]);
});

test('legend ticks include zero and both limits; symlog adds decades of the threshold', () => {
  assert.deepEqual(legendTicks({ kind: 'linear', limit: 2, threshold: 1 }), [-2, -1, 0, 1, 2]);
  assert.deepEqual(legendTicks({ kind: 'symlog', limit: 500, threshold: 1 }), [-500, -100, -10, -1, 0, 1, 10, 100, 500]);
});

test('matrix views: N-D flattens to [dim0, rest], 1-D is a row, 0-D a cell', () => {
  assert.deepEqual(matrixOf([4, 3, 5]), { rows: 4, cols: 15 });
  assert.deepEqual(matrixOf([7]), { rows: 1, cols: 7 });
  assert.deepEqual(matrixOf([]), { rows: 1, cols: 1 });
});

test('the visible rectangle, its tile size and where it lands follow the zoom', () => {
  const m = { rows: 1000, cols: 4000 };
  const view = { width: 400, height: 200 };
  const whole = visibleRect(m, view, { k: 1, x: 0, y: 0 });
  assert.deepEqual(whole, { rows: [0, 1000], cols: [0, 4000] });
  assert.deepEqual(tileSizeFor(whole, m, view, { k: 1, x: 0, y: 0 }, 2), [400, 800]);
  // Zoom ×4 around the centre: a quarter of each axis, one tile pixel per device pixel.
  const z = { k: 4, x: -600, y: -300 };
  const rect = visibleRect(m, view, z);
  assert.deepEqual(rect, { rows: [375, 625], cols: [1500, 2500] });
  assert.deepEqual(tileSizeFor(rect, m, view, z, 1), [200, 400]);
  assert.deepEqual(screenRect(rect, m, view, z), { x: 0, y: 0, width: 400, height: 200 });
  // Zoomed so far that elements are bigger than pixels: one cell per element (full resolution).
  const deep = { k: 80, x: -16000, y: -8000 };
  const small = visibleRect(m, view, deep);
  assert.deepEqual(tileSizeFor(small, m, view, deep, 1), [small.rows[1] - small.rows[0], small.cols[1] - small.cols[0]]);
  assert.equal(maxZoom(m, view), 400);
});

test('the element under the pointer, the cell holding it and the cell source range agree with the tile formula', () => {
  const m = { rows: 10, cols: 7 };
  const view = { width: 70, height: 100 };
  assert.deepEqual(elementAt(35.5, 99.9, m, view, { k: 1, x: 0, y: 0 }), { row: 9, col: 3 });
  assert.equal(elementAt(-1, 5, m, view, { k: 1, x: 0, y: 0 }), undefined);
  const tile = { rows: [2, 9] as [number, number], cols: [0, 7] as [number, number], size: [3, 4] as [number, number] };
  for (let r = 2; r < 9; r++) {
    for (let c = 0; c < 7; c++) {
      const cell = cellOf(tile, r, c)!;
      const range = cellRange(tile, cell.i, cell.j);
      assert.ok(range.rows[0] <= r && r < range.rows[1] && range.cols[0] <= c && c < range.cols[1], `(${r}, ${c})`);
    }
  }
  assert.deepEqual(cellRange(tile, 0, 0), { rows: [2, 4], cols: [0, 1] });
  assert.equal(cellOf(tile, 1, 0), undefined);
  // More cells than rows: some cells are empty, none holds an element twice.
  const sparse = { rows: [0, 2] as [number, number], cols: [0, 1] as [number, number], size: [5, 1] as [number, number] };
  assert.deepEqual([0, 1].map((r) => cellOf(sparse, r, 0)!.i), [2, 4]);
});

test('byte offsets: element size, packed groups, block types and strided views', () => {
  assert.deepEqual(elementBytes({ dtype: 'BF16', shape: [256, 704], offset: 1000 }, 42, 400), { offset: 1000 + (42 * 704 + 400) * 2, groupElements: 1, groupBytes: 2 });
  assert.deepEqual(elementBytes({ dtype: 'F4', shape: [3, 4], offset: 10 }, 1, 3), { offset: 13, groupElements: 2, groupBytes: 1 });
  assert.deepEqual(elementBytes({ dtype: 'F6_E2M3', shape: [8], offset: 0 }, 0, 5), { offset: 3, groupElements: 4, groupBytes: 3 });
  // A transposed [2, 3] view of a [3, 2] storage: element (1, 2) is storage index 2·2 + 1 = 5.
  assert.deepEqual(elementBytes({ dtype: 'F32', shape: [2, 3], offset: 0, strides: [1, 2] }, 1, 2), { offset: 20, groupElements: 1, groupBytes: 4 });
  assert.equal(elementBytes({ dtype: 'X9', shape: [2], offset: 0 }, 0, 0), undefined);
});
