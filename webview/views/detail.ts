/** The selected tensor's heading, and its Statistics tab: every statistic, quantiles, and the histogram. */
import type { HistogramSummary, StatsRecord, TensorRow, TensorStats } from '../../extension/protocol/messages';
import { QUANTILE_KEYS } from '../../extension/protocol/messages';
import { formatBytes, formatShape, formatValue } from '../lib/format';
import type { ViewState } from '../state';
import { el } from './dom';
import { renderHistogram } from './histogram';

const STAT_ROWS: [keyof TensorStats, string][] = [
  ['count', 'finite values'], ['mean', 'mean'], ['std', 'std'], ['min', 'min'], ['max', 'max'], ['absmax', 'absmax'],
  ['l2', 'L2 norm'], ['zeros', 'zeros'], ['nan', 'NaN'], ['posinf', '+Inf'], ['neginf', '−Inf'],
  ['skewness', 'skewness'], ['kurtosis', 'excess kurtosis'],
];

export interface DetailActions {
  setScales(change: Pick<Partial<ViewState>, 'histX' | 'histY'>): void;
  copy(text: string): void;
}

/** Name and location of the selected tensor, above its tabs. */
export function renderTensorHeading(row: TensorRow): HTMLElement[] {
  return [
    el('h2', { title: row.name }, row.name),
    el('div', { class: 'where' }, `${row.dtype} · ${formatShape(row.shape)} · ${formatBytes(row.bytes)} · offset ${row.offset.toLocaleString('en-US')} in ${row.file}`),
  ];
}

/** The Statistics tab's content. */
export function renderDetail(row: TensorRow, record: StatsRecord | undefined, histogram: HistogramSummary | null, view: ViewState, actions: DetailActions): HTMLElement {
  const panel = el('section', { class: 'detail-stats' });
  const problem = row.problem ?? record?.error;
  if (problem) {
    panel.append(el('div', { class: 'problem' }, el('strong', {}, problem.code), ` ${problem.message}`));
    return panel;
  }
  const stats = record?.stats;
  if (!stats) {
    panel.append(el('div', { class: 'pending' }, 'Statistics are on their way…'));
    return panel;
  }

  const histogramBox = el('div', { class: 'histogram' });
  const toggle = (testId: string, label: string, value: string, options: [string, string][], onPick: (v: string) => void): HTMLElement =>
    el('div', { class: 'toggle', 'data-testid': testId, 'data-value': value, role: 'group', 'aria-label': label },
      ...options.map(([v, text]) => {
        const button = el('button', { class: v === value ? 'on' : '', 'aria-pressed': String(v === value), 'data-option': v }, text);
        button.addEventListener('click', () => onPick(v));
        return button;
      }));
  const controls = el('div', { class: 'hist-controls' },
    toggle('hist-xscale', 'x axis', view.histX, [['linear', 'linear x'], ['log', 'log |x|']], (v) => actions.setScales({ histX: v as ViewState['histX'] })),
    toggle('hist-yscale', 'y axis', view.histY, [['linear', 'linear y'], ['log', 'log y']], (v) => actions.setScales({ histY: v as ViewState['histY'] })),
  );
  if (histogram) renderHistogram(histogramBox, histogram, stats, view.histX, view.histY);
  else histogramBox.append(el('div', { class: 'pending' }, 'Loading histogram…'));

  const tails = histogram?.tails ?? [];
  const tailText = tails.map((t) => `±${t.k}σ: ${t.below.toLocaleString('en-US')} below, ${t.above.toLocaleString('en-US')} above`).join(' · ');

  const statTable = el('table', { class: 'stats' },
    ...STAT_ROWS.map(([key, label]) => {
      const value = stats[key] as number | null;
      return el('tr', {}, el('th', {}, label), el('td', { 'data-testid': 'stat', 'data-key': key, 'data-value': String(value) }, formatStat(key, value)));
    }));
  const quantileTable = el('table', { class: 'quantiles' },
    el('tr', {}, el('th', {}, 'q'), el('th', {}, 'value')),
    ...QUANTILE_KEYS.map((q) => el('tr', {}, el('th', {}, q), el('td', { 'data-testid': 'quantile', 'data-key': q, 'data-value': String(stats.quantiles[q]) }, formatValue(stats.quantiles[q])))));

  const copy = el('vscode-button', { 'data-testid': 'copy-json', secondary: '' }, 'Copy stats as JSON');
  copy.addEventListener('click', () => actions.copy(JSON.stringify({ name: row.name, dtype: row.dtype, shape: row.shape, stats }, null, 2)));

  panel.append(
    controls,
    histogramBox,
    el('div', { class: 'tails', 'data-testid': 'tails' }, tailText || 'no spread: every value is the same'),
    el('div', { class: 'tables' }, statTable, quantileTable),
    copy,
  );
  return panel;
}

function formatStat(key: keyof TensorStats, value: number | null): string {
  if (value === null) return '—';
  return ['count', 'zeros', 'nan', 'posinf', 'neginf'].includes(key) ? value.toLocaleString('en-US') : formatValue(value);
}
