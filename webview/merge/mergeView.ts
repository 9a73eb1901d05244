/**
 * The merge panel: choose a base and its fine-tunes, pick a method and its parameters, preview what the merge does
 * to every tensor (kept and sign-conflict fractions, trimmed mass, how many tasks keep each weight, selfish and
 * catastrophic weights), then export the merged model, its masks or a mergekit configuration.
 */
import '@vscode-elements/elements/dist/vscode-option/index.js';
import '@vscode-elements/elements/dist/vscode-single-select/index.js';
import { defaultParams, MERGE_METHODS, METHOD_PARAMS, type MergeMethod, type MergeRecord, type MergeSetup, type MergeTensorStats } from '../../extension/protocol/messages';
import { formatShape, formatValue } from '../lib/format';
import { sharedPrefix, shortName } from '../lib/names';
import type { HostClient } from '../rpc';
import { RequestError } from '../rpc';
import { matrixOf } from '../lib/heatmapGeometry';
import { el } from '../views/dom';
import { Heatmap, type HeatmapSettings } from '../views/heatmap';
import { updateProgress } from '../views/header';
import { VirtualTable, type Column, type TableState } from '../views/virtualTable';

export interface MergeViewState extends TableState {
  heatmap: HeatmapSettings;
}

// Counts of tasks per weight: the mean over a cell reads as "tasks keeping weights here on average".
export const INITIAL_MERGE_VIEW: MergeViewState = { sort: { column: '', direction: 'asc' }, selected: null, heatmap: { reduce: 'mean', scale: 'linear' } };

let channels = 0;

const METHOD_TEXT: Record<MergeMethod, string> = {
  'task-arithmetic': 'Task arithmetic', ties: 'TIES', dare: 'DARE', breadcrumbs: 'Model Breadcrumbs', tall: 'TALL masks', consensus: 'Consensus (TALL)',
};

const PARAM_TEXT: Record<string, string> = {
  density: 'density (kept fraction)', lambda: 'λ', drop: 'drop p', seed: 'seed', k: 'k (min. tasks)', beta: 'β (top dropped)', gamma: 'γ (bottom dropped)',
};

const percent = (x: number | null | undefined): string => (x === null || x === undefined ? '—' : `${(100 * x).toFixed(2)}%`);

export function showMerge(app: HTMLElement, host: HostClient, initial: MergeSetup, state: () => MergeViewState, save: (change: Partial<MergeViewState>) => void): void {
  let setup = initial;
  let stats = new Map<number, MergeTensorStats>();
  const ingest = (records: readonly MergeRecord[]): void => records.forEach((r) => r.stats && stats.set(r.id, r.stats));
  ingest(setup.records);
  app.setAttribute('data-view', 'merge');

  const inputs = el('section', { class: 'merge-inputs', 'data-testid': 'merge-inputs' });
  const form = el('section', { class: 'merge-form', 'data-testid': 'merge-form' });
  const notice = el('div', { class: 'notice', role: 'status', 'data-testid': 'merge-notice' });
  const status = el('div', { class: 'scan-status' });
  const overview = el('section', { class: 'merge-overview', 'data-testid': 'merge-overview' });
  const tableBox = el('div', { class: 'merge-table' });
  const detail = el('aside', { class: 'detail-box', 'data-testid': 'merge-detail' });
  const split = el('vscode-split-layout', { class: 'workspace', 'initial-handle-position': '62%', 'min-start': '320px', 'min-end': '280px' });
  tableBox.setAttribute('slot', 'start');
  detail.setAttribute('slot', 'end');
  split.append(tableBox, detail);
  const exports = el('div', { class: 'merge-exports', 'data-testid': 'merge-exports' });
  app.replaceChildren(el('h1', {}, 'Merge fine-tunes of one base'), inputs, form, notice, status, overview, exports, split);

  const report = (error: unknown): void => {
    notice.textContent = error instanceof RequestError ? `${error.problem.code}: ${error.problem.message}` : String(error);
    notice.classList.add('error');
  };

  const button = (testId: string, text: string, action: () => void, secondary = true): HTMLElement => {
    const b = el('vscode-button', { 'data-testid': testId, ...(secondary ? { secondary: '' } : {}) }, text);
    b.addEventListener('click', action);
    return b;
  };

  const apply = (next: MergeSetup): void => {
    setup = next;
    stats = new Map();
    ingest(setup.records);
    save({ selected: null });
    table.setIds(setup.rows.map((r) => r.id));
    render();
  };

  const choose = (what: 'base' | 'models' | 'clear'): void => void host.request('mergeChoose', { what }).then(apply, report);

  // The form keeps what the user typed per method, so switching methods back and forth loses nothing.
  let method: MergeMethod = setup.method;
  const typed: Record<string, Record<string, string>> = {};
  const renderForm = (): void => {
    const select = el('vscode-single-select', { 'data-testid': 'merge-method', 'aria-label': 'merge method', class: 'method-select', 'data-value': method },
      ...MERGE_METHODS.map((m) => el('vscode-option', { value: m, ...(m === method ? { selected: '' } : {}) }, METHOD_TEXT[m]))) as HTMLElement & { value: string };
    select.addEventListener('change', () => {
      method = select.value as MergeMethod;
      renderForm();
    });
    const defaults = method === setup.method ? setup.params : defaultParams(method);
    const fields = METHOD_PARAMS[method].map((p) => {
      const field = el('vscode-textfield', { 'data-testid': 'merge-param', 'data-param': p, value: typed[method]?.[p] ?? String(defaults[p]), 'aria-label': PARAM_TEXT[p] ?? p }) as HTMLElement & { value: string };
      field.addEventListener('input', () => ((typed[method] ??= {})[p] = field.value));
      return el('label', { class: 'param' }, el('span', {}, PARAM_TEXT[p] ?? p), field);
    });
    const preview = button('merge-preview', 'Preview', () => {
      const params: Record<string, number> = {};
      for (const p of METHOD_PARAMS[method]) {
        const text = typed[method]?.[p];
        if (text !== undefined && text.trim() !== '') params[p] = Number(text);
      }
      notice.classList.remove('error');
      host.request('mergePreview', { method, params }).then(apply, report);
    }, false);
    form.replaceChildren(el('label', { class: 'param' }, el('span', {}, 'method'), select), ...fields, preview);
  };

  const renderInputs = (): void => {
    inputs.replaceChildren(
      el('div', { class: 'input-line' }, el('span', { class: 'label' }, 'Base'),
        el('span', { class: 'value', 'data-testid': 'merge-base', title: setup.base?.path ?? '' }, setup.base?.title ?? 'none chosen'),
        button('merge-choose-base', 'Choose base…', () => choose('base'))),
      el('div', { class: 'input-line' }, el('span', { class: 'label' }, `Fine-tunes (${setup.models.length})`),
        el('span', { class: 'value', 'data-testid': 'merge-models' }, ...setup.models.flatMap((m, i) => [i > 0 ? ', ' : '', el('span', { title: m.path }, `${i + 1}. ${m.title}`)])),
        button('merge-add-models', 'Add fine-tunes…', () => choose('models')),
        button('merge-clear', 'Clear', () => choose('clear'))),
    );
  };

  const tasks = (): number => setup.models.length;
  const row = (id: number) => setup.rows[id]!;
  const prefix = (): string => sharedPrefix(setup.rows.map((r) => r.name));
  const columns: Column[] = [
    { key: 'name', title: 'Name', numeric: false, width: 'minmax(180px, 1fr)', text: (id) => shortName(row(id).name, prefix()), sortKey: (id) => row(id).name, attributes: (id) => ({ title: row(id).name }) },
    { key: 'shape', title: 'Shape', numeric: false, width: '100px', text: (id) => formatShape(row(id).shape), sortKey: (id) => row(id).shape.reduce((a, b) => a * b, 1) },
    ...([
      ['kept', 'kept', (s: MergeTensorStats) => s.kept_fraction, percent],
      ['conflicts', 'conflicts', (s: MergeTensorStats) => s.sign_conflict_fraction, percent],
      ['trimmed', 'trimmed', (s: MergeTensorStats) => s.trimmed_mass, percent],
      ['selfish', 'selfish', (s: MergeTensorStats) => s.task_counts[1] ?? 0, (x: number | null) => (x ?? 0).toLocaleString('en-US')],
      ['catastrophic', 'catastrophic', (s: MergeTensorStats) => s.task_counts[0] ?? 0, (x: number | null) => (x ?? 0).toLocaleString('en-US')],
    ] as const).map(([key, title, get, format]): Column => ({
      key, title, numeric: true, width: '96px',
      text: (id) => (stats.has(id) ? format(get(stats.get(id)!)) : ''),
      sortKey: (id) => (stats.has(id) ? get(stats.get(id)!) : null),
      attributes: (id) => ({ 'data-value': String(stats.has(id) ? get(stats.get(id)!) : '') }),
    })),
  ];
  const table = new VirtualTable('merge-table', columns, setup.rows.map((r) => r.id), state, save, (id) => renderDetail(id));

  /** Bars of how many weights are kept by 0, 1, …, N tasks. */
  const taskCountBars = (counts: readonly number[], testId: string): HTMLElement => {
    const total = counts.reduce((a, b) => a + b, 0) || 1;
    const max = Math.max(1, ...counts);
    return el('div', { class: 'task-counts', 'data-testid': testId, role: 'img', 'aria-label': 'weights by the number of tasks keeping them' },
      ...counts.map((c, i) => {
        const bar = el('div', { class: `task-bar${i === 0 ? ' catastrophic' : i === 1 ? ' selfish' : ''}`, title: `${c.toLocaleString('en-US')} weights (${percent(c / total)}) kept by ${i} task(s)` });
        bar.style.height = `${Math.max(c > 0 ? 2 : 0, (100 * c) / max)}%`;
        return el('div', { class: 'task-column', 'data-tasks': String(i), 'data-count': String(c) }, bar, el('span', { class: 'task-label' }, String(i)));
      }));
  };

  const renderOverview = (): void => {
    const all = [...stats.values()];
    if (all.length === 0) {
      overview.replaceChildren(el('div', { class: 'hint' }, setup.rows.length > 0 ? 'Merging…' : 'Choose a base and fine-tunes, a method, then Preview.'));
      return;
    }
    const elements = all.reduce((s, x) => s + x.elements, 0);
    const counts = Array.from({ length: tasks() + 1 }, (_, i) => all.reduce((s, x) => s + (x.task_counts[i] ?? 0), 0));
    const kept = all.reduce((s, x) => s + x.kept_per_task.reduce((a, b) => a + b, 0), 0);
    const conflicts = all.reduce((s, x) => s + (x.sign_conflict_fraction ?? 0) * x.elements, 0);
    const facts: [string, string, string][] = [
      ['tensors', `${all.length} of ${setup.rows.length}`, 'tensors'],
      ['kept', percent(elements ? kept / (tasks() * elements) : null), 'kept (all tasks)'],
      ['conflicts', percent(elements ? conflicts / elements : null), 'sign conflicts'],
      ['selfish', (counts[1] ?? 0).toLocaleString('en-US'), 'selfish (1 task)'],
      ['catastrophic', (counts[0] ?? 0).toLocaleString('en-US'), 'catastrophic (no task)'],
    ];
    overview.replaceChildren(
      el('div', { class: 'facts' }, ...facts.map(([key, value, label]) => el('div', { class: 'fact', 'data-fact': key }, el('span', { class: 'label' }, label), el('span', { class: 'value' }, value)))),
      el('div', { class: 'task-counts-box' }, el('span', { class: 'label' }, 'weights kept by 0…N tasks'), taskCountBars(counts, 'task-counts')),
    );
  };

  const renderExports = (): void => {
    const ready = setup.progress.state === 'done' && !setup.problem;
    const exportButton = (what: 'model' | 'masks' | 'mergekit', text: string): HTMLElement => {
      const b = button(`merge-export-${what}`, text, () => {
        notice.classList.remove('error');
        host.request('mergeExport', { what }).then((written) => {
          if (written) notice.textContent = `Wrote ${written.path}`;
        }, report);
      });
      if (!ready || (what === 'mergekit' && setup.method === 'consensus')) b.setAttribute('disabled', '');
      return b;
    };
    exports.replaceChildren(el('span', { class: 'label' }, 'Export'), exportButton('model', 'Merged model…'), exportButton('masks', 'Masks (U8)…'), exportButton('mergekit', 'mergekit YAML…'));
  };

  let heatmap: Heatmap | undefined;
  const renderDetail = (id: number | null): void => {
    heatmap?.dispose();
    heatmap = undefined;
    const r = id === null ? undefined : setup.rows[id];
    const s = r && stats.get(r.id);
    if (!r || !s) {
      detail.replaceChildren(el('div', { class: 'hint' }, r ? 'Merging…' : 'Select a tensor to see what each task keeps.'));
      return;
    }
    const perTask = setup.models.map((m, t) => el('tr', {},
      el('th', { title: m.path }, `${t + 1}. ${m.title}`),
      el('td', { 'data-testid': 'task-kept', 'data-task': String(t + 1) }, percent(s.elements ? (s.kept_per_task[t] ?? 0) / s.elements : null)),
      el('td', {}, s.keep_threshold[t] === null || s.keep_threshold[t] === undefined ? '' : `|τ| ≥ ${formatValue(s.keep_threshold[t]!)}`),
      el('td', {}, s.drop_threshold[t] === null || s.drop_threshold[t] === undefined ? '' : `< ${formatValue(s.drop_threshold[t]!)}`)));
    detail.replaceChildren(el('section', { class: 'detail', 'data-testid': 'merge-detail-content', 'data-name': r.name },
      el('h2', { title: r.name }, r.name),
      el('div', { class: 'where' }, `${formatShape(r.shape)} · ${r.dtype} · merged in ${r.dtype} (rounded to nearest even)`),
      el('table', { class: 'stats' },
        el('tr', {}, el('th', {}, 'kept'), el('td', {}, percent(s.kept_fraction))),
        el('tr', {}, el('th', {}, 'sign conflicts'), el('td', {}, percent(s.sign_conflict_fraction))),
        el('tr', {}, el('th', {}, 'trimmed mass'), el('td', {}, percent(s.trimmed_mass))),
        el('tr', {}, el('th', {}, 'selfish / catastrophic'), el('td', {}, `${(s.task_counts[1] ?? 0).toLocaleString('en-US')} / ${(s.task_counts[0] ?? 0).toLocaleString('en-US')}`))),
      el('h3', {}, 'Per task'),
      el('table', { class: 'stats per-task' }, el('tr', {}, el('th', {}, 'task'), el('th', {}, 'kept'), el('th', {}, 'threshold'), el('th', {}, '')), ...perTask),
      el('h3', {}, 'Weights kept by 0…N tasks'),
      taskCountBars(s.task_counts, 'tensor-task-counts'),
      ...maskHeatmap(r)));
  };

  /** Where the tasks keep this tensor's weights: the number keeping each one, as a zoomable heatmap. */
  const maskHeatmap = (r: MergeSetup['rows'][number]): HTMLElement[] => {
    if (r.shape.reduce((a, b) => a * b, 1) === 0) return [];
    const channel = `mask-${++channels}`;
    heatmap = new Heatmap({
      matrix: matrixOf(r.shape),
      settings: state().heatmap,
      fetchTile: (query) => host.request('mergeTile', { ...query, id: r.id, channel }),
      cancel: () => void host.request('cancelTile', { channel }).catch(() => {}),
      describeElement: () => 'tasks keeping this weight (0: catastrophic, 1: selfish)',
      onSettings: (settings) => save({ heatmap: settings }),
    });
    return [el('h3', {}, 'Tasks keeping each weight'), el('div', { class: 'delta-heatmap', 'data-testid': 'mask-heatmap' }, heatmap.element)];
  };

  const render = (): void => {
    renderInputs();
    method = setup.method;
    renderForm();
    notice.classList.toggle('error', setup.problem !== null);
    if (setup.problem) notice.textContent = `${setup.problem.code}: ${setup.problem.message}`;
    else if (notice.classList.contains('error') || notice.textContent?.startsWith('Wrote')) notice.textContent = '';
    updateProgress(status, setup.progress, { cancel: () => {}, rescan: () => {} });
    status.querySelectorAll('vscode-button').forEach((b) => b.setAttribute('hidden', ''));
    renderOverview();
    renderExports();
    tableBox.replaceChildren(table.element);
    table.refresh();
    renderDetail(state().selected);
  };

  host.onEvent((event) => {
    if (event.type !== 'mergeProgress') return;
    ingest(event.records);
    setup = { ...setup, progress: event.progress };
    updateProgress(status, setup.progress, { cancel: () => {}, rescan: () => {} });
    status.querySelectorAll('vscode-button').forEach((b) => b.setAttribute('hidden', ''));
    renderOverview();
    renderExports();
    table.refresh();
    const selected = state().selected;
    if (selected !== null && event.records.some((r) => r.id === selected)) renderDetail(selected);
  });
  render();
}
