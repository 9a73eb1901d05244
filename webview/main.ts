/** Webview entry: asks the host for the checkpoint, renders it at once, and fills statistics in as they stream. */
import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-textfield/index.js';
import type { HistogramSummary, OpenResponse, StatsRecord } from '../extension/protocol/messages';
import { HostClient, RequestError } from './rpc';
import { INITIAL_VIEW, type CheckpointData, type ViewState } from './state';
import { renderDetail } from './views/detail';
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

function showCheckpoint(data: CheckpointData): void {
  app.setAttribute('data-view', 'checkpoint');
  const histograms = new Map<number, HistogramSummary>();
  const status = el('div', { class: 'scan-status' });
  const detailBox = el('aside', { class: 'detail-box' });
  const notice = el('div', { class: 'notice', role: 'status' });
  const selectedId = (): number | null => {
    const row = data.tensors.find((t) => t.name === view.cursor);
    return row ? row.id : null;
  };

  const renderSelected = (): void => {
    const id = selectedId();
    if (id === null) {
      detailBox.replaceChildren(el('div', { class: 'hint' }, 'Select a tensor to see its histogram and every statistic.'));
      return;
    }
    const row = data.tensors[id]!;
    const record = data.records.get(id);
    detailBox.replaceChildren(
      renderDetail(row, record, histograms.get(id) ?? null, view, {
        setScales: (change) => {
          updateView(change);
          renderSelected();
        },
        copy: (text) => void host.request('copyText', { text }).then(() => flash('Statistics copied as JSON'), report),
      }),
    );
    if (record?.stats && !histograms.has(id)) {
      host.request('histogram', { id }).then((h) => {
        if (!h) return;
        histograms.set(id, h);
        if (selectedId() === id) renderSelected();
      }, report);
    }
  };

  const flash = (text: string): void => {
    notice.textContent = text;
    notice.classList.remove('error');
  };
  const report = (error: unknown): void => {
    notice.textContent = error instanceof RequestError ? `${error.problem.code}: ${error.problem.message}` : String(error);
    notice.classList.add('error');
  };

  const table = new TensorTable(data.tensors, data.records, {
    view: () => view,
    update: updateView,
    select: () => renderSelected(),
  });

  const filter = el('vscode-textfield', { 'data-testid': 'filter', placeholder: 'Filter tensors by name (* wildcards)', 'aria-label': 'filter tensors' }) as HTMLElement & { value: string };
  filter.value = view.filter;
  filter.addEventListener('input', () => {
    updateView({ filter: filter.value, scrollTop: 0 });
    table.refresh();
  });

  const actions = {
    cancel: () => void host.request('cancel', {}).catch(report),
    rescan: () => {
      histograms.clear();
      data.records.clear();
      void host.request('rescan', {}).catch(report);
    },
  };

  app.replaceChildren(
    renderSummary(data.summary),
    status,
    el('div', { class: 'toolbar' }, filter, notice),
    el('div', { class: 'workspace' }, table.element, detailBox),
  );
  updateProgress(status, data.progress, actions);
  table.refresh();
  table.restoreScroll(view.scrollTop);
  renderSelected();

  host.onEvent((event) => {
    if (event.type !== 'scanProgress') return;
    let selectedChanged = false;
    const id = selectedId();
    for (const record of event.records) {
      data.records.set(record.id, record);
      if (record.id === id) selectedChanged = true;
    }
    data.progress = event.progress;
    updateProgress(status, event.progress, actions);
    if (event.records.length > 0) table.refresh();
    if (selectedChanged) renderSelected();
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
  const records = new Map<number, StatsRecord>(response.records.map((r) => [r.id, r]));
  showCheckpoint({ summary: response.summary, tensors: response.tensors, records, progress: response.progress });
}

void boot();
