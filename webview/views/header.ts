/** The header view (from headers only, at once) and the scan progress bar. */
import type { CheckpointSummary, ScanProgress } from '../../extension/protocol/messages';
import { formatBytes, formatCount } from '../lib/format';
import { el } from './dom';

export function renderSummary(summary: CheckpointSummary): HTMLElement {
  const facts: [string, string][] = [
    ['format', summary.format],
    ['files', String(summary.files.length)],
    ['tensors', summary.tensorCount.toLocaleString('en-US')],
    ['parameters', formatCount(summary.totalParams)],
    ['size', formatBytes(summary.totalBytes)],
  ];
  const dtypes = Object.entries(summary.paramsByDtype)
    .sort((a, b) => b[1] - a[1])
    .map(([dtype, n]) => el('span', { class: 'chip' }, `${dtype} ${formatCount(n)}`));
  const metadata = Object.entries(summary.metadata);
  // GGUF files name their model family; show it beside the format.
  const architecture = summary.metadata['general.architecture'];
  if (architecture !== undefined) facts.splice(1, 0, ['architecture', architecture]);
  const findings = summary.findings.length === 0
    ? []
    : [
        el(
          'section',
          { class: 'findings', 'data-testid': 'findings', role: 'note' },
          el('h2', {}, `Security notes (${summary.findings.length})`),
          el('p', { class: 'findings-lead' }, 'Weightscope read this file without running anything in it. Loading it elsewhere may run code:'),
          el('ul', {}, ...summary.findings.map((f) => el('li', { 'data-testid': 'finding', 'data-code': f.code }, el('code', {}, f.code), ` ${f.message}`))),
        ),
      ];
  const files = el('details', { class: 'files' }, el('summary', {}, summary.files.length === 1 ? summary.files[0]!.path : `${summary.files.length} files`),
    el('ul', {}, ...summary.files.map((f) => el('li', {}, `${f.path} — ${formatBytes(f.bytes)}`))));
  return el(
    'section',
    { class: 'summary', 'data-testid': 'summary' },
    el('h1', {}, summary.title),
    el('div', { class: 'facts' }, ...facts.map(([k, v]) => el('div', { class: 'fact', 'data-fact': k }, el('span', { class: 'label' }, k), el('span', { class: 'value' }, v)))),
    el('div', { class: 'dtypes' }, ...dtypes),
    ...findings,
    files,
    el(
      'details',
      { class: 'metadata', 'data-testid': 'metadata' },
      el('summary', {}, `metadata (${metadata.length})`),
      el('table', {}, ...metadata.map(([k, v]) => el('tr', {}, el('th', {}, k), el('td', {}, metadataValue(v))))),
    ),
  );
}

/** Characters of a metadata value shown at once; longer ones (chat templates, licences) unfold on demand. */
const SHOWN_VALUE_CHARS = 300;

function metadataValue(value: string): Node {
  if (value.length <= SHOWN_VALUE_CHARS) return document.createTextNode(value);
  return el('details', { class: 'long-value' },
    el('summary', {}, `${value.slice(0, SHOWN_VALUE_CHARS)}… (${value.length.toLocaleString('en-US')} characters)`),
    el('pre', {}, value));
}

export function updateProgress(container: HTMLElement, p: ScanProgress, actions: { cancel(): void; rescan(): void }): void {
  container.setAttribute('data-testid', 'scan-status');
  container.setAttribute('data-state', p.state);
  container.setAttribute('data-done-tensors', String(p.doneTensors));
  container.setAttribute('data-total-tensors', String(p.totalTensors));
  const fraction = p.totalBytes > 0 ? p.doneBytes / p.totalBytes : p.state === 'done' ? 1 : 0;
  const text =
    p.state === 'running'
      ? `Scanning: ${p.doneTensors} of ${p.totalTensors} tensors · ${formatBytes(p.doneBytes)} of ${formatBytes(p.totalBytes)}`
      : p.state === 'done'
        ? `Statistics of ${p.totalTensors} tensors (${formatBytes(p.totalBytes)})`
        : p.state === 'cancelled'
          ? `Scan cancelled after ${p.doneTensors} of ${p.totalTensors} tensors`
          : p.state === 'failed'
            ? 'The scan failed'
            : 'Waiting to scan';
  const bar = el('div', { class: 'bar' });
  bar.style.width = `${Math.min(100, fraction * 100).toFixed(1)}%`;
  const cancel = el('vscode-button', { 'data-testid': 'cancel-scan', secondary: '' }, 'Cancel');
  cancel.addEventListener('click', actions.cancel);
  const rescan = el('vscode-button', { 'data-testid': 'rescan', secondary: '' }, 'Rescan');
  rescan.addEventListener('click', actions.rescan);
  if (p.state === 'running') rescan.setAttribute('hidden', '');
  else cancel.setAttribute('hidden', '');
  container.replaceChildren(
    el('div', { class: 'track', role: 'progressbar', 'aria-valuemin': '0', 'aria-valuemax': '100', 'aria-valuenow': String(Math.round(fraction * 100)) }, bar),
    el('span', { class: 'text' }, text),
    cancel,
    rescan,
  );
}
