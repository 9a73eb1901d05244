/** Webview entry: asks the host for the checkpoint, renders it at once, and fills statistics in as they stream. */
import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-split-layout/index.js';
import '@vscode-elements/elements/dist/vscode-tab-header/index.js';
import '@vscode-elements/elements/dist/vscode-tab-panel/index.js';
import '@vscode-elements/elements/dist/vscode-tabs/index.js';
import '@vscode-elements/elements/dist/vscode-textfield/index.js';
import type { OpenResponse, StatsRecord, TensorRow } from '../extension/protocol/messages';
import { CHECKPOINT_VIEWS, DETAIL_PANELS } from './panels/index';
import type { Mounted, PanelContext } from './panels/panel';
import { histogramCache } from './panels/statisticsPanel';
import { INITIAL_DIFF_VIEW, showDiff, type DiffViewState } from './diff/diffView';
import { INITIAL_MERGE_VIEW, showMerge, type MergeViewState } from './merge/mergeView';
import { HostClient, RequestError } from './rpc';
import { INITIAL_VIEW, type CheckpointData, type ViewState } from './state';
import { renderTensorHeading } from './views/detail';
import { el } from './views/dom';
import { renderSummary, updateProgress } from './views/header';
import { TensorTable } from './views/tensorTable';

interface VsCodeApi {
  postMessage(message: unknown): void;
  getState(): unknown;
  setState(state: unknown): void;
}
declare function acquireVsCodeApi(): VsCodeApi;

const vscode = acquireVsCodeApi();
const host = new HostClient(vscode);
const app = document.getElementById('app')!;
let view: ViewState = { ...INITIAL_VIEW, ...((vscode.getState() as Partial<ViewState> | undefined) ?? {}) };

function updateView(change: Partial<ViewState>): void {
  view = { ...view, ...change };
  vscode.setState(view);
}

function showError(file: string, code: string, message: string): void {
  app.setAttribute('data-view', 'error');
  app.replaceChildren(
    el('section', { class: 'error-view', 'data-testid': 'error-view', role: 'alert' },
      el('h1', {}, 'This checkpoint could not be opened'),
      el('div', { class: 'code', 'data-testid': 'error-code' }, code),
      el('p', { 'data-testid': 'error-message' }, message),
      el('p', { class: 'file' }, 'File: ', el('span', { 'data-testid': 'error-file' }, file)),
      el('p', { class: 'hint' }, 'Weightscope reads checkpoints without changing them. Use “Reopen Editor With…” to see the raw bytes.')),
  );
}

/**
 * A strip of tabs over one content area: only the selected tab's content exists, mounted on selection.
 * `vscode-tabs` gives the look and keyboard handling; panels stay empty, the content lives below the strip.
 */
function tabStrip(testId: string, tabs: readonly { id: string; title: string }[], selected: string, onSelect: (id: string) => void): HTMLElement {
  const strip = el('vscode-tabs', { 'data-testid': testId, 'data-value': selected, 'selected-index': String(Math.max(0, tabs.findIndex((t) => t.id === selected))) },
    ...tabs.flatMap((t) => [el('vscode-tab-header', { slot: 'header', 'data-tab': t.id }, t.title), el('vscode-tab-panel', {})]));
  strip.addEventListener('vsc-tabs-select', (event) => {
    const tab = tabs[(event as CustomEvent<{ selectedIndex: number }>).detail.selectedIndex];
    if (tab && tab.id !== strip.getAttribute('data-value')) {
      strip.setAttribute('data-value', tab.id);
      onSelect(tab.id);
    }
  });
  return strip;
}

/** Where the table/detail divider sits: the table gets most room, unless a wide tab (a heatmap) is shown. */
const NARROW_SPLIT = '66%';
const WIDE_SPLIT = '40%';

function showCheckpoint(data: CheckpointData): void {
  app.setAttribute('data-view', 'checkpoint');
  const status = el('div', { class: 'scan-status' });
  const notice = el('div', { class: 'notice', role: 'status' });
  const mainArea = el('div', { class: 'main-area' });
  const detailBox = el('aside', { class: 'detail-box' });
  const mounted: { main?: Mounted; detail?: Mounted } = {};

  const report = (error: unknown): void => {
    notice.textContent = error instanceof RequestError ? `${error.problem.code}: ${error.problem.message}` : String(error);
    notice.classList.add('error');
  };
  const selectedRow = (): TensorRow | undefined => data.tensors.find((t) => t.name === view.cursor);

  const ctx: PanelContext = {
    host,
    data,
    view: () => view,
    updateView,
    report,
    showTensor: (name, tab) => {
      updateView({ cursor: name, filter: '', mainView: 'tensors', ...(tab ? { detailTab: tab } : {}) });
      renderMain();
      table.scrollToCursor();
    },
  };

  const renderDetail = (): void => {
    mounted.detail?.dispose?.();
    mounted.detail = undefined;
    const row = selectedRow();
    if (!row) {
      detailBox.replaceChildren(el('div', { class: 'hint' }, 'Select a tensor to see its histogram and every statistic.'));
      return;
    }
    const panels = DETAIL_PANELS.filter((p) => p.applies(row, ctx));
    const panel = panels.find((p) => p.id === view.detailTab) ?? panels[0]!;
    const content = el('div', { class: 'panel-content', 'data-testid': `panel-${panel.id}` });
    const tabs = panels.length > 1 ? [tabStrip('detail-tabs', panels, panel.id, (id) => {
      updateView({ detailTab: id });
      const chosen = panels.find((p) => p.id === id);
      if (chosen && Boolean(chosen.wide) !== Boolean(panel.wide)) {
        (split as HTMLElement & { handlePosition: string }).handlePosition = chosen.wide ? WIDE_SPLIT : NARROW_SPLIT;
      }
      renderDetail();
    })] : [];
    detailBox.replaceChildren(el('section', { class: 'detail', 'data-testid': 'tensor-detail', 'data-name': row.name }, ...renderTensorHeading(row), ...tabs, content));
    mounted.detail = panel.mount(content, row, ctx);
  };

  const table = new TensorTable(data.tensors, data.records, {
    view: () => view,
    update: updateView,
    select: () => renderDetail(),
  });

  const filter = el('vscode-textfield', { 'data-testid': 'filter', placeholder: 'Filter tensors by name (* wildcards)', 'aria-label': 'filter tensors' }) as HTMLElement & { value: string };
  filter.addEventListener('input', () => {
    updateView({ filter: filter.value, scrollTop: 0 });
    table.refresh();
  });
  const startsWide = DETAIL_PANELS.find((p) => p.id === view.detailTab)?.wide === true;
  const split = el('vscode-split-layout', { class: 'workspace', 'initial-handle-position': startsWide ? WIDE_SPLIT : NARROW_SPLIT, 'min-start': '300px', 'min-end': '340px' });
  table.element.setAttribute('slot', 'start');
  detailBox.setAttribute('slot', 'end');
  split.append(table.element, detailBox);
  const tensorsView = el('div', { class: 'tensors-view' }, el('div', { class: 'toolbar' }, filter, notice), split);

  const views = CHECKPOINT_VIEWS.filter((v) => v.applies(ctx));
  const renderMain = (): void => {
    mounted.main?.dispose?.();
    mounted.main = undefined;
    const chosen = views.find((v) => v.id === view.mainView);
    if (!chosen) {
      filter.value = view.filter;
      mainArea.replaceChildren(tensorsView);
      table.refresh();
      table.restoreScroll(view.scrollTop);
      renderDetail();
      return;
    }
    const content = el('div', { class: 'checkpoint-view', 'data-testid': `view-${chosen.id}` });
    mainArea.replaceChildren(content);
    mounted.main = chosen.mount(content, ctx);
  };
  const mainTabs = views.length > 0
    ? [tabStrip('main-tabs', [{ id: 'tensors', title: 'Tensors' }, ...views], view.mainView, (id) => {
      updateView({ mainView: id });
      renderMain();
    })]
    : [];

  const actions = {
    cancel: () => void host.request('cancel', {}).catch(report),
    rescan: () => {
      histogramCache.clear();
      data.records.clear();
      void host.request('rescan', {}).catch(report);
    },
  };
  app.replaceChildren(renderSummary(data.summary), status, ...mainTabs, mainArea);
  updateProgress(status, data.progress, actions);
  renderMain();

  host.onEvent((event) => {
    if (event.type !== 'scanProgress') return;
    const changed = new Set<number>();
    for (const record of event.records) {
      data.records.set(record.id, record);
      changed.add(record.id);
    }
    data.progress = event.progress;
    updateProgress(status, event.progress, actions);
    if (changed.size === 0) return;
    if (mainArea.contains(table.element)) table.refresh();
    mounted.main?.statsChanged?.(changed);
    mounted.detail?.statsChanged?.(changed);
  });
}

async function boot(): Promise<void> {
  app.setAttribute('data-view', 'loading');
  app.replaceChildren(el('div', { class: 'loading' }, 'Reading the header…'));
  let response: OpenResponse;
  try {
    response = await host.request('open', {});
  } catch (error) {
    const problem = error instanceof RequestError ? error.problem : { code: 'REQUEST_FAILED', message: String(error) };
    showError('', problem.code, problem.message);
    return;
  }
  if (response.kind === 'error') {
    showError(response.file, response.problem.code, response.problem.message);
    return;
  }
  if (response.kind === 'diff' || response.kind === 'merge') {
    // The diff and merge panels keep their own view state under view.panels.
    const key = response.kind;
    const initial = key === 'diff' ? INITIAL_DIFF_VIEW : INITIAL_MERGE_VIEW;
    const state = <T>(): T => ({ ...initial, ...((view.panels[key] as object | undefined) ?? {}) }) as T;
    const save = (change: object): void => updateView({ panels: { ...view.panels, [key]: { ...state<object>(), ...change } } });
    if (response.kind === 'diff') showDiff(app, host, response, state<DiffViewState>, save);
    else showMerge(app, host, response.setup, state<MergeViewState>, save);
    return;
  }
  const records = new Map<number, StatsRecord>(response.records.map((r) => [r.id, r]));
  showCheckpoint({ summary: response.summary, tensors: response.tensors, records, progress: response.progress });
}

void boot();
