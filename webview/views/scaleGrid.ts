/**
 * Where the large block scales sit: the max-pooled |d| grid of a quantized tensor as canvas pixels (one per cell,
 * scaled up without smoothing), coloured on a log scale from the editor background through the accent to the
 * warning colour, with a legend and a read-out of the cell under the pointer.
 */
import type { BlockAnalysis } from '../../extension/protocol/messages';
import { formatValue } from '../lib/format';
import { ramp, themeColor, type Rgb } from '../lib/themeColors';
import { el } from './dom';

export function renderScaleGrid(a: BlockAnalysis): HTMLElement {
  const { rows, cols, cells, rowsPerCell, blocksPerCell } = a.grid;
  const logs = cells.flat().filter((v): v is number => v !== null && v > 0 && Number.isFinite(v)).map(Math.log10);
  const lo = logs.length > 0 ? Math.min(...logs) : 0;
  const hi = logs.length > 0 ? Math.max(...logs) : 0;
  const stops: Rgb[] = [themeColor('var(--vscode-editor-background)'), themeColor('var(--ws-accent)'), themeColor('var(--ws-warn)')];
  const missing = themeColor('var(--ws-border)');
  const infinite = themeColor('var(--ws-danger)');

  const canvas = el('canvas', { class: 'scale-grid', 'data-testid': 'scale-grid', width: String(cols), height: String(rows), role: 'img',
    'aria-label': `largest block scale per region: ${rows} × ${cols} cells` }) as HTMLCanvasElement;
  const context = canvas.getContext('2d');
  if (context) {
    const image = context.createImageData(cols, rows);
    cells.forEach((row, r) => row.forEach((v, c) => {
      const color = v === null ? missing : !Number.isFinite(v) ? infinite : v <= 0 ? stops[0]! : ramp(stops, hi > lo ? (Math.log10(v) - lo) / (hi - lo) : 1);
      image.data.set([...color, 255], 4 * (r * cols + c));
    }));
    context.putImageData(image, 0, 0);
  }

  const readout = el('div', { class: 'grid-readout', 'data-testid': 'grid-readout' }, 'Point at a cell to see its rows, blocks and largest |d|.');
  const range = (index: number, per: number, total: number): string => `${index * per}–${Math.min(total, (index + 1) * per) - 1}`;
  canvas.addEventListener('mousemove', (event) => {
    const r = Math.min(rows - 1, Math.floor((event.offsetY / canvas.clientHeight) * rows));
    const c = Math.min(cols - 1, Math.floor((event.offsetX / canvas.clientWidth) * cols));
    const v = cells[r]?.[c] ?? null;
    readout.textContent = `rows ${range(r, rowsPerCell, a.rows)}, blocks ${range(c, blocksPerCell, a.blocksPerRow)}: largest |d| ${v === null ? '—' : formatValue(v)}`;
  });

  const gradient = el('div', { class: 'legend-bar' });
  gradient.style.background = `linear-gradient(to right, ${stops.map((s) => `rgb(${s.join(',')})`).join(', ')})`;
  const legend = el('div', { class: 'grid-legend' },
    el('span', {}, formatValue(logs.length ? 10 ** lo : null)), gradient, el('span', {}, formatValue(logs.length ? 10 ** hi : null)));
  const axes = el('div', { class: 'grid-axes' },
    `↓ rows 0–${a.rows - 1} (${rowsPerCell} per cell) · → blocks 0–${a.blocksPerRow - 1} of each row (${blocksPerCell} per cell)`);
  return el('div', { class: 'grid-box' }, canvas, legend, axes, readout);
}
