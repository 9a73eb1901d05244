/** The LoRA tab of a factor tensor (lora_A/lora_B, lora_down/up, …): the pair as the delta it stands for. */
import type { LoraDeltaInfo } from '../../extension/protocol/messages';
import { formatShape, formatValue } from '../lib/format';
import { renderDeltaHistogram } from '../views/deltaHistogram';
import { el } from '../views/dom';
import { renderSpectrum, spectrumFacts } from '../views/spectrum';
import type { DetailPanel } from './panel';

const cache = new Map<number, Promise<LoraDeltaInfo | null>>();

export const loraPanel: DetailPanel = {
  id: 'lora',
  title: 'LoRA ΔW',
  applies: (row) => row.loraPair !== undefined,
  mount(container, row, ctx) {
    container.replaceChildren(el('div', { class: 'pending' }, 'Computing ΔW = scale·B·A tile by tile…'));
    let request = cache.get(row.id);
    if (!request) {
      request = ctx.host.request('loraDelta', { id: row.id });
      request.catch(() => cache.delete(row.id));
      cache.set(row.id, request);
    }
    request.then((info) => {
      if (!container.isConnected) return;
      if (!info) {
        container.replaceChildren(el('div', { class: 'hint' }, 'This tensor is not one factor of a complete LoRA pair.'));
        return;
      }
      const histogram = el('div', { class: 'histogram' });
      const spectrum = el('div', { class: 'histogram' });
      const facts: [string, string, string][] = [
        ['module', 'module', info.module], ['convention', 'convention', info.convention], ['rank', 'rank r', String(info.rank)],
        ['shape', 'ΔW shape (out × in)', formatShape(info.shape)], ['scale', 'scale', formatValue(info.scale)], ['scale-source', 'scale from', info.scaleSource],
        ['factors', 'factors', info.factors.join(' · ')], ['frobenius', '‖ΔW‖_F', formatValue(info.frobenius)], ['max-abs', 'max |ΔW|', formatValue(info.maxAbs)],
      ];
      container.replaceChildren(el('section', { class: 'detail-stats', 'data-testid': 'lora-delta' },
        el('table', { class: 'stats' }, ...facts.map(([key, label, value]) => el('tr', {}, el('th', {}, label), el('td', { 'data-testid': 'lora-fact', 'data-key': key }, value)))),
        el('h3', {}, 'ΔW per weight (symmetric log scale)'), histogram,
        el('h3', {}, `Singular values of ΔW (rank ≤ ${info.rank})`), spectrum,
        ...(info.lowRank ? [el('table', { class: 'stats' }, ...spectrumFacts(info.lowRank).map((f) => el('tr', {}, el('th', {}, f.label), el('td', {}, f.value))))] : [])));
      renderDeltaHistogram(histogram, info.histogram, 'lora-histogram');
      if (info.lowRank) renderSpectrum(spectrum, info.lowRank);
    }, (error) => {
      if (container.isConnected) container.replaceChildren(el('div', { class: 'problem' }, String(error)));
      ctx.report(error);
    });
    return {};
  },
};
