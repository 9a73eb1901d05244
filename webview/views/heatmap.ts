/**
 * A zoomable heatmap of a matrix, independent of where its tiles come from (`fetchTile`): a tensor today, a
 * difference of two tensors for the diff view. Canvas pixels from tile values, d3-zoom for pan and zoom, tiles
 * requested at screen resolution after the view settles while the cached ones are drawn upscaled, a diverging
 * colour scale (linear or symlog) from theme colours with a legend, marginal strips of per-row and per-column
 * absmax and RMS, and a readout of the element under the pointer.
 */
import { axisBottom, axisLeft } from 'd3-axis';
import { scaleLinear } from 'd3-scale';
import { select } from 'd3-selection';
import { zoom, zoomIdentity, type D3ZoomEvent, type ZoomBehavior } from 'd3-zoom';
import type { TileQuery, TileReducer, TileReply } from '../../extension/protocol/messages';
import { formatValue } from '../lib/format';
import { absoluteMax, colorAt, legendTicks, parseColor, scalePosition, tileToRgba, type HeatPalette, type Rgb, type ScaleKind, type ValueScale } from '../lib/heatmapColors';
import { cellOf, cellRange, elementAt, maxZoom, screenRect, tileSizeFor, visibleRect, type MatrixSize, type ScreenRect, type SourceRect, type View, type Zoom } from '../lib/heatmapGeometry';
import { el } from './dom';

export interface HeatmapSettings {
  reduce: TileReducer;
  scale: ScaleKind;
}

/** Marks drawn over the tiles (saliency): input channels as column bands, single weights as rings. */
export interface HeatmapOverlay {
  columns: readonly number[];
  weights: readonly { row: number; col: number }[];
}

export interface HeatmapOptions {
  matrix: MatrixSize;
  settings: HeatmapSettings;
  /** Asks for a tile; may reject when a newer request superseded it. */
  fetchTile(query: TileQuery): Promise<TileReply>;
  /** Drops the request in flight (the heatmap goes away). */
  cancel(): void;
  /** Extra words about an element for the readout (its byte offset in the file). */
  describeElement(row: number, col: number): string;
  onSettings(settings: HeatmapSettings): void;
  /** The values are never negative (counts, scores): the legend shows only zero to the limit. */
  nonNegative?: boolean;
}

const MARGIN_STRIP = 52;
const AXIS_LEFT = 48;
const AXIS_BOTTOM = 22;
const REQUEST_DELAY_MS = 120;
/** Webview tile budget: 12 bytes per cell (values and pixels). */
const TILE_BUDGET_CELLS = (32 << 20) / 12;
const REDUCERS: TileReducer[] = ['absmax', 'mean', 'min', 'max'];

interface HeldTile {
  reply: TileReply;
  pixels: HTMLCanvasElement;
  cells: number;
}

function cssColor(name: string, fallback: Rgb): Rgb {
  return parseColor(getComputedStyle(document.body).getPropertyValue(name)) ?? fallback;
}

function themePalette(): HeatPalette & { foreground: Rgb; absmax: Rgb; rms: Rgb; overlay: Rgb } {
  return {
    negative: cssColor('--vscode-charts-blue', [55, 148, 255]),
    positive: cssColor('--vscode-charts-red', [241, 76, 76]),
    zero: cssColor('--vscode-editor-background', [255, 255, 255]),
    missing: [0, 0, 0],
    foreground: cssColor('--vscode-foreground', [128, 128, 128]),
    absmax: cssColor('--vscode-charts-orange', [209, 134, 22]),
    rms: cssColor('--vscode-charts-purple', [180, 120, 230]),
    overlay: cssColor('--vscode-charts-yellow', [229, 192, 123]),
  };
}

const rgb = (c: Rgb, alpha = 1): string => `rgba(${c[0]}, ${c[1]}, ${c[2]}, ${alpha})`;

export class Heatmap {
  readonly element: HTMLElement;
  private readonly plot: HTMLCanvasElement;
  private readonly rowStrip: HTMLCanvasElement;
  private readonly colStrip: HTMLCanvasElement;
  private readonly rowAxis: SVGSVGElement;
  private readonly colAxis: SVGSVGElement;
  private readonly legend: SVGSVGElement;
  private readonly readout: HTMLElement;
  private readonly status: HTMLElement;
  private readonly zoomBehavior: ZoomBehavior<HTMLCanvasElement, unknown>;
  private readonly resize: ResizeObserver;
  private readonly themeWatch: MutationObserver;
  private view: View = { width: 0, height: 0 };
  private transform: Zoom = { k: 1, x: 0, y: 0 };
  private tiles: HeldTile[] = [];
  private overview: HeldTile | undefined;
  private palette = themePalette();
  private settings: HeatmapSettings;
  private timer: number | undefined;
  private wanted = '';
  private generation = 0;
  private disposed = false;
  private overlay: HeatmapOverlay | undefined;

  constructor(private readonly options: HeatmapOptions) {
    this.settings = { ...options.settings };
    this.plot = el('canvas', { class: 'heatmap-plot', 'data-testid': 'heatmap-canvas', tabindex: '0', 'aria-label': 'heatmap; scroll to zoom, drag to pan' }) as HTMLCanvasElement;
    this.rowStrip = el('canvas', { class: 'heatmap-strip rows', 'data-testid': 'heatmap-row-marginal' }) as HTMLCanvasElement;
    this.colStrip = el('canvas', { class: 'heatmap-strip cols', 'data-testid': 'heatmap-col-marginal' }) as HTMLCanvasElement;
    const svg = (cls: string): SVGSVGElement => {
      const node = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
      node.setAttribute('class', cls);
      return node;
    };
    this.rowAxis = svg('heatmap-axis rows');
    this.colAxis = svg('heatmap-axis cols');
    this.legend = svg('heatmap-legend');
    this.legend.setAttribute('data-testid', 'heatmap-legend');
    this.readout = el('div', { class: 'heatmap-readout', 'data-testid': 'heatmap-readout', role: 'status' }, 'Point at a cell to read its value.');
    this.status = el('span', { class: 'heatmap-status', 'data-testid': 'heatmap-status', 'data-state': 'loading' }, 'Loading the overview…');
    const reset = el('vscode-button', { secondary: '', 'data-testid': 'heatmap-reset', title: 'Show the whole matrix' }, 'Reset zoom');
    reset.addEventListener('click', () => select(this.plot).call(this.zoomBehavior.transform, zoomIdentity));
    const key = el('div', { class: 'heatmap-key' },
      el('span', { class: 'swatch absmax' }), 'absmax ', el('span', { class: 'swatch rms' }), 'RMS');
    this.element = el('div', { class: 'heatmap', 'data-testid': 'heatmap' },
      el('div', { class: 'heatmap-toolbar' },
        this.toggle('heatmap-reducer', 'cell reducer', REDUCERS.map((r) => [r, r]), () => this.settings.reduce, (v) => this.change({ reduce: v as TileReducer })),
        this.toggle('heatmap-scale', 'colour scale', [['linear', 'linear'], ['symlog', 'symlog']], () => this.settings.scale, (v) => this.change({ scale: v as ScaleKind })),
        reset),
      // On its own line: its text changes with every tile, and the canvas below must not move with it.
      this.status,
      this.legend,
      el('div', { class: 'heatmap-grid' }, this.rowStrip, this.rowAxis, this.plot, key, el('div', {}), this.colAxis, el('div', {}), this.colStrip),
      this.readout);

    this.zoomBehavior = zoom<HTMLCanvasElement, unknown>().on('zoom', (event: D3ZoomEvent<HTMLCanvasElement, unknown>) => {
      this.transform = { k: event.transform.k, x: event.transform.x, y: event.transform.y };
      this.plot.setAttribute('data-zoom', `${this.transform.k} ${this.transform.x} ${this.transform.y}`);
      this.draw();
      this.scheduleRequest();
    });
    select(this.plot).call(this.zoomBehavior);
    this.plot.addEventListener('pointermove', (e) => this.hover(e.offsetX, e.offsetY));
    this.plot.addEventListener('pointerleave', () => this.readout.setAttribute('data-row', ''));
    this.resize = new ResizeObserver(() => this.layout());
    this.resize.observe(this.element);
    // Theme switches change the CSS variables on <body>: recolour.
    this.themeWatch = new MutationObserver(() => this.recolour());
    this.themeWatch.observe(document.body, { attributes: true, attributeFilter: ['class'] });
  }

  /** Draws `overlay` over the tiles from now on (undefined: none). */
  setOverlay(overlay: HeatmapOverlay | undefined): void {
    this.overlay = overlay;
    this.plot.setAttribute('data-overlay', overlay ? `${overlay.columns.length} ${overlay.weights.length}` : '');
    this.draw();
  }

  dispose(): void {
    this.disposed = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.resize.disconnect();
    this.themeWatch.disconnect();
    this.options.cancel();
  }

  private toggle(testId: string, label: string, choices: [string, string][], current: () => string, pick: (v: string) => void): HTMLElement {
    const group = el('div', { class: 'toggle', 'data-testid': testId, 'data-value': current(), role: 'group', 'aria-label': label });
    const render = (): void => {
      group.setAttribute('data-value', current());
      group.replaceChildren(...choices.map(([value, text]) => {
        const button = el('button', { class: value === current() ? 'on' : '', 'aria-pressed': String(value === current()), 'data-option': value }, text);
        button.addEventListener('click', () => {
          pick(value);
          render();
        });
        return button;
      }));
    };
    render();
    return group;
  }

  private change(change: Partial<HeatmapSettings>): void {
    const reducerChanged = change.reduce !== undefined && change.reduce !== this.settings.reduce;
    this.settings = { ...this.settings, ...change };
    this.options.onSettings({ ...this.settings });
    if (reducerChanged) {
      this.tiles = [];
      this.overview = undefined;
      this.wanted = '';
      this.requestOverview();
    } else this.recolour();
  }

  /** Sizes the canvases to the space available, then (re)starts from the overview. */
  private layout(): void {
    // Less the plot's 1 px border on each side.
    const width = Math.max(120, Math.floor(this.element.clientWidth - MARGIN_STRIP - AXIS_LEFT - 2));
    const height = Math.round(Math.max(240, Math.min(560, width * 0.75)));
    if (width === this.view.width && height === this.view.height) return;
    this.view = { width, height };
    const ratio = window.devicePixelRatio || 1;
    const size = (canvas: HTMLCanvasElement, w: number, h: number): void => {
      canvas.width = Math.round(w * ratio);
      canvas.height = Math.round(h * ratio);
      canvas.style.width = `${w}px`;
      canvas.style.height = `${h}px`;
    };
    size(this.plot, width, height);
    size(this.rowStrip, MARGIN_STRIP, height);
    size(this.colStrip, width, MARGIN_STRIP);
    this.rowAxis.setAttribute('width', String(AXIS_LEFT));
    this.rowAxis.setAttribute('height', String(height));
    this.colAxis.setAttribute('width', String(width));
    this.colAxis.setAttribute('height', String(AXIS_BOTTOM));
    const extent: [[number, number], [number, number]] = [[0, 0], [width, height]];
    this.zoomBehavior.extent(extent).translateExtent(extent).scaleExtent([1, maxZoom(this.options.matrix, this.view)]);
    select(this.plot).call(this.zoomBehavior.transform, zoomIdentity);
    if (!this.overview) this.requestOverview();
    else this.scheduleRequest();
  }

  private requestOverview(): void {
    this.request(visibleRect(this.options.matrix, this.view, { k: 1, x: 0, y: 0 }), true);
  }

  private scheduleRequest(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = window.setTimeout(() => {
      this.timer = undefined;
      this.request(visibleRect(this.options.matrix, this.view, this.transform), false);
    }, REQUEST_DELAY_MS);
  }

  /** Asks for the tile of `rect` at screen resolution, unless it is what we hold or are waiting for. */
  private request(rect: SourceRect, isOverview: boolean): void {
    if (this.view.width === 0) return;
    const size = tileSizeFor(rect, this.options.matrix, this.view, isOverview ? { k: 1, x: 0, y: 0 } : this.transform, window.devicePixelRatio || 1);
    // A held tile covering the rectangle at least as finely (zooming further into a full-resolution tile) will do.
    const wanted = (size[0] * size[1]) / ((rect.rows[1] - rect.rows[0]) * (rect.cols[1] - rect.cols[0]));
    const cover = this.finestCovering(rect);
    if (!isOverview && cover && cover !== this.overview && density(cover) >= wanted) {
      this.showStatus();
      return;
    }
    // At full resolution a cell is one element: ask for its value itself (the mean of one), whatever the reducer.
    const exact = size[0] === rect.rows[1] - rect.rows[0] && size[1] === rect.cols[1] - rect.cols[0];
    const reduce = exact ? 'mean' : this.settings.reduce;
    const query: TileQuery = { rows: rect.rows, cols: rect.cols, size, reduce };
    const key = JSON.stringify(query);
    if (key === this.wanted || this.tiles.some((t) => JSON.stringify(queryOf(t.reply)) === key)) {
      if (key !== this.wanted) this.showStatus();
      return;
    }
    this.wanted = key;
    const generation = ++this.generation;
    this.setStatus('loading', isOverview ? 'Loading the overview…' : 'Refining…');
    this.options.fetchTile(query).then(
      (reply) => {
        if (this.disposed || (reply.reduce !== this.settings.reduce && !exact)) return;
        this.hold(reply, isOverview || !this.overview);
        if (generation === this.generation) this.showStatus();
        this.draw();
      },
      (error: unknown) => {
        if (this.disposed || generation !== this.generation) return;
        this.wanted = '';
        this.setStatus('error', `The tile could not be computed: ${error instanceof Error ? error.message : String(error)}`);
      },
    );
  }

  private hold(reply: TileReply, isOverview: boolean): void {
    const held: HeldTile = { reply, pixels: document.createElement('canvas'), cells: reply.values.length };
    if (isOverview) this.overview = held;
    this.paint(held);
    this.tiles.push(held);
    // Forget the oldest refinements beyond the budget; the overview always stays.
    let cells = this.tiles.reduce((sum, t) => sum + t.cells, 0);
    while (cells > TILE_BUDGET_CELLS && this.tiles.length > 1) {
      const drop = this.tiles.findIndex((t) => t !== this.overview);
      cells -= this.tiles[drop]!.cells;
      this.tiles.splice(drop, 1);
    }
    if (isOverview) this.recolour();
  }

  /** The colour scale: symmetric around zero up to the overview's largest |value|; symlog's linear region is its RMS. */
  private scale(): ValueScale {
    const o = this.overview?.reply;
    const limit = o ? absoluteMax(o.values) : 1;
    let squares = 0;
    let rows = 0;
    for (const r of o?.rowRms ?? []) {
      if (Number.isFinite(r)) {
        squares += r * r;
        rows++;
      }
    }
    const rms = rows > 0 ? Math.sqrt(squares / rows) : 0;
    return { kind: this.settings.scale, limit: limit > 0 ? limit : 1, threshold: rms > 0 ? Math.min(rms, limit) : Math.max(limit, 1) / 1000 };
  }

  private paint(tile: HeldTile): void {
    const [h, w] = tile.reply.size;
    tile.pixels.width = w;
    tile.pixels.height = h;
    const context = tile.pixels.getContext('2d')!;
    context.putImageData(new ImageData(tileToRgba(tile.reply.values, this.scale(), this.palette) as Uint8ClampedArray<ArrayBuffer>, w, h), 0, 0);
  }

  private recolour(): void {
    this.palette = themePalette();
    for (const tile of this.tiles) this.paint(tile);
    this.drawLegend();
    this.draw();
  }

  /** The tile the marginals and the readout use at a point: the finest one holding it. */
  private finestAt(row: number, col: number): HeldTile | undefined {
    let best: HeldTile | undefined;
    for (const t of this.tiles) {
      const r = t.reply;
      if (row < r.rows[0] || row >= r.rows[1] || col < r.cols[0] || col >= r.cols[1]) continue;
      if (!best || density(t) > density(best)) best = t;
    }
    return best;
  }

  /** The tile whose rectangle covers the view most finely (for the marginals). */
  private finestCovering(rect: SourceRect): HeldTile | undefined {
    const covering = this.tiles.filter((t) => t.reply.rows[0] <= rect.rows[0] && t.reply.rows[1] >= rect.rows[1] && t.reply.cols[0] <= rect.cols[0] && t.reply.cols[1] >= rect.cols[1]);
    return covering.sort((a, b) => density(b) - density(a))[0] ?? this.overview;
  }

  private draw(): void {
    if (this.view.width === 0) return;
    const ratio = window.devicePixelRatio || 1;
    const context = this.plot.getContext('2d')!;
    context.setTransform(ratio, 0, 0, ratio, 0, 0);
    context.clearRect(0, 0, this.view.width, this.view.height);
    context.imageSmoothingEnabled = false;
    for (const tile of [...this.tiles].sort((a, b) => density(a) - density(b))) {
      const s = screenRect(tile.reply, this.options.matrix, this.view, this.transform);
      if (s.x > this.view.width || s.y > this.view.height || s.x + s.width < 0 || s.y + s.height < 0) continue;
      context.drawImage(tile.pixels, s.x, s.y, s.width, s.height);
    }
    this.drawOverlay(context);
    const rect = visibleRect(this.options.matrix, this.view, this.transform);
    this.drawAxes(rect);
    this.drawMarginals(rect);
  }

  /** Column bands at least 1.5 px wide, rings at least 3 px across, so marks stay visible when zoomed out. */
  private drawOverlay(context: CanvasRenderingContext2D): void {
    const overlay = this.overlay;
    if (!overlay) return;
    const m = this.options.matrix;
    const on = (s: ScreenRect): boolean => s.x + s.width >= 0 && s.x <= this.view.width && s.y + s.height >= 0 && s.y <= this.view.height;
    context.fillStyle = rgb(this.palette.overlay, 0.38);
    for (const col of overlay.columns) {
      const s = screenRect({ rows: [0, m.rows], cols: [col, col + 1] }, m, this.view, this.transform);
      if (on(s)) context.fillRect(s.x, Math.max(0, s.y), Math.max(s.width, 1.5), Math.min(this.view.height, s.height));
    }
    context.strokeStyle = rgb(this.palette.overlay);
    context.lineWidth = 1.5;
    for (const { row, col } of overlay.weights) {
      const s = screenRect({ rows: [row, row + 1], cols: [col, col + 1] }, m, this.view, this.transform);
      if (!on(s)) continue;
      context.beginPath();
      context.arc(s.x + s.width / 2, s.y + s.height / 2, Math.max(3, Math.min(s.width, s.height) / 2 + 1.5), 0, 2 * Math.PI);
      context.stroke();
    }
  }

  private drawAxes(rect: SourceRect): void {
    const m = this.options.matrix;
    const x = scaleLinear().domain([0, m.cols]).range([this.transform.x, this.transform.x + this.transform.k * this.view.width]);
    const y = scaleLinear().domain([0, m.rows]).range([this.transform.y, this.transform.y + this.transform.k * this.view.height]);
    const integerTicks = (s: typeof x, [a, b]: [number, number], count: number): number[] =>
      scaleLinear().domain([a, b]).ticks(count).filter((t) => Number.isInteger(t) && t >= a && t < b && s(t + 0.5) >= 0);
    const format = (d: { valueOf(): number }): string => d.valueOf().toLocaleString('en-US');
    select(this.colAxis).selectAll('*').remove();
    select(this.colAxis).append('g').attr('transform', 'translate(0,1)')
      .call(axisBottom(x).tickValues(integerTicks(x, rect.cols, Math.max(2, Math.floor(this.view.width / 90)))).tickFormat(format).tickSizeOuter(0))
      .selectAll('.tick').attr('transform', (d) => `translate(${x(Number(d) + 0.5)},0)`);
    select(this.rowAxis).selectAll('*').remove();
    select(this.rowAxis).append('g').attr('transform', `translate(${AXIS_LEFT - 1},0)`)
      .call(axisLeft(y).tickValues(integerTicks(y, rect.rows, Math.max(2, Math.floor(this.view.height / 50)))).tickFormat(format).tickSizeOuter(0))
      .selectAll('.tick').attr('transform', (d) => `translate(0,${y(Number(d) + 0.5)})`);
  }

  /** Bars of absmax and ticks of RMS per displayed row (left strip) and column (bottom strip), from the finest tile. */
  private drawMarginals(rect: SourceRect): void {
    const tile = this.finestCovering(rect);
    const ratio = window.devicePixelRatio || 1;
    for (const [canvas, axis] of [[this.rowStrip, 'rows'], [this.colStrip, 'cols']] as const) {
      const context = canvas.getContext('2d')!;
      context.setTransform(ratio, 0, 0, ratio, 0, 0);
      const [w, h] = axis === 'rows' ? [MARGIN_STRIP, this.view.height] : [this.view.width, MARGIN_STRIP];
      context.clearRect(0, 0, w, h);
      if (!tile) continue;
      const r = tile.reply;
      const absmax = axis === 'rows' ? r.rowAbsmax : r.colAbsmax;
      const rms = axis === 'rows' ? r.rowRms : r.colRms;
      const top = Math.max(absoluteMax(absmax), 1e-300);
      // The strips follow the heatmap's scale: on symlog, a super weight does not flatten every other bar.
      const scale: ValueScale = { ...this.scale(), limit: top };
      const n = axis === 'rows' ? r.size[0] : r.size[1];
      for (let i = 0; i < n; i++) {
        const cell = axis === 'rows' ? cellRange(r, i, 0) : cellRange(r, 0, i);
        const s = screenRect(cell, this.options.matrix, this.view, this.transform);
        const [from, span] = axis === 'rows' ? [s.y, Math.max(s.height, 0.5)] : [s.x, Math.max(s.width, 0.5)];
        if (from + span < 0 || from > (axis === 'rows' ? h : w)) continue;
        const length = (v: number): number => (Number.isFinite(v) ? scalePosition(scale, v) * (MARGIN_STRIP - 4) : 0);
        context.fillStyle = rgb(this.palette.absmax, 0.85);
        if (axis === 'rows') context.fillRect(MARGIN_STRIP - length(absmax[i]!), from, length(absmax[i]!), span);
        else context.fillRect(from, 0, span, length(absmax[i]!));
        context.fillStyle = rgb(this.palette.rms);
        const at = length(rms[i]!);
        if (axis === 'rows') context.fillRect(MARGIN_STRIP - at - 1, from, 2, span);
        else context.fillRect(from, at - 1, span, 2);
      }
      canvas.setAttribute('data-max', String(top));
    }
  }

  private drawLegend(): void {
    const scale = this.scale();
    const width = Math.max(160, Math.min(360, this.view.width || 240));
    const svg = select(this.legend).attr('width', width + 40).attr('height', 34);
    svg.selectAll('*').remove();
    const steps = 64;
    const lowest = this.options.nonNegative ? 0 : -1;
    const x = scaleLinear().domain([lowest, 1]).range([20, 20 + width]);
    const step = (1 - lowest) / steps;
    for (let k = 0; k < steps; k++) {
      const t = lowest + (k + 0.5) * step;
      svg.append('rect').attr('x', x(lowest + k * step)).attr('y', 2).attr('width', width / steps + 0.5).attr('height', 10).attr('fill', rgb(colorAt(this.palette, t)));
    }
    // Zero and the limits first, then the rest where their labels have room.
    const candidates = legendTicks(scale).filter((v) => v >= 0 || !this.options.nonNegative).sort((a, b) => Number(b === 0 || Math.abs(b) === scale.limit) - Number(a === 0 || Math.abs(a) === scale.limit));
    const ticks: number[] = [];
    for (const v of candidates) {
      if (ticks.every((t) => Math.abs(x(scalePosition(scale, t)) - x(scalePosition(scale, v))) >= 44)) ticks.push(v);
    }
    ticks.sort((a, b) => a - b);
    const label = (v: number): string => formatValue(Number(v.toPrecision(3)));
    const axis = axisBottom(x).tickValues(ticks.map((v) => scalePosition(scale, v))).tickFormat((_, i) => label(ticks[i]!)).tickSizeOuter(0);
    svg.append('g').attr('class', 'legend-axis').attr('transform', 'translate(0,12)').call(axis);
    this.legend.setAttribute('data-limit', String(scale.limit));
    this.legend.setAttribute('data-scale', scale.kind);
  }

  private hover(px: number, py: number): void {
    const element = elementAt(px, py, this.options.matrix, this.view, this.transform);
    if (!element) return;
    const tile = this.finestAt(element.row, element.col);
    const where = this.options.describeElement(element.row, element.col);
    const cell = tile && cellOf(tile.reply, element.row, element.col);
    this.readout.setAttribute('data-row', String(element.row));
    this.readout.setAttribute('data-col', String(element.col));
    if (!tile || !cell) {
      this.readout.textContent = `[${element.row}, ${element.col}] · ${where}`;
      return;
    }
    const value = tile.reply.values[cell.i * tile.reply.size[1] + cell.j]!;
    const range = cellRange(tile.reply, cell.i, cell.j);
    const single = range.rows[1] - range.rows[0] === 1 && range.cols[1] - range.cols[0] === 1;
    this.readout.setAttribute('data-value', String(value));
    this.readout.setAttribute('data-exact', String(single));
    const text = Number.isNaN(value) ? 'no finite value' : formatValue(value);
    this.readout.textContent = single
      ? `[${element.row}, ${element.col}] = ${text} · ${where}`
      : `${this.settings.reduce} ${text} over rows ${range.rows[0]}–${range.rows[1] - 1}, columns ${range.cols[0]}–${range.cols[1] - 1} · pointer at [${element.row}, ${element.col}] · ${where}`;
  }

  private showStatus(): void {
    const rect = visibleRect(this.options.matrix, this.view, this.transform);
    const tile = this.finestCovering(rect);
    if (!tile) return;
    const r = tile.reply;
    const full = r.size[0] === r.rows[1] - r.rows[0] && r.size[1] === r.cols[1] - r.cols[0];
    this.setStatus('ready', `${full ? 'Full resolution' : `${r.size[0]} × ${r.size[1]} cells`} · rows ${r.rows[0]}–${r.rows[1] - 1}, columns ${r.cols[0]}–${r.cols[1] - 1}`);
  }

  private setStatus(state: 'loading' | 'ready' | 'error', text: string): void {
    this.status.setAttribute('data-state', state);
    this.status.textContent = text;
  }
}

/** Cells per source element of a tile. */
function density(t: HeldTile): number {
  const r = t.reply;
  return (r.size[0] * r.size[1]) / ((r.rows[1] - r.rows[0]) * (r.cols[1] - r.cols[0]));
}

function queryOf(r: TileQuery): TileQuery {
  return { rows: r.rows, cols: r.cols, size: r.size, reduce: r.reduce };
}
