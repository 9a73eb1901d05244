/** The Quantization tab (one tensor, every scheme) and the model-wide Quantization view (ranking, keep list). */
import '@vscode-elements/elements/dist/vscode-option/index.js';
import '@vscode-elements/elements/dist/vscode-single-select/index.js';
import { defaultKeepThresholdOf } from '../../extension/engine/keepRule';
import { lookupDType } from '../../extension/formats/dtypes';
import type { QuantMetricsInfo, QuantRecord, QuantSchemeInfo, QuantView, TensorRow } from '../../extension/protocol/messages';
import { formatShape, formatValue } from '../lib/format';
import { renderAnalysisProgress } from '../views/analysisProgress';
import { dataTable } from '../views/dataTable';
import { el } from '../views/dom';
import type { CheckpointView, DetailPanel, PanelContext } from './panel';

/** Scheme names as the CLI spells them, in display order. */
export const SCHEMES = [
  'int8-sym-row', 'int8-sym-g128', 'int4-sym-g32', 'int4-asym-g128', 'int4-asym-g64', 'int3-asym-g64', 'q8_0', 'q4_0',
  'fp8-e4m3-tensor', 'fp8-e4m3-row', 'mxfp4', 'nvfp4',
];
const DEFAULT_SCHEME = 'int4-asym-g128';

export function hasQuantization(row: TensorRow): boolean {
  const kind = lookupDType(row.dtype)?.kind;
  return row.params > 0 && (kind === 'float' || kind === 'quant');
}

const db = (value: number | null): string => (value === null ? '—' : `${value.toFixed(2)} dB`);
const keptSqnr = (r: { kept: { fraction: number; metrics: QuantMetricsInfo }[] }, fraction: number): number | null =>
  r.kept.find((k) => k.fraction === fraction)?.metrics.sqnrDb ?? null;

/** The metric cells; with `weighted`, first the SQNR of the errors weighted by the imported activation statistics. */
function metricCells(r: QuantSchemeInfo, weighted: boolean): HTMLElement[] {
  return [
    ...(weighted ? [el('td', { 'data-key': 'weighted-sqnr' }, db(r.metrics.weighted?.sqnrDb ?? null))] : []),
    el('td', {}, formatValue(r.metrics.mse)), el('td', { 'data-key': 'sqnr' }, db(r.metrics.sqnrDb)), el('td', {}, formatValue(r.metrics.maxAbsErr)),
    el('td', {}, db(keptSqnr(r, 0.001))), el('td', {}, db(keptSqnr(r, 0.01))),
  ];
}

function metricHeaders(weighted: boolean): string[] {
  return [...(weighted ? ['weighted SQNR'] : []), 'MSE', 'SQNR', 'max |error|', 'SQNR, 0.1 % kept', 'SQNR, 1 % kept'];
}

/** Whether any result carries errors weighted by imported activation statistics. */
function hasWeighted(results: readonly QuantSchemeInfo[]): boolean {
  return results.some((r) => r.metrics.weighted !== null);
}

export function renderQuantRecord(record: QuantRecord): HTMLElement {
  if (!record.results) return el('div', { class: 'problem' }, el('strong', {}, record.error?.code ?? ''), ` ${record.error?.message ?? ''}`);
  const weighted = hasWeighted(record.results);
  return el('section', { class: 'quant-detail' },
    dataTable('quant-table', `Round to nearest along rows (the input dimension); “kept”: the largest |w| stay exact and leave their groups’ scales${weighted ? '; weighted: errors weighted per input channel by Σx_j² from the imported activation statistics' : ''}`,
      ['scheme', ...metricHeaders(weighted)],
      record.results.map((r) => el('tr', { 'data-scheme': r.scheme, 'data-sqnr': String(r.metrics.sqnrDb) }, el('td', {}, r.scheme), ...metricCells(r, weighted)))),
    el('p', { class: 'muted' }, 'Q8_0 and Q4_0 need a last dimension of whole 32-element blocks; schemes that cannot quantize this tensor are left out.'));
}

export const quantPanel: DetailPanel = {
  id: 'quantization',
  title: 'Quantization',
  applies: (row) => hasQuantization(row),
  mount(container, row, ctx) {
    container.replaceChildren(el('div', { class: 'pending' }, 'Simulating every scheme…'));
    ctx.host.request('quant', { id: row.id }).then((record) => {
      if (container.isConnected) container.replaceChildren(renderQuantRecord(record));
    }, ctx.report);
    return {};
  },
};

interface QuantSettings {
  scheme: string;
  threshold: number | null;
  /** Rank by the plain relative error, or by the error weighted with imported activation statistics. */
  rankBy: 'plain' | 'weighted';
}

function renderQuantView(body: HTMLElement, ctx: PanelContext, view: QuantView, settings: QuantSettings, save: (s: QuantSettings) => void): void {
  const rows = ctx.data.tensors;
  const scheme = view.schemes[0];
  if (!scheme) {
    body.replaceChildren(el('div', { class: 'hint' }, 'Pick a scheme and run it.'));
    return;
  }
  const ranked = view.records.flatMap((r) => {
    const result = r.results?.find((x) => x.scheme === scheme);
    return result ? [{ id: r.id, result }] : [];
  });
  const weighted = hasWeighted(ranked.map((r) => r.result));
  const byWeighted = weighted && settings.rankBy === 'weighted';
  const damageOf = (r: QuantSchemeInfo): number => (byWeighted ? r.metrics.weighted?.damage : r.metrics.damage) ?? -1;
  ranked.sort((a, b) => damageOf(b.result) - damageOf(a.result) || a.id - b.id);
  const matrices = ranked.filter((r) => rows[r.id]!.shape.length >= 2 && r.result.metrics.sqnrDb !== null);
  const suggested = defaultKeepThresholdOf(matrices.map((r) => r.result.metrics.sqnrDb!));
  const threshold = settings.threshold ?? suggested;
  const kept = threshold === null ? [] : matrices.filter((r) => r.result.metrics.sqnrDb! < threshold);
  const keptIds = new Set(kept.map((r) => r.id));

  const input = el('vscode-textfield', { 'data-testid': 'keep-threshold', inputmode: 'decimal', value: threshold === null ? '' : threshold.toFixed(1), 'aria-label': 'SQNR threshold in dB' }) as HTMLElement & { value: string };
  input.addEventListener('change', () => {
    const value = Number(input.value);
    save({ ...settings, threshold: input.value.trim() === '' || !Number.isFinite(value) ? null : value });
  });
  const exportButton = (format: 'llm-compressor' | 'llama-quantize', label: string): HTMLElement => {
    const button = el('vscode-button', { 'data-testid': `export-${format}`, secondary: '' }, label);
    if (threshold === null) button.setAttribute('disabled', '');
    button.addEventListener('click', () => {
      if (threshold !== null) void ctx.host.request('exportKeepList', { scheme, thresholdDb: threshold, format }).catch(ctx.report);
    });
    return button;
  };
  const keepBar = el('div', { class: 'keep-bar' },
    el('div', { class: 'keep-row' },
      el('span', {}, 'Keep in higher precision the matrices with SQNR below'), input, el('span', {}, 'dB:'),
      el('span', { 'data-testid': 'keep-count', 'data-count': String(kept.length) }, `${kept.length} tensor(s)`),
      el('span', { class: 'muted' }, suggested !== null ? `(suggested ${suggested.toFixed(1)} dB: the median − 6 dB)` : '')),
    el('div', { class: 'keep-row' },
      exportButton('llm-compressor', 'Export llm-compressor ignore list'), exportButton('llama-quantize', 'Export llama-quantize overrides')));
  const title = byWeighted
    ? `Expected damage under ${scheme}, weighted by the imported activation statistics: Σ_j H_jj Σ_i (w − ŵ)² / Σ_j H_jj Σ_i w² (H_jj = Σx_j²), largest first`
    : `Expected damage under ${scheme}: relative error energy Σ(w − ŵ)² / Σw², largest first`;
  const table = dataTable('quant-ranking', title,
    ['#', 'tensor', 'shape', ...metricHeaders(weighted)],
    ranked.map((r, i) => el('tr', { 'data-name': rows[r.id]!.name, 'data-sqnr': String(r.result.metrics.sqnrDb), 'data-weighted-sqnr': String(r.result.metrics.weighted?.sqnrDb ?? null), class: keptIds.has(r.id) ? 'kept' : '' },
      el('td', {}, String(i + 1)), el('td', {}, tensorLink(ctx, rows[r.id]!.name)), el('td', {}, formatShape(rows[r.id]!.shape)), ...metricCells(r.result, weighted))),
    { class: 'ranking', 'data-scheme': scheme, 'data-rank-by': byWeighted ? 'weighted' : 'plain' });
  const rankToggle = weighted ? [rankByToggle(settings, (rankBy) => save({ ...settings, rankBy }))] : [];
  body.replaceChildren(keepBar, ...rankToggle, table);
}

/** Plain or activation-weighted ranking, offered once activation statistics weigh the errors. */
function rankByToggle(settings: QuantSettings, pick: (rankBy: QuantSettings['rankBy']) => void): HTMLElement {
  const options: [QuantSettings['rankBy'], string][] = [['weighted', 'weighted by activations (Σx²)'], ['plain', 'plain relative error']];
  return el('div', { class: 'keep-row' }, el('span', {}, 'Rank by'),
    el('div', { class: 'toggle', 'data-testid': 'quant-rank-by', 'data-value': settings.rankBy, role: 'group', 'aria-label': 'rank by' },
      ...options.map(([value, text]) => {
        const button = el('button', { class: value === settings.rankBy ? 'on' : '', 'aria-pressed': String(value === settings.rankBy), 'data-option': value }, text);
        button.addEventListener('click', () => pick(value));
        return button;
      })));
}

function tensorLink(ctx: PanelContext, name: string): HTMLElement {
  const link = el('a', { href: '#', class: 'tensor-link', title: name }, name);
  link.addEventListener('click', (event) => {
    event.preventDefault();
    ctx.showTensor(name, 'quantization');
  });
  return link;
}

export const quantView: CheckpointView = {
  id: 'quantization',
  title: 'Quantization',
  applies: (ctx) => ctx.data.tensors.some(hasQuantization),
  mount(container, ctx) {
    let settings: QuantSettings = { scheme: DEFAULT_SCHEME, threshold: null, rankBy: 'weighted', ...(ctx.view().panels.quantization as Partial<QuantSettings> | undefined) };
    const picker = el('vscode-single-select', { 'data-testid': 'scheme-picker', 'aria-label': 'quantization scheme' },
      ...SCHEMES.map((s) => el('vscode-option', { value: s, ...(s === settings.scheme ? { selected: '' } : {}) }, s))) as HTMLElement & { value: string };
    const run = el('vscode-button', { 'data-testid': 'scheme-run' }, 'Simulate');
    const progress = el('div', { class: 'scan-status analysis-progress', 'data-testid': 'quant-progress' });
    const body = el('div', { class: 'analysis-body' });
    container.append(el('div', { class: 'toolbar' }, el('span', {}, 'Scheme'), picker, run), progress, body);
    let latest: QuantView | undefined;
    const save = (next: QuantSettings): void => {
      settings = next;
      ctx.updateView({ panels: { ...ctx.view().panels, quantization: settings } });
      if (latest) renderQuantView(body, ctx, latest, settings, save);
    };
    const start = (restart: boolean): void => {
      save({ ...settings, scheme: picker.value || settings.scheme, threshold: null });
      ctx.host.request('runAnalysis', { kind: 'quant', schemes: [settings.scheme], restart }).then(refresh, ctx.report);
    };
    const refresh = (): void => {
      ctx.host.request('quantView', {}).then((view) => {
        if (!container.isConnected) return;
        latest = view;
        renderAnalysisProgress(progress, `Quantization preview${view.schemes[0] ? ` (${view.schemes[0]})` : ''}`, view.progress, {
          cancel: () => void ctx.host.request('cancelAnalysis', { kind: 'quant' }).catch(ctx.report),
          rerun: () => start(true),
        });
        renderQuantView(body, ctx, view, settings, save);
      }, ctx.report);
    };
    run.addEventListener('click', () => start(false));
    const stop = ctx.host.onEvent((event) => {
      if (event.type === 'analysisProgress' && event.kind === 'quant') refresh();
    });
    ctx.host.request('runAnalysis', { kind: 'quant', schemes: [settings.scheme] }).then(refresh, ctx.report);
    return { dispose: stop };
  },
};
