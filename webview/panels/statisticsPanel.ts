/** The Statistics tab: every statistic, the quantile table and the outlier-preserving histogram. */
import type { HistogramSummary } from '../../extension/protocol/messages';
import { renderDetail } from '../views/detail';
import type { DetailPanel } from './panel';

/** Histograms fetched so far, by tensor id; cleared when a rescan starts. */
export const histogramCache = new Map<number, HistogramSummary>();

export const statisticsPanel: DetailPanel = {
  id: 'statistics',
  title: 'Statistics',
  applies: () => true,
  mount(container, row, ctx) {
    const render = (): void => {
      const record = ctx.data.records.get(row.id);
      container.replaceChildren(
        renderDetail(row, record, histogramCache.get(row.id) ?? null, ctx.view(), {
          setScales: (change) => {
            ctx.updateView(change);
            render();
          },
          copy: (text) => void ctx.host.request('copyText', { text }).catch(ctx.report),
        }),
      );
      if (record?.stats && !histogramCache.has(row.id)) {
        ctx.host.request('histogram', { id: row.id }).then((h) => {
          if (!h) return;
          histogramCache.set(row.id, h);
          if (container.isConnected) render();
        }, ctx.report);
      }
    };
    render();
    return { statsChanged: (ids) => ids.has(row.id) && render() };
  },
};
