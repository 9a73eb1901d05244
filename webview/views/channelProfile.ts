/**
 * Per-input-channel profiles as d3 SVG: one or more series of per-channel values, max-pooled to the chart's width,
 * on a log or linear y axis, with the ranked channels marked and a readout of the channels under the pointer.
 */
import { axisBottom, axisLeft } from 'd3-axis';
import { scaleLinear, scaleLog } from 'd3-scale';
import { select } from 'd3-selection';
import { formatValue } from '../lib/format';
import { pooledProfile } from '../lib/saliency';
import { el } from './dom';
import { decades } from './histogram';

const WIDTH = 400;
const HEIGHT = 170;
const MARGIN = { top: 10, right: 10, bottom: 26, left: 48 };
const BINS = WIDTH - MARGIN.left - MARGIN.right;

export interface ProfileSeries {
  label: string;
  /** CSS class giving the series its theme colour. */
  kind: string;
  values: ArrayLike<number>;
}

/** Whole decades on a log axis as 1e5, 1e-4; other values as the tables show them. */
function tickText(value: number, y: 'linear' | 'log'): string {
  const exponent = Math.log10(value);
  return y === 'log' && Math.abs(exponent - Math.round(exponent)) < 1e-9 && (value >= 1e4 || value < 1e-2) ? `1e${Math.round(exponent)}` : formatValue(value);
}

export function renderChannelProfile(testId: string, series: readonly ProfileSeries[], marked: readonly number[], y: 'linear' | 'log'): HTMLElement {
  const cols = series[0]?.values.length ?? 0;
  const pooled = series.map((s) => ({ ...s, bins: pooledProfile(s.values, BINS) }));
  const all = pooled.flatMap((s) => s.bins.map((b) => b.max)).filter((v) => (y === 'log' ? v > 0 : true));
  const hi = all.length > 0 ? Math.max(...all) : 1;
  const lo = all.length > 0 ? Math.min(...all) : 0;
  const bottom = HEIGHT - MARGIN.bottom;
  const x = scaleLinear().domain([0, Math.max(1, cols)]).range([MARGIN.left, WIDTH - MARGIN.right]);
  const yScale = y === 'log'
    ? scaleLog().domain([lo > 0 ? lo : 1e-12, hi > lo ? hi : lo * 10 || 1]).range([bottom, MARGIN.top]).clamp(true)
    : scaleLinear().domain([Math.min(0, lo), hi > 0 ? hi : 1]).range([bottom, MARGIN.top]);

  const box = el('div', { class: 'channel-profile', 'data-testid': testId, 'data-columns': String(cols) });
  const svg = select(box).append('svg').attr('viewBox', `0 0 ${WIDTH} ${HEIGHT}`).attr('role', 'img')
    .attr('aria-label', `${series.map((s) => s.label).join(', ')} per input channel`);
  svg.append('g').attr('class', 'marks').selectAll('line').data(marked).join('line')
    .attr('x1', (j) => x(j + 0.5)).attr('x2', (j) => x(j + 0.5)).attr('y1', MARGIN.top).attr('y2', bottom);
  for (const s of pooled) {
    const path = s.bins.map((b, i) => {
      const yv = yScale(y === 'log' && b.max <= 0 ? yScale.domain()[0]! : b.max);
      return `${i === 0 ? 'M' : 'L'}${x(b.first).toFixed(1)},${yv.toFixed(1)}H${x(b.last + 1).toFixed(1)}`;
    }).join('');
    svg.append('path').attr('class', `series ${s.kind}`).attr('d', path);
  }
  svg.append('g').attr('class', 'axis').attr('transform', `translate(0,${bottom})`)
    .call(axisBottom(x).ticks(6).tickFormat((d) => String(Math.round(Number(d)))));
  const [low, high] = yScale.domain() as [number, number];
  const yTicks = y === 'log' ? decades(Math.log10(low), Math.log10(high), 5).map((e) => 10 ** e).filter((v) => v >= low && v <= high) : yScale.ticks(4);
  svg.append('g').attr('class', 'axis').attr('transform', `translate(${MARGIN.left},0)`)
    .call(axisLeft(yScale).tickValues(yTicks.length >= 2 ? yTicks : [low, high]).tickFormat((d) => tickText(Number(d), y)));

  const legend = el('div', { class: 'profile-legend' }, ...series.map((s) => el('span', { class: `key ${s.kind}` }, s.label)));
  const readout = el('div', { class: 'profile-readout', 'data-testid': `${testId}-readout` }, 'Point at the chart to read the channels under the pointer.');
  const plot = svg.node()!;
  plot.addEventListener('mousemove', (event) => {
    const box = plot.getBoundingClientRect();
    const at = Math.floor(x.invert(((event.clientX - box.left) / box.width) * WIDTH));
    if (at < 0 || at >= cols) return;
    const parts = pooled.map((s) => {
      const bin = s.bins.find((b) => b.first <= at && at <= b.last);
      return bin ? `${s.label} ${formatValue(bin.max)}` : '';
    }).filter(Boolean);
    const bin = pooled[0]?.bins.find((b) => b.first <= at && at <= b.last);
    const where = bin && bin.last > bin.first ? `channels ${bin.first}–${bin.last} (largest)` : `channel ${at}`;
    readout.textContent = `${where}: ${parts.join(' · ')}`;
  });
  box.append(legend, readout);
  return box;
}
