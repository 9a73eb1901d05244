/** Every detail tab and every model-wide view, in display order. */
import type { CheckpointView, DetailPanel } from './panel';
import { blocksPanel } from './blocksPanel';
import { heatmapPanel } from './heatmapPanel';
import { outliersPanel, outliersView } from './outliersPanel';
import { quantPanel, quantView } from './quantPanel';
import { loraPanel } from './loraPanel';
import { saliencyPanel } from './saliencyPanel';
import { statisticsPanel } from './statisticsPanel';

export const DETAIL_PANELS: readonly DetailPanel[] = [statisticsPanel, blocksPanel, heatmapPanel, outliersPanel, quantPanel, loraPanel, saliencyPanel];

/** Model-wide views shown as tabs beside "Tensors". */
export const CHECKPOINT_VIEWS: readonly CheckpointView[] = [outliersView, quantView];
