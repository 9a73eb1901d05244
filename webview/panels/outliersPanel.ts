/** The Outliers tab (one tensor) and the model-wide Outliers view (ranking, super weights, cross-layer channels). */
import { lookupDType } from '../../extension/formats/dtypes';
import type { ChannelInfo, OutlierRecord, OutlierSummary, OutlierView, TensorRow } from '../../extension/protocol/messages';
import { formatShape, formatValue } from '../lib/format';
import { matrixOf } from '../lib/heatmapGeometry';
import { renderAnalysisProgress } from '../views/analysisProgress';
import { dataTable } from '../views/dataTable';
import { el } from '../views/dom';
import type { CheckpointView, DetailPanel, PanelContext } from './panel';

/** Tensors with an outlier analysis: float values with at least one dimension. */
export function hasOutliers(row: TensorRow): boolean {
  const kind = lookupDType(row.dtype)?.kind;
  return row.shape.length >= 1 && row.params > 0 && (kind === 'float' || kind === 'quant');
}

const ratio = (value: number | null): string => (value === null ? '—' : `${formatValue(value)}×`);

function channelTable(testId: string, title: string, channels: ChannelInfo[], median: number | null): HTMLElement {
  return dataTable(testId, title, ['index', 'absmax', '× median', 'RMS', 'kurtosis'],
    channels.map((c) => el('tr', { 'data-index': String(c.index) },
      el('td', {}, String(c.index)), el('td', {}, formatValue(c.absmax)), el('td', {}, median ? ratio(c.absmax / median) : '—'),
      el('td', {}, formatValue(c.rms)), el('td', {}, formatValue(c.kurtosis)))));
}

/** The outlier analysis of one tensor as tables. */
export function renderOutlierSummary(row: TensorRow, s: OutlierSummary): HTMLElement {
  const is1d = row.shape.length < 2;
  return el('section', { class: 'outliers-detail' },
    el('p', { class: 'facts-line', 'data-testid': 'outlier-ratios', 'data-col-ratio': String(s.colRatio), 'data-row-ratio': String(s.rowRatio) },
      is1d ? `Largest |value| / median |value|: ${ratio(s.colRatio)}` : `Channel outlier ratio (max / median absmax): input channels ${ratio(s.colRatio)}, output channels ${ratio(s.rowRatio)}`,
      ` · mean |w| ${formatValue(s.meanAbs)}, std |w| ${formatValue(s.stdAbs)}`),
    el('div', { class: 'tables' },
      channelTable('outlier-cols', is1d ? 'Largest elements' : 'Input channels (columns)', s.topCols, s.colMedian),
      ...(is1d ? [] : [channelTable('outlier-rows', 'Output channels (rows)', s.topRows, s.rowMedian)])),
    dataTable('outlier-scalars', 'Largest scalars (z = (|w| − mean |w|) / std |w|)', ['row', 'column', 'value', 'z'],
      s.topScalars.map((x) => el('tr', { 'data-row': String(x.row), 'data-col': String(x.col), 'data-value': String(x.value) },
        el('td', {}, String(x.row)), el('td', {}, String(x.col)), el('td', {}, formatValue(x.value)), el('td', {}, formatValue(x.z))))),
  );
}

function problemLine(record: OutlierRecord): HTMLElement {
  return el('div', { class: 'problem' }, el('strong', {}, record.error?.code ?? ''), ` ${record.error?.message ?? ''}`);
}

export const outliersPanel: DetailPanel = {
  id: 'outliers',
  title: 'Outliers',
  applies: (row) => hasOutliers(row),
  mount(container, row, ctx) {
    container.replaceChildren(el('div', { class: 'pending' }, 'Looking for outliers…'));
    ctx.host.request('outliers', { id: row.id }).then((record) => {
      if (!container.isConnected) return;
      container.replaceChildren(record.summary ? renderOutlierSummary(row, record.summary) : problemLine(record));
    }, ctx.report);
    return {};
  },
};

/** A tensor name that opens the tensor's detail tab when clicked. */
function tensorLink(ctx: PanelContext, name: string, tab: string): HTMLElement {
  const link = el('a', { href: '#', class: 'tensor-link', 'data-name': name, title: name }, name);
  link.addEventListener('click', (event) => {
    event.preventDefault();
    ctx.showTensor(name, tab);
  });
  return link;
}

function renderOutlierView(container: HTMLElement, ctx: PanelContext, view: OutlierView): void {
  const rows = ctx.data.tensors;
  const summaries = view.records.filter((r) => r.summary && rows[r.id]!.shape.length >= 2);
  summaries.sort((a, b) => (b.summary!.colRatio ?? -1) - (a.summary!.colRatio ?? -1) || a.id - b.id);
  const superWeights = dataTable('super-weights', 'Super-weight candidates: in down projections, a lone scalar among the 4 largest, with z ≥ 20 and twice the 8th largest', ['tensor', 'row', 'column', 'value', 'z'], [
    ...(view.superWeights.length === 0 ? [el('tr', {}, el('td', { colspan: '5', class: 'muted' }, view.progress.state === 'done' ? 'none found' : 'none found yet'))] : []),
    ...view.superWeights.map((w) => el('tr', { 'data-tensor': rows[w.id]!.name, 'data-row': String(w.row), 'data-col': String(w.col), 'data-value': String(w.value) },
      el('td', {}, tensorLink(ctx, rows[w.id]!.name, 'outliers')), el('td', {}, String(w.row)), el('td', {}, String(w.col)),
      el('td', {}, formatValue(w.value)), el('td', {}, formatValue(w.z)))),
  ]);
  const cross = view.crossLayer;
  // Channels echoed in several tensors are the story; those standing out in one tensor only are counted.
  const shared = cross.channels.filter((c) => c.echoes.length > 1);
  const lone = cross.channels.length - shared.length;
  const shown = (shared.length > 0 ? shared : cross.channels).slice(0, 16);
  const strip = crossLayerStrip(rows, cross.width);
  const crossTable = dataTable('cross-layer', `The same channel index standing out across tensors of width ${cross.width.toLocaleString('en-US')} (absmax ≥ 3 × the median channel)`,
    ['channel', 'tensors', 'largest × median', 'across the model', 'where'],
    shown.map((c) => {
      const top = Math.max(...c.echoes.map((e) => e.ratio));
      const kinds = [...new Set(c.echoes.map((e) => shortKind(rows[e.id]!.name)))];
      return el('tr', { 'data-channel': String(c.index), 'data-count': String(c.echoes.length) },
        el('td', {}, String(c.index)), el('td', {}, String(c.echoes.length)), el('td', {}, ratio(top)), el('td', {}, strip(c.echoes)),
        el('td', { class: 'wrap', title: c.echoes.map((e) => `${rows[e.id]!.name} (${e.axis}) ${formatValue(e.ratio)}×`).join('\n') }, kinds.join(', ')));
    }));
  if (shared.length > 0 && lone > 0) crossTable.append(el('p', { class: 'muted' }, `${lone} more channel(s) stand out in a single tensor.`));
  const ranking = dataTable('outlier-ranking', 'Matrices ranked by input-channel outlier ratio (max / median channel absmax)',
    ['tensor', 'shape', 'input ×', 'output ×', 'top input channels', 'largest scalar'],
    summaries.map((r) => {
      const s = r.summary!;
      const scalar = s.topScalars[0];
      return el('tr', { 'data-name': rows[r.id]!.name, 'data-col-ratio': String(s.colRatio) },
        el('td', {}, tensorLink(ctx, rows[r.id]!.name, 'outliers')), el('td', {}, formatShape(rows[r.id]!.shape)),
        el('td', {}, ratio(s.colRatio)), el('td', {}, ratio(s.rowRatio)), el('td', {}, s.topCols.slice(0, 4).map((c) => c.index).join(', ')),
        el('td', {}, scalar ? `${formatValue(scalar.value)} at [${scalar.row}, ${scalar.col}], z ${formatValue(scalar.z)}` : '—'));
    }), { class: 'ranking' });
  const skipped = view.records.filter((r) => r.error);
  container.replaceChildren(superWeights, crossTable, ranking,
    ...(skipped.length ? [el('details', { class: 'skipped' }, el('summary', {}, `${skipped.length} tensor(s) not analysed`),
      el('ul', {}, ...skipped.map((r) => el('li', {}, `${rows[r.id]!.name}: ${r.error!.code} ${r.error!.message}`))))] : []));
}

/**
 * A strip with one square per tensor of the model width, in checkpoint order (embeddings, then layer by layer): the
 * squares where the channel stands out are filled, more strongly the further it stands out.
 */
function crossLayerStrip(rows: readonly TensorRow[], width: number): (echoes: { id: number; ratio: number }[]) => SVGSVGElement {
  const columns = rows.filter((r) => r.params > 0 && (matrixOf(r.shape).cols === width || (r.shape.length >= 2 && r.shape[0] === width)));
  const size = Math.max(3, Math.min(8, Math.floor(320 / Math.max(1, columns.length))));
  return (echoes) => {
    const byId = new Map(echoes.map((e) => [e.id, e.ratio]));
    const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
    svg.setAttribute('class', 'echo-strip');
    svg.setAttribute('width', String(columns.length * size));
    svg.setAttribute('height', String(size + 2));
    columns.forEach((r, k) => {
      const square = document.createElementNS('http://www.w3.org/2000/svg', 'rect');
      const found = byId.get(r.id);
      square.setAttribute('x', String(k * size));
      square.setAttribute('y', '1');
      square.setAttribute('width', String(size - 1));
      square.setAttribute('height', String(size));
      square.setAttribute('class', found === undefined ? 'echo none' : 'echo');
      if (found !== undefined) square.setAttribute('fill-opacity', String(Math.min(1, 0.35 + Math.log10(found) / 2)));
      const title = document.createElementNS('http://www.w3.org/2000/svg', 'title');
      title.textContent = found === undefined ? r.name : `${r.name}: ${formatValue(found)}×`;
      square.append(title);
      svg.append(square);
    });
    return svg;
  };
}

/** "layers.3.mlp.down_proj" → "mlp.down_proj": what kind of tensor, without the layer number. */
function shortKind(name: string): string {
  return name.replace(/\.weight$/, '').replace(/^.*?(\d+)\./, '') || name;
}

export const outliersView: CheckpointView = {
  id: 'outliers',
  title: 'Outliers',
  applies: (ctx) => ctx.data.tensors.some(hasOutliers),
  mount(container, ctx) {
    const progress = el('div', { class: 'scan-status analysis-progress', 'data-testid': 'outlier-progress' });
    const body = el('div', { class: 'analysis-body' });
    container.append(progress, body);
    const refresh = (): void => {
      ctx.host.request('outlierView', {}).then((view) => {
        if (!container.isConnected) return;
        renderAnalysisProgress(progress, 'Outlier analysis', view.progress, {
          cancel: () => void ctx.host.request('cancelAnalysis', { kind: 'outliers' }).catch(ctx.report),
          rerun: () => void ctx.host.request('runAnalysis', { kind: 'outliers', restart: true }).catch(ctx.report),
        });
        renderOutlierView(body, ctx, view);
      }, ctx.report);
    };
    const stop = ctx.host.onEvent((event) => {
      if (event.type === 'analysisProgress' && event.kind === 'outliers') refresh();
    });
    ctx.host.request('runAnalysis', { kind: 'outliers' }).then(refresh, ctx.report);
    return { dispose: stop };
  },
};
