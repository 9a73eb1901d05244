/** The Heatmap tab: the selected tensor as a zoomable heatmap, tiles computed next to the file. */
import { lookupDType } from '../../extension/formats/dtypes';
import type { TensorRow } from '../../extension/protocol/messages';
import { elementBytes, matrixOf } from '../lib/heatmapGeometry';
import { Heatmap, type HeatmapSettings } from '../views/heatmap';
import type { DetailPanel, PanelContext } from './panel';

// absmax and symlog: outliers stand out without washing out the bulk of the values.
const DEFAULTS: HeatmapSettings = { reduce: 'absmax', scale: 'symlog' };
let channels = 0;

/** "byte 1,234" of an element, or of the block holding it for packed and block-quantized types. */
export function describeBytes(row: TensorRow, r: number, c: number): string {
  const bytes = elementBytes(row, r, c);
  if (!bytes) return '';
  const where = row.deflated ? ' in the decompressed entry' : '';
  return bytes.groupElements === 1
    ? `byte ${bytes.offset.toLocaleString('en-US')}${where}`
    : `block of ${bytes.groupElements} elements (${bytes.groupBytes} bytes) at byte ${bytes.offset.toLocaleString('en-US')}${where}`;
}

/** A heatmap of a tensor's values, its tiles computed by the host on a channel of its own; settings persist. */
export function tensorHeatmap(row: TensorRow, ctx: PanelContext): Heatmap {
  const channel = `heatmap-${++channels}`;
  const saved = ctx.view().panels.heatmap as Partial<HeatmapSettings> | undefined;
  return new Heatmap({
    matrix: matrixOf(row.shape),
    settings: { ...DEFAULTS, ...saved },
    fetchTile: (query) => ctx.host.request('tile', { ...query, id: row.id, channel }),
    cancel: () => void ctx.host.request('cancelTile', { channel }).catch(() => {}),
    describeElement: (r, c) => describeBytes(row, r, c),
    onSettings: (settings) => ctx.updateView({ panels: { ...ctx.view().panels, heatmap: settings } }),
  });
}

export const heatmapPanel: DetailPanel = {
  id: 'heatmap',
  wide: true,
  title: 'Heatmap',
  applies: (row) => !row.problem && row.params > 0 && lookupDType(row.dtype)?.kind !== 'complex',
  mount(container, row, ctx) {
    const heatmap = tensorHeatmap(row, ctx);
    container.append(heatmap.element);
    return { dispose: () => heatmap.dispose() };
  },
};
