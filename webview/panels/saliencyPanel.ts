/**
 * The Saliency tab of a weight matrix: which input channels and which weights matter, from the weights alone
 * (magnitude) or joined with the activation statistics imported for the checkpoint (Wanda, AWQ, SmoothQuant with an
 * α slider that previews how activation and weight ranges flatten, OBS-diagonal), or LIFT's principal weights of the
 * rank-r approximation with their overlap with the largest weights and, given a base, the largest changes. Rankings
 * and the per-channel vectors come from the host; the SmoothQuant preview is recomputed here as α moves.
 */
import { lookupDType } from '../../extension/formats/dtypes';
import {
  DEFAULT_RANK, SALIENCY_METHODS, type ActivationsSummary, type LiftDetail, type SaliencyDetail, type SaliencyMethod, type SaliencyOutcome, type TensorRow,
} from '../../extension/protocol/messages';
import { formatValue } from '../lib/format';
import { awqSalientCount, smoothQuantPreview } from '../lib/saliency';
import { renderChannelProfile } from '../views/channelProfile';
import { el } from '../views/dom';
import type { Heatmap } from '../views/heatmap';
import { tensorHeatmap } from './heatmapPanel';
import type { DetailPanel, PanelContext } from './panel';

interface Settings {
  method: SaliencyMethod;
  alpha: number;
  /** LIFT's rank r. */
  rank: number;
  y: 'linear' | 'log';
}

const DEFAULTS: Settings = { method: 'magnitude', alpha: 0.5, rank: DEFAULT_RANK, y: 'log' };
const RANKS = [1, 2, 4, 8, 16, 32, 64];
const ALPHA_STEP = 0.05;
/** Channels marked on the profile and the heatmap (AWQ marks its salient ~1 % instead), and weights ringed. */
const MARKED = 10;
const RINGED = 32;

const LABELS: Record<SaliencyMethod, string> = {
  magnitude: 'Magnitude', lift: 'LIFT', wanda: 'Wanda', awq: 'AWQ', smoothquant: 'SmoothQuant', obs: 'OBS',
};
const FORMULAS: Record<SaliencyMethod, string> = {
  magnitude: 'weight |W_ij| · channel max_i |W_ij|',
  lift: 'weight |(W_r)_ij| of the rank-r approximation · channel max_i |(W_r)_ij|',
  wanda: 'weight |W_ij|·‖X_j‖₂ · channel Σ_i |W_ij|·‖X_j‖₂',
  awq: 'weight |W_ij|·mean|X_j| · channel mean|X_j|; AWQ protects the top 1 % of channels',
  smoothquant: 's_j = max|X_j|^α / max_i|W_ij|^(1−α) · weight |W_ij·s_j| · channel s_j',
  obs: 'weight W_ij²·H_jj with H_jj = Σx_j² · channel Σ_i W_ij²·H_jj',
};
/** What the activation vector holds, per method. */
const ACTIVATION: Partial<Record<SaliencyMethod, string>> = { wanda: '‖X_j‖₂', awq: 'mean|X_j|', smoothquant: 'max|X_j|', obs: 'H_jj' };

/** The statistics imported for this checkpoint, shared by every mounted tab of this webview. */
let summary: Promise<ActivationsSummary | null> | undefined;

function available(method: SaliencyMethod, stats: ActivationsSummary | null): boolean {
  if (method === 'magnitude' || method === 'lift') return true;
  return stats?.methods.includes(method) ?? false;
}

function toggle(testId: string, label: string, value: string, options: { value: string; text: string; disabled?: string }[], pick: (v: string) => void): HTMLElement {
  return el('div', { class: 'toggle', 'data-testid': testId, 'data-value': value, role: 'group', 'aria-label': label },
    ...options.map((o) => {
      const button = el('button', { class: o.value === value ? 'on' : '', 'aria-pressed': String(o.value === value), 'data-option': o.value, ...(o.disabled ? { disabled: '', title: o.disabled } : {}) }, o.text);
      button.addEventListener('click', () => pick(o.value));
      return button;
    }));
}

function score(value: number | null): string {
  return value === null ? '+Inf' : formatValue(value);
}

/** The `k` best channels by score (ties to the lower index), for marking AWQ's salient ~1 %. */
function bestChannels(scores: Float64Array, k: number): number[] {
  return Array.from(scores.keys()).filter((j) => !Number.isNaN(scores[j]!)).sort((a, b) => scores[b]! - scores[a]! || a - b).slice(0, k);
}

function renderSource(stats: ActivationsSummary | null, importStats: () => void): HTMLElement {
  const button = el('vscode-button', { secondary: '', 'data-testid': 'saliency-import' }, stats ? 'Import other statistics…' : 'Import Activation Statistics…');
  button.addEventListener('click', importStats);
  if (!stats) {
    return el('div', { class: 'saliency-source', 'data-testid': 'saliency-source', 'data-state': 'none' },
      el('span', { class: 'hint' }, 'Wanda, AWQ, SmoothQuant and OBS join the weights with activation statistics you already have: a llama.cpp imatrix (.gguf or .dat), SmoothQuant act_scales (.pt), or per-channel statistics in safetensors or .npz.'),
      button);
  }
  const name = stats.file.split(/[\\/]/).pop() ?? stats.file;
  const lists: HTMLElement[] = [];
  if (stats.unmatched.length > 0) {
    const shown = stats.unmatched.slice(0, 200);
    lists.push(el('details', { 'data-testid': 'saliency-unmatched', 'data-count': String(stats.unmatched.length) },
      el('summary', {}, `${stats.unmatched.length} ${stats.unmatched.length === 1 ? 'entry matches' : 'entries match'} no weight`),
      el('ul', { class: 'name-list' }, ...shown.map((n) => el('li', {}, n)),
        ...(stats.unmatched.length > shown.length ? [el('li', { class: 'hint' }, `… and ${stats.unmatched.length - shown.length} more`)] : []))));
  }
  if (stats.mismatched.length > 0) {
    lists.push(el('details', { 'data-testid': 'saliency-mismatched' },
      el('summary', {}, `${stats.mismatched.length} matched ${stats.mismatched.length === 1 ? 'weight does' : 'weights do'} not fit its statistics`),
      el('ul', { class: 'name-list' }, ...stats.mismatched.slice(0, 200).map((m) => el('li', {}, `${m.name}: ${m.reason}`)))));
  }
  if (stats.notes.length > 0) lists.push(el('ul', { class: 'name-list notes' }, ...stats.notes.map((n) => el('li', {}, n))));
  return el('div', { class: 'saliency-source', 'data-testid': 'saliency-source', 'data-state': 'imported', title: stats.file },
    el('span', {}, el('strong', {}, name), ` · ${stats.format} · ${stats.entries.toLocaleString('en-US')} entries · statistics for ${stats.matched.toLocaleString('en-US')} weights`),
    button, ...lists);
}

function rankTable(testId: string, head: string[], rows: { attrs: Record<string, string>; cells: string[] }[]): HTMLElement {
  return el('table', { class: 'ranking', 'data-testid': testId },
    el('tr', {}, ...head.map((h) => el('th', {}, h))),
    ...rows.map((r) => el('tr', r.attrs, ...r.cells.map((c) => el('td', {}, c)))));
}

/** The channels a method singles out: AWQ's salient ~1 %, else the top MARKED. */
function markedChannels(d: SaliencyDetail): number[] {
  return d.method === 'awq' ? bestChannels(d.channelScores, awqSalientCount(d.cols)) : d.topChannels.slice(0, MARKED).map((c) => c.index);
}

/** Where the salient channels meet the weights' own outlier channels. */
function renderOverlap(d: SaliencyDetail, marked: readonly number[]): HTMLElement {
  const outliers = d.outlierChannels;
  if (outliers === null) return el('p', { class: 'muted', 'data-testid': 'saliency-overlap' }, 'The outlier analysis of this weight is not available.');
  if (outliers.length === 0) {
    return el('p', { class: 'facts-line', 'data-testid': 'saliency-overlap', 'data-shared': '0', 'data-outliers': '0' },
      'No input channel stands out in the weights themselves (absmax ≥ 3 × the median): any salient channel here comes from the method, not from the weights.');
  }
  const salient = new Set(marked);
  const shared = outliers.filter((j) => salient.has(j));
  return el('p', { class: 'facts-line', 'data-testid': 'saliency-overlap', 'data-shared': String(shared.length), 'data-outliers': String(outliers.length) },
    `Outlier channels of the weights (absmax ≥ 3 × the median): ${outliers.join(', ')}. `,
    el('strong', {}, `${shared.length} of ${outliers.length}`),
    ` among the ${marked.length} most salient${shared.length > 0 ? ` (${shared.join(', ')})` : ''}.`);
}

/** LIFT: how many principal weights are also among the largest weights and, given a base, the largest changes. */
function renderLift(lift: LiftDetail, chooseBase: () => void): HTMLElement {
  const o = lift.overlaps;
  const share = (testId: string, label: string, count: number | null | undefined, otherwise: string): HTMLElement => {
    const known = o && o.principal > 0 && count !== null && count !== undefined;
    return el('tr', { 'data-testid': testId, 'data-count': known ? String(count) : '', 'data-fraction': known ? String(count / o.principal) : '' },
      el('th', {}, label),
      el('td', {}, known ? el('strong', {}, `${((100 * count) / o.principal).toFixed(1)} %`) : otherwise),
      el('td', { class: 'muted' }, known ? `${count.toLocaleString('en-US')} of ${o.principal.toLocaleString('en-US')}` : ''));
  };
  const baseName = lift.base?.split(/[\\/]/).pop() ?? '';
  const button = el('vscode-button', { secondary: '', 'data-testid': 'lift-choose-base' }, lift.base ? 'Other Base…' : 'Choose Base…');
  button.addEventListener('click', chooseBase);
  const noDelta = lift.base === null ? 'choose the base this checkpoint was fine-tuned from' : lift.baseProblem ?? '—';
  return el('div', { class: 'lift-overlaps', 'data-testid': 'lift-overlaps', 'data-principal': String(o?.principal ?? '') },
    el('div', { class: 'section-title' }, `Principal weights: the top 5 % of |W_r| (r = ${lift.rank}), ${o ? o.principal.toLocaleString('en-US') : '—'} weights`),
    el('table', { class: 'flatness' },
      share('lift-overlap-magnitude', 'also in the top 5 % by |W|', o?.withMagnitude, '—'),
      share('lift-overlap-delta', 'also in the top 5 % by |W − W_base|', o?.withDelta, noDelta)),
    el('div', { class: 'hint' }, 'The first share says how much the principal weights are simply the largest ones; the second, whether the fine-tune changed them or landed elsewhere.'),
    el('div', { class: 'lift-base', title: lift.base ?? '' }, lift.base ? el('span', {}, 'base: ', el('strong', {}, baseName), ' ') : '', button));
}

function renderDetail(d: SaliencyDetail, settings: Settings, alphaPreview: HTMLElement, heatmap: HTMLElement, chooseBase: () => void): HTMLElement {
  const activation = ACTIVATION[d.method];
  const marked = markedChannels(d);
  const outliers = new Set(d.outlierChannels ?? []);
  const channelTable = rankTable('saliency-top-channels', ['#', 'channel', 'score', ...(activation && d.activations ? [activation] : []), ''],
    d.topChannels.map((c, i) => ({
      attrs: { 'data-testid': 'saliency-channel', 'data-index': String(c.index), 'data-score': String(c.score) },
      cells: [String(i + 1), String(c.index), score(c.score), ...(activation && d.activations ? [formatValue(d.activations[c.index])] : []), outliers.has(c.index) ? 'outlier' : ''],
    })));
  const weightTable = rankTable('saliency-top-weights', ['#', 'row', 'col', 'score'],
    d.topWeights.map((w, i) => ({
      attrs: { 'data-testid': 'saliency-weight', 'data-row': String(w.row), 'data-col': String(w.col), 'data-score': String(w.score) },
      cells: [String(i + 1), String(w.row), String(w.col), score(w.score)],
    })));
  const salient = d.method === 'awq' ? ` · the ${marked.length} salient channels (top 1 %) are marked` : ` · the top ${marked.length} are marked`;
  return el('div', { class: 'saliency-detail', 'data-testid': 'saliency-detail', 'data-method': d.method },
    el('div', { class: 'where' }, `${FORMULAS[d.method]}${d.entry ? ` · statistics of "${d.entry}"` : ''}`),
    alphaPreview,
    el('div', { class: 'section-title' }, `Channel score per input channel (${d.cols.toLocaleString('en-US')} columns)${salient}`),
    renderChannelProfile('saliency-profile', [{ label: 'channel score', kind: 'score', values: d.channelScores }], marked, settings.y),
    renderOverlap(d, marked),
    d.lift ? renderLift(d.lift, chooseBase) : '',
    el('div', { class: 'tables' },
      el('div', {}, el('div', { class: 'section-title' }, 'Top input channels'), channelTable),
      el('div', {}, el('div', { class: 'section-title' }, 'Top weights'), weightTable)),
    el('div', { class: 'section-title' }, `Where they sit in the weights: marked channels shaded, the top ${Math.min(RINGED, d.topWeights.length)} weights ringed`),
    heatmap);
}

/** SmoothQuant: the per-channel ranges of activations and weights before and after migrating with strength α. */
function renderAlphaPreview(d: SaliencyDetail, alpha: number, y: Settings['y']): HTMLElement {
  if (d.method !== 'smoothquant' || !d.activations || !d.columnAbsmax) return el('div');
  const p = smoothQuantPreview(d.activations, d.columnAbsmax, alpha);
  const spread = (v: number | null): string => (v === null ? '—' : `${formatValue(v)}×`);
  const facts = el('table', { class: 'flatness', 'data-testid': 'smoothquant-spread', 'data-alpha': String(alpha), title: 'the largest channel range over the median one: 1× is flat' },
    el('tr', {}, el('th', {}, 'largest / median range'), el('th', {}, 'before'), el('th', {}, `α = ${alpha.toFixed(2)}`)),
    el('tr', { 'data-key': 'activations' }, el('th', {}, 'activations max|X_j|'), el('td', {}, spread(p.spread.activationsBefore)), el('td', { 'data-testid': 'spread-activations-after' }, spread(p.spread.activationsAfter))),
    el('tr', { 'data-key': 'weights' }, el('th', {}, 'weights max_i|W_ij|'), el('td', {}, spread(p.spread.weightsBefore)), el('td', { 'data-testid': 'spread-weights-after' }, spread(p.spread.weightsAfter))));
  return el('div', { class: 'alpha-preview' },
    el('div', { class: 'section-title' }, 'Channel ranges before (solid) and after migration (dashed)'),
    renderChannelProfile('smoothquant-ranges', [
      { label: 'max|X_j|', kind: 'act-before', values: d.activations },
      { label: 'max|X_j| / s_j', kind: 'act-after', values: p.activationsAfter },
      { label: 'max|W_j|', kind: 'w-before', values: d.columnAbsmax },
      { label: 'max|W_j| · s_j', kind: 'w-after', values: p.weightsAfter },
    ], [], y),
    el('div', { class: 'tables' }, facts));
}

export const saliencyPanel: DetailPanel = {
  id: 'saliency',
  wide: true,
  title: 'Saliency',
  applies: (row: TensorRow) => {
    const kind = lookupDType(row.dtype)?.kind;
    return !row.problem && row.shape.length >= 2 && row.params > 0 && (kind === 'float' || kind === 'quant');
  },
  mount(container, row, ctx: PanelContext) {
    let settings: Settings = { ...DEFAULTS, ...(ctx.view().panels.saliency as Partial<Settings> | undefined) };
    let stats: ActivationsSummary | null = null;
    let detail: SaliencyDetail | null = null;
    let generation = 0;
    let disposed = false;
    let heatmap: Heatmap | undefined;
    const heatmapBox = el('div', { class: 'saliency-heatmap', 'data-testid': 'saliency-heatmap' });
    const source = el('div');
    const controls = el('div', { class: 'hist-controls saliency-controls' });
    const preview = el('div');
    const body = el('div', { class: 'saliency-body' });
    container.replaceChildren(el('section', { class: 'saliency-panel', 'data-testid': 'saliency-panel' }, source, controls, body));

    const save = (change: Partial<Settings>): void => {
      settings = { ...settings, ...change };
      ctx.updateView({ panels: { ...ctx.view().panels, saliency: settings } });
    };
    const method = (): SaliencyMethod => (available(settings.method, stats) ? settings.method : 'magnitude');
    const importStats = (): void => {
      ctx.host.request('importActivations', {}).catch(ctx.report);
    };
    const chooseBase = (): void => {
      ctx.host.request('chooseSaliencyBase', {}).catch(ctx.report);
    };

    const renderControls = (): void => {
      const alpha = el('input', {
        type: 'range', min: '0', max: '1', step: String(ALPHA_STEP), value: String(settings.alpha), 'data-testid': 'saliency-alpha', 'aria-label': 'SmoothQuant migration strength α',
      }) as HTMLInputElement;
      const alphaText = el('span', { class: 'alpha-value', 'data-testid': 'saliency-alpha-value' }, `α = ${settings.alpha.toFixed(2)}`);
      alpha.addEventListener('input', () => {
        settings = { ...settings, alpha: Number(alpha.value) };
        alphaText.textContent = `α = ${settings.alpha.toFixed(2)}`;
        if (detail) preview.replaceChildren(renderAlphaPreview(detail, settings.alpha, settings.y));
      });
      alpha.addEventListener('change', () => {
        save({ alpha: Number(alpha.value) });
        load();
      });
      controls.replaceChildren(
        toggle('saliency-method', 'saliency method', method(), SALIENCY_METHODS.map((m) => ({
          value: m, text: LABELS[m],
          ...(available(m, stats) ? {} : { disabled: `${LABELS[m]} needs imported activation statistics holding ${ACTIVATION[m]}` }),
        })), (m) => {
          save({ method: m as SaliencyMethod });
          renderControls();
          load();
        }),
        toggle('saliency-yscale', 'y axis', settings.y, [{ value: 'log', text: 'log y' }, { value: 'linear', text: 'linear y' }], (v) => {
          save({ y: v as Settings['y'] });
          renderControls();
          if (detail) show({ detail, error: null });
        }),
        ...(method() === 'smoothquant' ? [el('label', { class: 'alpha' }, alpha, alphaText)] : []),
        ...(method() === 'lift' ? [toggle('saliency-rank', 'LIFT rank r', String(settings.rank), RANKS.map((r) => ({ value: String(r), text: `r = ${r}` })), (r) => {
          save({ rank: Number(r) });
          renderControls();
          load();
        })] : []),
      );
    };

    const show = (outcome: SaliencyOutcome): void => {
      detail = outcome.detail;
      if (!outcome.detail) {
        body.replaceChildren(el('div', { class: 'problem', 'data-testid': 'saliency-problem' }, el('strong', {}, outcome.error?.code ?? 'ERROR'), ` ${outcome.error?.message ?? ''}`));
        return;
      }
      preview.replaceChildren(renderAlphaPreview(outcome.detail, settings.alpha, settings.y));
      if (!heatmap) {
        heatmap = tensorHeatmap(row, ctx);
        heatmapBox.append(heatmap.element);
      }
      heatmap.setOverlay({ columns: markedChannels(outcome.detail), weights: outcome.detail.topWeights.slice(0, RINGED) });
      body.replaceChildren(renderDetail(outcome.detail, settings, preview, heatmapBox, chooseBase));
    };

    const load = (): void => {
      const mine = ++generation;
      body.replaceChildren(el('div', { class: 'pending', 'data-testid': 'saliency-pending' }, 'Scoring the weights…'));
      ctx.host.request('saliency', { id: row.id, method: method(), alpha: settings.alpha, rank: settings.rank }).then((outcome) => {
        if (!disposed && mine === generation) show(outcome);
      }, ctx.report);
    };

    const refresh = (next: ActivationsSummary | null): void => {
      stats = next;
      source.replaceChildren(renderSource(stats, importStats));
      renderControls();
      load();
    };
    const unsubscribe = ctx.host.onEvent((event) => {
      if (event.type === 'saliencyBase' && method() === 'lift' && !disposed) load();
      if (event.type !== 'activations') return;
      summary = Promise.resolve(event.summary);
      if (!disposed) refresh(event.summary);
    });
    summary ??= ctx.host.request('activations', {});
    summary.then((s) => !disposed && refresh(s), (error: unknown) => {
      summary = undefined;
      ctx.report(error);
    });
    return {
      dispose: () => {
        disposed = true;
        unsubscribe();
        heatmap?.dispose();
      },
    };
  },
};
