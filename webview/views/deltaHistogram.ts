/** A delta histogram on a symmetric log axis (d3 SVG): negative changes left, zeros centre, positive right. */
import { axisLeft } from 'd3-axis';
import { scaleLinear, scaleLog } from 'd3-scale';
import { select } from 'd3-selection';
import type { DeltaHistogram } from '../../extension/protocol/messages';
import { deltaBars } from '../lib/deltaBars';
import { formatValue } from '../lib/format';

const WIDTH = 420;
const HEIGHT = 170;
const MARGIN = { top: 10, right: 10, bottom: 30, left: 44 };

export function renderDeltaHistogram(container: HTMLElement, h: DeltaHistogram, testId = 'delta-histogram'): void {
  container.replaceChildren();
  const { bars, zeroAt, span } = deltaBars(h);
  const svg = select(container).append('svg').attr('data-testid', testId).attr('viewBox', `0 0 ${WIDTH} ${HEIGHT}`).attr('role', 'img')
    .attr('aria-label', 'histogram of the change per weight, symmetric log scale');
  const x = scaleLinear().domain(span).range([MARGIN.left, WIDTH - MARGIN.right]);
  const bottom = HEIGHT - MARGIN.bottom;
  const maxCount = Math.max(1, ...bars.map((b) => b.count));
  const y = scaleLog().domain([0.5, maxCount * 1.2]).range([bottom, MARGIN.top]).clamp(true);
  const step = x(1) - x(0);
  svg.append('g').selectAll('rect').data(bars).join('rect')
    .attr('class', (b) => (b.sign === 0 ? 'bar zero' : b.sign < 0 ? 'bar negative' : 'bar positive'))
    .attr('x', (b) => x(b.position) + 0.5)
    .attr('width', Math.max(1, step - 1))
    .attr('y', (b) => Math.min(y(b.count), bottom - 2))
    .attr('height', (b) => Math.max(2, bottom - y(b.count)))
    .append('title')
    .text((b) => (b.sign === 0 ? `Δ = 0: ${b.count.toLocaleString('en-US')}` : `${b.sign < 0 ? '−' : '+'}[${formatValue(b.low)}, ${formatValue(b.high)}): ${b.count.toLocaleString('en-US')}`));
  svg.append('g').attr('class', 'axis').attr('transform', `translate(${MARGIN.left},0)`).call(axisLeft(y).ticks(4, '~s'));
  // Axis labels: the outermost magnitudes and zero.
  const outer = bars.filter((b) => b.sign !== 0).reduce((m, b) => Math.max(m, b.high), 0);
  const labels: [number, string][] = [[x(zeroAt + 0.5), '0']];
  if (outer > 0) labels.push([x(span[0]), `−${formatValue(outer)}`], [x(span[1]), `+${formatValue(outer)}`]);
  svg.append('g').attr('class', 'axis').selectAll('text').data(labels).join('text')
    .attr('x', (d) => d[0]).attr('y', bottom + 16).attr('text-anchor', (_, i) => (i === 0 ? 'middle' : i === 1 ? 'start' : 'end')).text((d) => d[1]);
  svg.append('line').attr('class', 'zero-line').attr('x1', x(zeroAt + 0.5)).attr('x2', x(zeroAt + 0.5)).attr('y1', MARGIN.top).attr('y2', bottom);
}
