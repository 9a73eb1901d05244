/**
 * The diff panel: what changed from checkpoint A to B. A summary (pairs, frozen, only-A/only-B, mismatched, the
 * independent-trainings notice), the layer profile (layer × module kind coloured by relative change, frozen cells
 * hatched), a sortable table of pairs, and the selected pair's detail: statistics, delta histogram, low rank on
 * demand.
 */
import { independentTrainings, INDEPENDENT_TRAININGS_NOTICE, type DiffRow, type DiffSummary, type MismatchRow, type OpenResponse, type PairRecord, type PairStats } from '../../extension/protocol/messages';
import { formatCount, formatShape, formatValue } from '../lib/format';
import { cellKey, layerProfile, shade } from '../lib/layerProfile';
import { sharedPrefix, shortName } from '../lib/names';
import type { HostClient } from '../rpc';
import { RequestError } from '../rpc';
import { matrixOf } from '../lib/heatmapGeometry';
import { renderDeltaHistogram } from '../views/deltaHistogram';
import { Heatmap, type HeatmapSettings } from '../views/heatmap';
import { el } from '../views/dom';
import { updateProgress } from '../views/header';
import { renderSpectrum, spectrumFacts } from '../views/spectrum';
import { VirtualTable, type Column, type TableState } from '../views/virtualTable';

/** A pair that could not be compared; a pair of equal shapes but different dtypes is compared (and listed apart). */
const differentShapes = (m: MismatchRow): boolean => m.shapeA.length !== m.shapeB.length || m.shapeA.some((d, i) => d !== m.shapeB[i]);

export interface DiffViewState extends TableState {
  tab: 'profile' | 'pairs' | 'unmatched';
  heatmap: HeatmapSettings;
}

// A delta is signed and its outliers matter: absmax cells on a symmetric log colour scale.
export const INITIAL_DIFF_VIEW: DiffViewState = { tab: 'profile', sort: { column: 'rel', direction: 'desc' }, selected: null, heatmap: { reduce: 'absmax', scale: 'symlog' } };

let channels = 0;

type DiffResponse = Extract<OpenResponse, { kind: 'diff' }>;

const percent = (x: number | null | undefined): string => (x === null || x === undefined ? '—' : `${(100 * x).toFixed(2)}%`);

export function showDiff(app: HTMLElement, host: HostClient, response: DiffResponse, state: () => DiffViewState, save: (change: Partial<DiffViewState>) => void): void {
  let { summary, rows } = response;
  let stats = new Map<number, PairStats>();
  let errors = new Map<number, string>();
  let progress = response.progress;
  const ingest = (records: readonly PairRecord[]): void => {
    for (const r of records) {
      if (r.stats) stats.set(r.id, r.stats);
      if (r.error) errors.set(r.id, `${r.error.code}: ${r.error.message}`);
    }
  };
  ingest(response.records);

  app.setAttribute('data-view', 'diff');
  const header = el('section', { class: 'summary diff-summary', 'data-testid': 'diff-summary' });
  const notice = el('div', { class: 'notice', role: 'status', 'data-testid': 'diff-notice' });
  const status = el('div', { class: 'scan-status' });
  const tabs = el('div', { class: 'toggle', role: 'tablist', 'data-testid': 'diff-tabs' });
  const main = el('div', { class: 'diff-main' });
  const detail = el('aside', { class: 'detail-box diff-detail', 'data-testid': 'pair-detail' });
  const split = el('vscode-split-layout', { class: 'workspace', 'initial-handle-position': '60%', 'min-start': '320px', 'min-end': '300px' });
  main.setAttribute('slot', 'start');
  detail.setAttribute('slot', 'end');
  split.append(main, detail);
  app.replaceChildren(header, notice, status, tabs, split);

  const report = (error: unknown): void => {
    notice.textContent = error instanceof RequestError ? `${error.problem.code}: ${error.problem.message}` : String(error);
    notice.classList.add('error');
  };

  const row = (id: number): DiffRow => rows[id]!;
  let prefix = sharedPrefix(rows.map((r) => r.name));
  const columns: Column[] = [
    { key: 'name', title: 'Name', numeric: false, width: 'minmax(200px, 1fr)', text: (id) => shortName(row(id).name, prefix), sortKey: (id) => row(id).name, attributes: (id) => ({ title: row(id).name }) },
    { key: 'shape', title: 'Shape', numeric: false, width: '100px', text: (id) => formatShape(row(id).shape), sortKey: (id) => row(id).params },
    { key: 'dtype', title: 'DType', numeric: false, width: '90px', text: (id) => (row(id).dtypeA === row(id).dtypeB ? row(id).dtypeA : `${row(id).dtypeA}→${row(id).dtypeB}`), sortKey: (id) => row(id).dtypeA },
    ...([
      ['rel', 'rel Δ', (s: PairStats) => s.rel_delta, formatValue],
      ['cosine', 'cosine', (s: PairStats) => s.cosine, formatValue],
      ['maxabs', 'max |Δ|', (s: PairStats) => s.max_abs_delta, formatValue],
      ['changed', 'changed', (s: PairStats) => s.changed_fraction, percent],
      ['flips', 'sign flips', (s: PairStats) => s.sign_flip_fraction, percent],
    ] as const).map(([key, title, get, format]): Column => ({
      key, title, numeric: true, width: '84px',
      text: (id) => {
        const s = stats.get(id);
        if (!s) return errors.has(id) ? 'error' : '';
        return s.identical ? (key === 'rel' ? 'frozen' : format(get(s))) : format(get(s));
      },
      sortKey: (id) => {
        const s = stats.get(id);
        return s ? get(s) : null;
      },
      attributes: (id) => ({ 'data-value': String(stats.get(id) ? get(stats.get(id)!) : ''), ...(stats.get(id)?.identical ? { 'data-frozen': 'true' } : {}) }),
    })),
  ];
  const table = new VirtualTable('pair-table', columns, rows.map((r) => r.id), state, save, (id) => renderDetail(id));

  const renderHeader = (): void => {
    const s: DiffSummary = summary;
    const done = [...stats.values()];
    const frozen = done.filter((x) => x.identical).length;
    const facts: [string, string, string][] = [
      ['pairs', String(rows.length), 'pairs'],
      ['frozen', `${frozen}`, 'frozen'],
      ['changed', `${done.length - frozen}`, 'changed'],
      ['only-a', String(s.onlyA.length), 'only in A'],
      ['only-b', String(s.onlyB.length), 'only in B'],
      ['mismatched', String(s.mismatched.filter(differentShapes).length), 'mismatched'],
      ['recast', String(s.mismatched.filter((m) => !differentShapes(m)).length), 'dtype changed'],
    ];
    const modeToggle = s.a.loraPairs > 0 && s.b.loraPairs > 0
      ? el('div', { class: 'toggle', 'data-testid': 'diff-mode', 'data-value': s.mode, role: 'group', 'aria-label': 'compare as' },
        ...([['lora', 'LoRA ΔW = scale·B·A'], ['tensors', 'stored tensors']] as const).map(([mode, text]) => {
          const button = el('button', { class: mode === s.mode ? 'on' : '', 'aria-pressed': String(mode === s.mode), 'data-option': mode }, text);
          button.addEventListener('click', () => {
            if (mode === summary.mode) return;
            host.request('diffMode', { mode }).then((r) => r.kind === 'diff' && restart(r), report);
          });
          return button;
        }))
      : el('span');
    header.replaceChildren(
      el('h1', {}, el('span', { 'data-testid': 'diff-a' }, s.a.title), ' → ', el('span', { 'data-testid': 'diff-b' }, s.b.title)),
      el('div', { class: 'where' }, `A: ${s.a.path} (${s.a.format}, ${s.a.tensorCount} tensors) · B: ${s.b.path} (${s.b.format}, ${s.b.tensorCount} tensors) · Δ = B − A`),
      el('div', { class: 'facts' }, ...facts.map(([key, value, label]) => el('div', { class: 'fact', 'data-fact': key }, el('span', { class: 'label' }, label), el('span', { class: 'value' }, value)))),
      modeToggle,
    );
    const independent = progress.state === 'done' && independentTrainings(done);
    if (!notice.classList.contains('error')) {
      notice.textContent = independent ? INDEPENDENT_TRAININGS_NOTICE : '';
      notice.classList.toggle('warning', independent);
      notice.setAttribute('data-independent', String(independent));
    }
  };

  const renderTabs = (): void => {
    const tab = state().tab;
    tabs.setAttribute('data-value', tab);
    tabs.replaceChildren(...([['profile', 'Layer profile'], ['pairs', `Pairs (${rows.length})`], ['unmatched', `Unmatched (${summary.onlyA.length + summary.onlyB.length + summary.mismatched.filter(differentShapes).length})`]] as const).map(([id, text]) => {
      const button = el('button', { class: id === tab ? 'on' : '', role: 'tab', 'aria-selected': String(id === tab), 'data-option': id }, text);
      button.addEventListener('click', () => {
        save({ tab: id });
        renderTabs();
        renderMain();
      });
      return button;
    }));
  };

  const renderProfile = (): HTMLElement => {
    const profile = layerProfile(rows, stats);
    const grid = el('div', { class: 'layer-profile', role: 'grid', 'data-testid': 'layer-profile', 'aria-label': 'relative change by layer and module kind' });
    grid.style.setProperty('--kinds', String(profile.kinds.length));
    grid.append(el('div', { class: 'corner' }, 'layer'), ...profile.kinds.map((k) => el('div', { class: 'kind-head', 'data-kind': k }, k)));
    for (const layer of profile.layers) {
      grid.append(el('div', { class: 'layer-head' }, layer === null ? '—' : String(layer)));
      for (const kind of profile.kinds) {
        const cell = profile.cells.get(cellKey(layer, kind));
        if (!cell) {
          grid.append(el('div', { class: 'profile-cell empty' }));
          continue;
        }
        const label = cell.frozen ? 'frozen' : cell.relative === null ? (cell.complete ? '—' : '…') : formatValue(cell.relative);
        const selected = state().selected;
        const element = el('button', {
          class: `profile-cell${cell.frozen ? ' frozen' : ''}`, 'aria-pressed': String(selected !== null && cell.ids.includes(selected)), 'data-testid': 'profile-cell', 'data-layer': layer === null ? '' : String(layer), 'data-kind': kind,
          'data-relative': String(cell.relative), 'data-frozen': String(cell.frozen),
          title: `${layer === null ? 'outside layers' : `layer ${layer}`} · ${kind}: ${cell.ids.length} tensor(s), relative change ${label}`,
        }, label);
        element.style.setProperty('--shade', `${Math.round(100 * shade(cell.relative, profile.range))}%`);
        // The cell's largest tensor is the one shown.
        element.addEventListener('click', () => {
          table.select(cell.ids.reduce((best, id) => (row(id).params > row(best).params ? id : best)));
          renderMain();
        });
        grid.append(element);
      }
    }
    const legend = el('div', { class: 'legend' }, 'colour: relative change ‖Δ‖/‖A‖ of the cell on a log scale',
      profile.range ? ` (${formatValue(profile.range[0])} … ${formatValue(profile.range[1])})` : '', '; hatched: frozen (bit-identical)');
    return el('div', { class: 'profile-view' }, grid, legend);
  };

  const renderUnmatched = (): HTMLElement => {
    const list = (title: string, testId: string, items: string[]): HTMLElement =>
      el('section', { class: 'unmatched', 'data-testid': testId }, el('h3', {}, `${title} (${items.length})`), el('ul', {}, ...items.slice(0, 2000).map((n) => el('li', {}, n))));
    return el('div', { class: 'unmatched-view' },
      list('Only in A', 'only-a', summary.onlyA),
      list('Only in B', 'only-b', summary.onlyB),
      list('Mismatched shape (not compared)', 'mismatched', summary.mismatched.filter(differentShapes).map((m) => `${m.name}: ${formatShape(m.shapeA)} ${m.dtypeA} vs ${formatShape(m.shapeB)} ${m.dtypeB}`)),
      list('Compared across dtypes', 'recast', summary.mismatched.filter((m) => !differentShapes(m)).map((m) => `${m.name}: ${m.dtypeA} vs ${m.dtypeB}`)));
  };

  const renderMain = (): void => {
    const tab = state().tab;
    if (tab === 'pairs') {
      main.replaceChildren(table.element);
      table.refresh();
    } else {
      main.replaceChildren(tab === 'profile' ? renderProfile() : renderUnmatched());
    }
  };

  let heatmap: Heatmap | undefined;
  const renderDetail = (id: number | null): void => {
    heatmap?.dispose();
    heatmap = undefined;
    const r = id === null ? undefined : rows[id];
    if (!r) {
      detail.replaceChildren(el('div', { class: 'hint' }, 'Select a cell of the layer profile or a pair to see how it changed.'));
      return;
    }
    const s = stats.get(r.id);
    const box = el('section', { class: 'detail', 'data-testid': 'pair-detail-content', 'data-name': r.name },
      el('h2', { title: r.name }, r.name),
      el('div', { class: 'where' }, `${formatShape(r.shape)} · ${r.dtypeA === r.dtypeB ? r.dtypeA : `${r.dtypeA} → ${r.dtypeB}`} · ${formatCount(r.params)} weights${r.name !== r.nameB ? ` · B: ${r.nameB}` : ''}`));
    if (r.lora) box.append(el('div', { class: 'where', 'data-testid': 'lora-scale' }, `ΔW scale A: ${formatValue(r.lora.scaleA)} (${r.lora.sourceA}) · B: ${formatValue(r.lora.scaleB)} (${r.lora.sourceB})`));
    if (!s) {
      box.append(el('div', { class: errors.has(r.id) ? 'problem' : 'pending' }, errors.get(r.id) ?? 'Comparing…'));
      detail.replaceChildren(box);
      return;
    }
    const facts: [string, string, string][] = [
      ['l2_a', '‖A‖', formatValue(s.l2_a)], ['l2_b', '‖B‖', formatValue(s.l2_b)], ['l2_delta', '‖Δ‖', formatValue(s.l2_delta)],
      ['rel_delta', '‖Δ‖ / ‖A‖', formatValue(s.rel_delta)], ['cosine', 'cosine(A, B)', formatValue(s.cosine)], ['max_abs_delta', 'max |Δ|', formatValue(s.max_abs_delta)],
      ['changed_fraction', 'weights changed', percent(s.changed_fraction)], ['sign_flip_fraction', 'sign flips', percent(s.sign_flip_fraction)],
      ['identical', 'bit-identical', s.identical ? 'yes (frozen)' : 'no'],
    ];
    box.append(el('table', { class: 'stats' }, ...facts.map(([key, label, value]) => el('tr', {}, el('th', {}, label), el('td', { 'data-testid': 'pair-stat', 'data-key': key }, value)))));
    const histogram = el('div', { class: 'histogram' }, el('div', { class: 'pending' }, 'Loading the delta histogram…'));
    box.append(el('h3', {}, 'Δ per weight (symmetric log scale)'), histogram);
    host.request('deltaHistogram', { id: r.id }).then((h) => {
      if (h) renderDeltaHistogram(histogram, h);
      else histogram.replaceChildren(el('div', { class: 'hint' }, 'No histogram for this pair.'));
    }, report);
    if (r.matrix && !s.identical) box.append(...lowRankSection(r.id));
    if (r.params > 0 && !s.identical) {
      const channel = `delta-${++channels}`;
      heatmap = new Heatmap({
        matrix: matrixOf(r.shape),
        settings: state().heatmap,
        fetchTile: (query) => host.request('deltaTile', { ...query, id: r.id, channel }),
        cancel: () => void host.request('cancelTile', { channel }).catch(() => {}),
        describeElement: () => 'Δ = B − A',
        onSettings: (settings) => save({ heatmap: settings }),
      });
      box.append(el('h3', {}, 'Δ = B − A as a heatmap'), el('div', { class: 'delta-heatmap', 'data-testid': 'delta-heatmap' }, heatmap.element));
    }
    detail.replaceChildren(box);
  };

  const lowRankSection = (id: number): HTMLElement[] => {
    const out = el('div', { class: 'low-rank', 'data-testid': 'low-rank' });
    const k = el('vscode-textfield', { type: 'number', value: '16', min: '1', max: '256', 'aria-label': 'singular values', 'data-testid': 'low-rank-k' }) as HTMLElement & { value: string };
    const run = el('vscode-button', { 'data-testid': 'low-rank-run', secondary: '' }, 'Compute low rank');
    run.addEventListener('click', () => {
      const count = Math.max(1, Math.min(256, Math.round(Number(k.value) || 16)));
      out.replaceChildren(el('div', { class: 'pending' }, `Randomized SVD, ${count} singular values (6 passes over both tensors)…`));
      host.request('lowRank', { id, k: count }).then((summary) => {
        const chart = el('div', { class: 'histogram' });
        out.replaceChildren(chart, el('table', { class: 'stats' }, ...spectrumFacts(summary).map((f) => el('tr', {}, el('th', {}, f.label), el('td', { 'data-testid': 'low-rank-fact', 'data-key': f.key }, f.value)))));
        renderSpectrum(chart, summary);
      }, (error) => {
        out.replaceChildren();
        report(error);
      });
    });
    return [el('h3', {}, 'Low rank: is this change LoRA-compressible?'), el('div', { class: 'low-rank-controls' }, 'k', k, run), out];
  };

  const progressActions = { cancel: () => {}, rescan: () => host.request('diffMode', { mode: summary.mode }).then((r) => r.kind === 'diff' && restart(r), report) };
  const restart = (r: DiffResponse): void => {
    summary = r.summary;
    rows = r.rows;
    prefix = sharedPrefix(rows.map((x) => x.name));
    stats = new Map();
    errors = new Map();
    progress = r.progress;
    ingest(r.records);
    notice.classList.remove('error');
    save({ selected: null });
    table.setIds(rows.map((x) => x.id));
    refresh();
  };
  const refresh = (): void => {
    renderHeader();
    updateProgress(status, progress, progressActions);
    status.querySelector('[data-testid="cancel-scan"]')?.setAttribute('hidden', '');
    renderTabs();
    renderMain();
    renderDetail(state().selected);
  };

  host.onEvent((event) => {
    if (event.type !== 'diffProgress') return;
    ingest(event.records);
    progress = event.progress;
    updateProgress(status, progress, progressActions);
    status.querySelector('[data-testid="cancel-scan"]')?.setAttribute('hidden', '');
    if (event.records.length === 0 && progress.state === 'running') return;
    renderHeader();
    if (state().tab === 'pairs') table.refresh();
    else if (state().tab === 'profile') renderMain();
    const selected = state().selected;
    if (selected !== null && event.records.some((r) => r.id === selected)) renderDetail(selected);
  });
  refresh();
}

