/** Leading singular values of a delta (d3 bars, log scale), with the energy they hold. */
import { axisBottom, axisLeft } from 'd3-axis';
import { scaleBand, scaleLog } from 'd3-scale';
import { select } from 'd3-selection';
import type { LowRankSummary } from '../../extension/protocol/messages';
import { formatValue } from '../lib/format';
import { el } from './dom';

const WIDTH = 420;
const HEIGHT = 150;
const MARGIN = { top: 8, right: 10, bottom: 26, left: 48 };

/** The smallest rank holding `fraction` of ‖Δ‖², or null when the computed values do not reach it. */
export function rankFor(energy: readonly (number | null)[], fraction: number): number | null {
  const i = energy.findIndex((e) => e !== null && e >= fraction);
  return i < 0 ? null : i + 1;
}

export function renderSpectrum(container: HTMLElement, s: LowRankSummary): void {
  container.replaceChildren();
  const values = s.singular_values.filter((v) => v > 0);
  if (values.length === 0) {
    container.append(el('div', { class: 'hint' }, 'The delta is zero: no singular values.'));
    return;
  }
  const svg = select(container).append('svg').attr('data-testid', 'spectrum').attr('viewBox', `0 0 ${WIDTH} ${HEIGHT}`).attr('role', 'img')
    .attr('aria-label', 'leading singular values of the delta');
  const x = scaleBand<number>().domain(values.map((_, i) => i + 1)).range([MARGIN.left, WIDTH - MARGIN.right]).padding(0.15);
  const bottom = HEIGHT - MARGIN.bottom;
  const y = scaleLog().domain([Math.min(...values) / 2, values[0]! * 1.2]).range([bottom, MARGIN.top]);
  svg.append('g').selectAll('rect').data(values).join('rect').attr('class', 'bar')
    .attr('x', (_, i) => x(i + 1)!).attr('width', x.bandwidth()).attr('y', (v) => y(v)).attr('height', (v) => bottom - y(v))
    .append('title').text((v, i) => `σ${i + 1} = ${formatValue(v)} · energy ≤ rank ${i + 1}: ${((s.energy[i] ?? 0) * 100).toFixed(2)}%`);
  const every = Math.max(1, Math.ceil(values.length / 16));
  svg.append('g').attr('class', 'axis').attr('transform', `translate(0,${bottom})`).call(axisBottom(x).tickValues(values.map((_, i) => i + 1).filter((r) => r === 1 || r % every === 0)));
  svg.append('g').attr('class', 'axis').attr('transform', `translate(${MARGIN.left},0)`).call(axisLeft(y).ticks(3, '~g'));
}

/** Facts and a verdict: is the change LoRA-compressible within the computed rank? */
export function spectrumFacts(s: LowRankSummary): { label: string; value: string; key: string }[] {
  const percent = (x: number | null | undefined): string => (x === null || x === undefined ? '—' : `${(100 * x).toFixed(2)}%`);
  const at = (r: number): number | null => s.energy[Math.min(r, s.energy.length) - 1] ?? null;
  const r90 = rankFor(s.energy, 0.9);
  const r99 = rankFor(s.energy, 0.99);
  const k = s.singular_values.length;
  const verdict = r99 !== null && r99 <= Math.max(1, Math.floor(k / 2))
    ? `LoRA-compressible: rank ${r99} holds 99% of the change`
    : r90 !== null
      ? `partly low-rank: rank ${r90} holds 90%, 99% needs more than ${r99 ?? k}`
      : `not low-rank within the ${k} computed values`;
  return [
    { key: 'verdict', label: 'verdict', value: verdict },
    { key: 'energy-1', label: 'energy at rank 1', value: percent(at(1)) },
    { key: 'energy-4', label: 'energy at rank 4', value: percent(at(4)) },
    { key: 'energy-k', label: `energy at rank ${k}`, value: percent(at(k)) },
    { key: 'rank-90', label: 'rank for 90%', value: r90 === null ? `> ${k}` : String(r90) },
    { key: 'rank-99', label: 'rank for 99%', value: r99 === null ? `> ${k}` : String(r99) },
    { key: 'stable-rank', label: 'stable rank ‖Δ‖²/σ₁²', value: formatValue(s.stable_rank) },
    { key: 'effective-rank', label: 'effective rank (of the computed σ)', value: formatValue(s.effective_rank) },
  ];
}
