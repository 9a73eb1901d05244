/** The progress line of a model-wide analysis, with Cancel and Run again. */
import type { AnalysisProgress } from '../../extension/protocol/messages';
import { formatBytes } from '../lib/format';
import { el } from './dom';

export function renderAnalysisProgress(container: HTMLElement, what: string, p: AnalysisProgress, actions: { cancel(): void; rerun(): void }): void {
  container.setAttribute('data-state', p.state);
  const fraction = p.totalBytes > 0 ? p.doneBytes / p.totalBytes : p.state === 'done' ? 1 : 0;
  const text =
    p.state === 'running' ? `${what}: ${p.doneTensors} of ${p.totalTensors} tensors · ${formatBytes(p.doneBytes)} of ${formatBytes(p.totalBytes)}`
      : p.state === 'done' ? `${what} of ${p.totalTensors} tensors`
        : p.state === 'cancelled' ? `${what} cancelled after ${p.doneTensors} of ${p.totalTensors} tensors`
          : p.state === 'failed' ? `${what} failed` : `${what} not run yet`;
  const bar = el('div', { class: 'bar' });
  bar.style.width = `${Math.min(100, fraction * 100).toFixed(1)}%`;
  const cancel = el('vscode-button', { secondary: '', 'data-testid': 'analysis-cancel' }, 'Cancel');
  cancel.addEventListener('click', actions.cancel);
  const rerun = el('vscode-button', { secondary: '', 'data-testid': 'analysis-rerun' }, p.state === 'idle' ? 'Run' : 'Run again');
  rerun.addEventListener('click', actions.rerun);
  if (p.state === 'running') rerun.setAttribute('hidden', '');
  else cancel.setAttribute('hidden', '');
  container.replaceChildren(
    el('div', { class: 'track', role: 'progressbar', 'aria-valuemin': '0', 'aria-valuemax': '100', 'aria-valuenow': String(Math.round(fraction * 100)) }, bar),
    el('span', { class: 'text' }, text),
    cancel,
    rerun,
  );
}
