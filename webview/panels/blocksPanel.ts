/**
 * The Blocks tab of a GGUF quantized tensor: the distribution of its block scales (d, dmin, sub-block steps) as a
 * log-|x| histogram with quantiles, the blocks at the edge of their range, and the grid of where large scales sit.
 */
import type { BlockAnalysis, BlockOutcome, ScaleDistribution } from '../../extension/protocol/messages';
import { QUANTILE_KEYS } from '../../extension/protocol/messages';
import { formatValue } from '../lib/format';
import { el } from '../views/dom';
import { renderHistogram } from '../views/histogram';
import { renderScaleGrid } from '../views/scaleGrid';
import type { DetailPanel } from './panel';

type ScaleKind = 'd' | 'dmin' | 'subBlock';
const SCALE_LABELS: Record<ScaleKind, string> = { d: 'block scale d', dmin: 'dmin / m', subBlock: 'sub-block scales' };

/** Analyses fetched so far, by tensor id (the host computes each once per document). */
const outcomes = new Map<number, Promise<BlockOutcome>>();

function count(n: number, of: number): string {
  return `${n.toLocaleString('en-US')}${of > 0 ? ` (${((100 * n) / of).toPrecision(3)}%)` : ''}`;
}

function table(rows: [string, string, string?][]): HTMLElement {
  return el('table', {}, ...rows.map(([label, value, title]) =>
    el('tr', title ? { title } : {}, el('th', {}, label), el('td', { 'data-testid': 'block-fact', 'data-key': label }, value))));
}

function scaleSection(scale: ScaleDistribution, kind: ScaleKind, histY: 'linear' | 'log'): HTMLElement {
  const histogram = el('div', { class: 'histogram' });
  renderHistogram(histogram, scale.histogram, scale.stats, 'log', histY);
  const s = scale.stats;
  const facts = table([
    ['values', s.count.toLocaleString('en-US')], ['min', formatValue(s.min)], ['max', formatValue(s.max)], ['mean', formatValue(s.mean)],
    ['zeros', s.zeros.toLocaleString('en-US')], ['NaN / ±Inf', `${s.nan} / ${s.posinf + s.neginf}`],
  ]);
  const quantiles = el('table', {}, ...QUANTILE_KEYS.map((q) => el('tr', {}, el('th', {}, q), el('td', {}, formatValue(s.quantiles[q])))));
  return el('div', { class: 'scale-section', 'data-testid': `scale-${kind}` },
    el('div', { class: 'section-title' }, `log₁₀ |${SCALE_LABELS[kind]}|`), histogram, el('div', { class: 'tables' }, facts, quantiles));
}

function render(a: BlockAnalysis, kind: ScaleKind, histY: 'linear' | 'log', pick: (kind: ScaleKind) => void): HTMLElement {
  const kinds = (['d', 'dmin', 'subBlock'] as const).filter((k) => a.scales[k] !== null);
  const shown = kinds.includes(kind) ? kind : kinds[0];
  const toggle = el('div', { class: 'toggle', 'data-testid': 'scale-kind', 'data-value': shown ?? '', role: 'group', 'aria-label': 'scale' },
    ...kinds.map((k) => {
      const button = el('button', { class: k === shown ? 'on' : '', 'aria-pressed': String(k === shown), 'data-option': k }, SCALE_LABELS[k]);
      button.addEventListener('click', () => pick(k));
      return button;
    }));
  const e = a.scaleEdges;
  const edgeRows: [string, string, string?][] = [
    ['d = 0', count(e.zero, a.blocks), 'every value of the block is its minimum'],
    ['subnormal d', count(e.subnormal, a.blocks), 'the scale itself has lost precision'],
    ['Inf / NaN d', count(e.nonFinite, a.blocks), 'the block decodes to non-finite values'],
  ];
  if (a.saturation) {
    const s = a.saturation;
    const codes = `codes ${s.lowestCode} … ${s.highestCode}`;
    edgeRows.push(['blocks reaching an edge code', count(s.blocks, a.blocks), `at least one element at the lowest or highest code (${codes})`]);
    edgeRows.push(['elements at an edge code', count(s.elements, a.blocks * a.blockElements), codes]);
  }
  return el('section', { class: 'blocks-panel', 'data-testid': 'blocks-panel' },
    el('div', { class: 'where' }, `${a.blocks.toLocaleString('en-US')} blocks of ${a.blockElements} elements in ${a.blockBytes} bytes` +
      `${a.subBlocks > 1 ? `, ${a.subBlocks} sub-blocks each` : ''} · ${a.rows.toLocaleString('en-US')} rows × ${a.blocksPerRow.toLocaleString('en-US')} blocks`),
    el('div', { class: 'hist-controls' }, toggle),
    shown ? scaleSection(a.scales[shown]!, shown, histY) : el('div', { class: 'hint' }, 'This type stores no scales.'),
    el('div', { class: 'section-title' }, 'At the edge of the range'),
    el('div', { class: 'tables' }, table(edgeRows)),
    el('div', { class: 'section-title' }, a.scales.d ? 'Where the large scales sit: largest |d| per region' : 'Where the large scales sit: largest sub-block scale per region'),
    renderScaleGrid(a));
}

export const blocksPanel: DetailPanel = {
  id: 'blocks',
  wide: true,
  title: 'Blocks',
  applies: (row) => row.quantized && !row.problem,
  mount(container, row, ctx) {
    let disposed = false;
    const settings = (): { scale: ScaleKind } => ({ scale: 'd', ...(ctx.view().panels.blocks as { scale?: ScaleKind } | undefined) });
    container.replaceChildren(el('div', { class: 'pending', 'data-testid': 'blocks-pending' }, 'Reading the blocks…'));
    let outcome = outcomes.get(row.id);
    if (!outcome) {
      outcome = ctx.host.request('blocks', { id: row.id });
      outcomes.set(row.id, outcome);
    }
    const show = (result: BlockOutcome): void => {
      if (disposed) return;
      if (!result.analysis) {
        container.replaceChildren(el('div', { class: 'problem' }, el('strong', {}, result.error?.code ?? 'ERROR'), ` ${result.error?.message ?? ''}`));
        return;
      }
      const analysis = result.analysis;
      const draw = (): void => {
        container.replaceChildren(render(analysis, settings().scale, ctx.view().histY, (scale) => {
          ctx.updateView({ panels: { ...ctx.view().panels, blocks: { scale } } });
          draw();
        }));
      };
      draw();
    };
    outcome.then(show, (error: unknown) => {
      outcomes.delete(row.id);
      ctx.report(error);
    });
    return { dispose: () => void (disposed = true) };
  },
};
