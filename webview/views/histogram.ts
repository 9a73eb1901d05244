/** The histogram of one tensor: d3 SVG bars, linear or log-|x| axis, linear or log counts, exact min/max markers. */
import { axisBottom, axisLeft } from 'd3-axis';
import { scaleLinear, scaleLog } from 'd3-scale';
import { select } from 'd3-selection';
import type { HistogramSummary, TensorStats } from '../../extension/protocol/messages';
import { formatValue } from '../lib/format';
import { axisPosition, histogramBars, type XScale } from '../lib/histogramGeometry';

const WIDTH = 400;
const HEIGHT = 180;
const MARGIN = { top: 14, right: 12, bottom: 28, left: 44 };

export function renderHistogram(container: HTMLElement, h: HistogramSummary, stats: TensorStats, x: XScale, y: 'linear' | 'log'): void {
  container.replaceChildren();
  const svg = select(container)
    .append('svg')
    .attr('data-testid', 'histogram')
    .attr('viewBox', `0 0 ${WIDTH} ${HEIGHT}`)
    .attr('role', 'img')
    .attr('aria-label', 'histogram of values');
  const { bars, lo, hi } = histogramBars(h, x);
  const xScale = scaleLinear().domain([lo, hi]).range([MARGIN.left, WIDTH - MARGIN.right]);
  const maxCount = Math.max(1, ...bars.map((b) => b.count));
  const bottom = HEIGHT - MARGIN.bottom;
  const yScale =
    y === 'log'
      ? scaleLog().domain([0.5, maxCount * 1.2]).range([bottom, MARGIN.top]).clamp(true)
      : scaleLinear().domain([0, maxCount]).range([bottom, MARGIN.top]);

  svg
    .append('g')
    .selectAll('rect')
    .data(bars)
    .join('rect')
    .attr('class', 'bar')
    .attr('x', (b) => xScale(b.x0))
    .attr('width', (b) => Math.max(1, xScale(b.x1) - xScale(b.x0) - 0.5))
    // Even a single value stays visible: at least 2 px tall.
    .attr('y', (b) => Math.min(yScale(b.count), bottom - 2))
    .attr('height', (b) => Math.max(2, bottom - yScale(b.count)))
    .append('title')
    .text((b) => `${formatValue(x === 'log' ? 10 ** b.x0 : b.x0)} … ${formatValue(x === 'log' ? 10 ** b.x1 : b.x1)}: ${b.count}`);

  const xAxis =
    x === 'log'
      ? axisBottom(xScale).tickValues(decades(lo, hi, 7)).tickFormat((d) => `1e${Number(d)}`)
      : axisBottom(xScale).ticks(6).tickFormat((d) => formatValue(Number(d)));
  svg.append('g').attr('class', 'axis').attr('transform', `translate(0,${bottom})`).call(xAxis);
  const yAxis = axisLeft(yScale).ticks(4, y === 'log' ? '~s' : '~s');
  svg.append('g').attr('class', 'axis').attr('transform', `translate(${MARGIN.left},0)`).call(yAxis);

  const markers: [string, number | null, string][] = [
    ['marker-min', stats.min, 'min'],
    ['marker-max', stats.max, 'max'],
  ];
  let previousPx: number | null = null;
  for (const [testId, value, label] of markers) {
    const at = axisPosition(value, x);
    if (at === null) continue;
    const px = xScale(at);
    // Labels point inward so they never leave the plot; a second label close to the first drops one line.
    const anchor = px > (MARGIN.left + WIDTH - MARGIN.right) / 2 ? 'end' : 'start';
    const y = previousPx !== null && Math.abs(previousPx - px) < 90 ? MARGIN.top + 7 : MARGIN.top - 5;
    previousPx = px;
    const marker = svg.append('g').attr('class', `marker ${label}`).attr('data-testid', testId);
    marker.append('line').attr('x1', px).attr('x2', px).attr('y1', MARGIN.top - 4).attr('y2', bottom);
    marker
      .append('text')
      .attr('x', anchor === 'end' ? px - 3 : px + 3)
      .attr('y', y)
      .attr('text-anchor', anchor)
      .text(`${label} ${formatValue(value)}`);
  }
}

/** Whole powers of ten (as exponents) inside [lo, hi], thinned to at most `most` ticks. */
export function decades(lo: number, hi: number, most: number): number[] {
  const first = Math.ceil(lo);
  const last = Math.floor(hi);
  if (last < first) return [Math.round((lo + hi) / 2)];
  const step = Math.max(1, Math.ceil((last - first + 1) / most));
  const ticks: number[] = [];
  for (let e = first; e <= last; e += step) ticks.push(e);
  return ticks;
}
